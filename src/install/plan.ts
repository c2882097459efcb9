/**
 * `hostcheck install` and `uninstall` as data: a list of steps computed from the options and a
 * look at the target, then executed (execute.ts) or printed for --dry-run (render.ts).
 * Uninstall's steps come from the manifest install wrote, so it removes exactly what install did.
 */
import { dirname, posix } from 'node:path';
import { parseConfig } from '../model/config.js';
import { agentUnit, AGENT_STATE_DIR, AGENT_UNIT, AGENT_USER, CONFIG_DIR, CONFIG_FILE } from './units.js';

export const MANIFEST_FILE = `${CONFIG_DIR}/install-manifest.json`;
export const UNIT_DIR = '/etc/systemd/system';
const WANTS_DIR = `${UNIT_DIR}/multi-user.target.wants`;

export type Step =
  | { kind: 'user'; name: string; home: string }
  | { kind: 'mkdir'; path: string; mode: number; owner: string }
  | { kind: 'write'; path: string; content: string; mode: number; owner: string; secretFrom?: string; previous?: string }
  | { kind: 'command'; argv: string[] }
  | { kind: 'manifest'; path: string }
  | { kind: 'restore'; path: string; content: string }
  | { kind: 'remove'; path: string }
  | { kind: 'rmdir'; path: string }
  | { kind: 'userdel'; name: string }
  | { kind: 'purge'; path: string };

/** What install did, kept in MANIFEST_FILE (paths are inside the root). */
export interface Manifest {
  manifestVersion: 1;
  installedAt: string;
  root?: string;
  /** Files written, in order; `previous` is what was there before the first install. */
  files: { path: string; previous?: string }[];
  /** Directories install created, parents first. */
  dirs: string[];
  /** The agent's user, when install created it. */
  createdUser?: string;
}

/** A look at the target system: the only impure input of the planners. */
export interface TargetProbe {
  exists(path: string): boolean;
  read(path: string): string | undefined;
  userExists(name: string): boolean;
}

/** A file the user pointed at (--ca, --token-file, --enrol-token-file): where from, and its text. */
export interface SourceFile {
  source: string;
  content: string;
}

export interface InstallOptions {
  root?: string;
  server?: string;
  ca?: SourceFile;
  tokenFile?: SourceFile;
  enrolTokenFile?: SourceFile;
  /** The hostcheck command the unit runs. */
  exec: string[];
  docker?: boolean;
}

export class InstallError extends Error {
  override name = 'InstallError';
}

/** `systemctl` for a live system, or `systemctl --root=DIR` for an image (no start, no reload). */
function systemctl(root: string | undefined, ...args: string[]): Step {
  return { kind: 'command', argv: root ? ['systemctl', `--root=${root}`, ...args] : ['systemctl', ...args] };
}

/** mkdir -p as steps: each missing ancestor, parents first. */
function mkdirs(path: string, probe: TargetProbe, planned: Set<string>, mode = 0o755, owner = 'root'): Step[] {
  const missing: string[] = [];
  for (let p = path; p !== '/' && !probe.exists(p) && !planned.has(p); p = dirname(p)) missing.unshift(p);
  return missing.map((p) => {
    planned.add(p);
    return { kind: 'mkdir', path: p, mode: p === path ? mode : 0o755, owner: p === path ? owner : 'root' };
  });
}

function parseExisting(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  try {
    const raw: unknown = JSON.parse(text);
    if (raw && typeof raw === 'object' && !Array.isArray(raw)) return raw as Record<string, unknown>;
  } catch {
    // fall through: an unreadable existing config is an error below
  }
  throw new InstallError(`${CONFIG_FILE} exists and is not a JSON object; fix or remove it first`);
}

/** The config install writes: the existing one (peers, remotes…) with the agent's fields set. */
export function agentConfig(opts: InstallOptions, existingText: string | undefined): string {
  const merged: Record<string, unknown> = { ...parseExisting(existingText) };
  if (opts.server) merged.server = opts.server;
  if (!merged.server) throw new InstallError('no server: give --server URL (ws://, wss:// or ws+unix:///) or set "server" in the existing config');
  if (opts.ca) merged.ca = `${CONFIG_DIR}/ca.pem`;
  if (opts.enrolTokenFile) merged.enrolTokenFile = `${CONFIG_DIR}/enrol-token`;
  merged.tokenFile = `${AGENT_STATE_DIR}/token`;
  merged.stateDir = AGENT_STATE_DIR;
  const { errors } = parseConfig(merged);
  if (errors.length > 0) throw new InstallError(`the config would be invalid:\n  ${errors.join('\n  ')}`);
  return JSON.stringify(merged, null, 2) + '\n';
}

/** Every step of an install, in order. */
export function installPlan(opts: InstallOptions, probe: TargetProbe): Step[] {
  const config = agentConfig(opts, probe.read(CONFIG_FILE));
  const planned = new Set<string>();
  const write = (path: string, content: string, mode: number, owner = 'root', secretFrom?: string): Step[] => [
    ...mkdirs(posix.dirname(path), probe, planned),
    { kind: 'write', path, content, mode, owner, secretFrom, previous: probe.read(path) },
  ];
  const steps: Step[] = [];
  if (!probe.userExists(AGENT_USER)) steps.push({ kind: 'user', name: AGENT_USER, home: AGENT_STATE_DIR });
  steps.push(...mkdirs(CONFIG_DIR, probe, planned));
  steps.push(...write(CONFIG_FILE, config, 0o644));
  if (opts.ca) steps.push(...write(`${CONFIG_DIR}/ca.pem`, opts.ca.content, 0o644, 'root', opts.ca.source));
  // Secrets: readable by the agent's group only (root owns them; the agent cannot change them).
  if (opts.enrolTokenFile) steps.push(...write(`${CONFIG_DIR}/enrol-token`, opts.enrolTokenFile.content, 0o640, `root:${AGENT_USER}`, opts.enrolTokenFile.source));
  if (opts.tokenFile) {
    steps.push(...mkdirs(AGENT_STATE_DIR, probe, planned, 0o700, `${AGENT_USER}:${AGENT_USER}`));
    steps.push(...write(`${AGENT_STATE_DIR}/token`, opts.tokenFile.content, 0o600, `${AGENT_USER}:${AGENT_USER}`, opts.tokenFile.source));
  }
  steps.push(...write(`${UNIT_DIR}/${AGENT_UNIT}`, agentUnit({ exec: opts.exec, docker: opts.docker }), 0o644));
  // systemctl enable makes this directory when missing; making it here puts it in the manifest.
  steps.push(...mkdirs(WANTS_DIR, probe, planned));
  if (opts.root) {
    steps.push(systemctl(opts.root, 'enable', AGENT_UNIT));
  } else {
    steps.push(systemctl(undefined, 'daemon-reload'));
    steps.push(systemctl(undefined, 'enable', '--now', AGENT_UNIT));
  }
  steps.push({ kind: 'manifest', path: MANIFEST_FILE });
  return steps;
}

/** The manifest of the steps that ran, merged with an earlier install's (the first `previous` wins). */
export function manifestOf(done: Step[], root: string | undefined, earlier: Manifest | undefined, now: Date): Manifest {
  const files = [...(earlier?.files ?? [])];
  for (const s of done) {
    if ((s.kind !== 'write' && s.kind !== 'manifest') || files.some((f) => f.path === s.path)) continue;
    files.push(s.kind === 'write' && s.previous !== undefined ? { path: s.path, previous: s.previous } : { path: s.path });
  }
  const dirs = [...(earlier?.dirs ?? [])];
  for (const s of done) if (s.kind === 'mkdir' && !dirs.includes(s.path)) dirs.push(s.path);
  const created = earlier?.createdUser ?? done.find((s): s is Extract<Step, { kind: 'user' }> => s.kind === 'user')?.name;
  return { manifestVersion: 1, installedAt: now.toISOString(), ...(root ? { root } : {}), files, dirs, ...(created ? { createdUser: created } : {}) };
}

export function parseManifest(text: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch (err) {
    throw new InstallError(`${MANIFEST_FILE} is not valid JSON`, { cause: err });
  }
  if (m?.manifestVersion !== 1 || !Array.isArray(m.files) || !Array.isArray(m.dirs)) throw new InstallError(`${MANIFEST_FILE} is not a hostcheck install manifest`);
  return m;
}

/** Every step of an uninstall: stop and disable, then undo the manifest in reverse. */
export function uninstallPlan(manifest: Manifest, root: string | undefined, purge = false): Step[] {
  const steps: Step[] = [root ? systemctl(root, 'disable', AGENT_UNIT) : systemctl(undefined, 'disable', '--now', AGENT_UNIT)];
  for (const f of [...manifest.files].reverse()) steps.push(f.previous === undefined ? { kind: 'remove', path: f.path } : { kind: 'restore', path: f.path, content: f.previous });
  if (purge) steps.push({ kind: 'purge', path: AGENT_STATE_DIR });
  for (const d of [...manifest.dirs].reverse()) steps.push({ kind: 'rmdir', path: d });
  if (manifest.createdUser) steps.push({ kind: 'userdel', name: manifest.createdUser });
  if (!root) steps.push(systemctl(undefined, 'daemon-reload'));
  return steps;
}
