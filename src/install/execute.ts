/**
 * The thin edge of install/uninstall: looks at the target (a live system, or a root directory with
 * --root) and runs the planned steps — file writes, useradd/userdel, systemctl.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { InstallError, manifestOf, type Manifest, type Step, type TargetProbe } from './plan.js';

/** Where a target path lives on this machine: itself, or inside --root. */
export function hostPath(root: string | undefined, path: string): string {
  return root ? join(root, path) : path;
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function readOr(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** The id of NAME in an /etc/passwd- or /etc/group-style file, if listed. */
function idIn(file: string | undefined, name: string): number | undefined {
  const line = (file ?? '').split('\n').find((l) => l.startsWith(`${name}:`));
  return line ? Number(line.split(':')[2]) : undefined;
}

export function targetProbe(root: string | undefined): TargetProbe {
  return {
    exists: (p) => exists(hostPath(root, p)),
    read: (p) => readOr(hostPath(root, p)),
    userExists: (name) => idIn(readOr(hostPath(root, '/etc/passwd')), name) !== undefined,
  };
}

/** chown to "user" or "user:group", names looked up in the target's own passwd and group files. */
function chownTo(root: string | undefined, p: string, owner: string): void {
  // Only root can give files away; a non-root --root run (a test, an image build) keeps its own.
  if (process.getuid?.() !== 0) return;
  const [user, group = user] = owner.split(':');
  const uid = idIn(readOr(hostPath(root, '/etc/passwd')), user) ?? (user === 'root' ? 0 : undefined);
  const gid = idIn(readOr(hostPath(root, '/etc/group')), group) ?? (group === 'root' ? 0 : undefined);
  if (uid === undefined || gid === undefined) throw new InstallError(`cannot chown ${p} to ${owner}: no such user or group in ${hostPath(root, '/etc/passwd')}`);
  chownSync(p, uid, gid);
}

function run(argv: string[]): void {
  try {
    execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const e = err as { stderr?: string; code?: string; status?: number };
    const why = e.code === 'ENOENT' ? 'command not found' : `exit code ${e.status ?? '?'}: ${(e.stderr ?? '').trim().split('\n')[0]}`;
    throw new InstallError(`${argv.join(' ')}: ${why}`, { cause: err });
  }
}

function writeAtomically(p: string, content: string, mode: number): void {
  const tmp = `${p}.hostcheck-new`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, p);
}

const prefix = (root: string | undefined): string[] => (root ? ['--prefix', root] : []);

/** The useradd that makes the agent's system user (and its group). */
export function useraddArgv(root: string | undefined, name: string, home: string): string[] {
  return ['useradd', ...prefix(root), '--system', '--user-group', '--home-dir', home, '--no-create-home', '--shell', '/usr/sbin/nologin', name];
}

export interface ExecuteResult {
  done: Step[];
  /** Things left in place on purpose (a directory that is not empty). */
  notes: string[];
}

function runStep(step: Step, root: string | undefined, manifestText: () => string, notes: string[]): void {
  const at = (p: string) => hostPath(root, p);
  switch (step.kind) {
    case 'user':
      run(useraddArgv(root, step.name, step.home));
      return;
    case 'mkdir':
      mkdirSync(at(step.path), { mode: step.mode });
      chmodSync(at(step.path), step.mode);
      chownTo(root, at(step.path), step.owner);
      return;
    case 'write':
      writeAtomically(at(step.path), step.content, step.mode);
      chownTo(root, at(step.path), step.owner);
      return;
    case 'manifest':
      writeAtomically(at(step.path), manifestText(), 0o644);
      return;
    case 'command':
      run(step.argv);
      return;
    case 'restore':
      writeAtomically(at(step.path), step.content, lstatSync(at(step.path), { throwIfNoEntry: false })?.mode ?? 0o644);
      return;
    case 'remove':
      rmSync(at(step.path), { force: true });
      return;
    case 'purge':
      rmSync(at(step.path), { recursive: true, force: true });
      return;
    case 'rmdir':
      if (!existsSync(at(step.path))) return;
      if (readdirSync(at(step.path)).length > 0) {
        notes.push(`left ${step.path}: not empty (${readdirSync(at(step.path)).slice(0, 5).join(', ')})`);
        return;
      }
      rmdirSync(at(step.path));
      return;
    case 'userdel':
      run(['userdel', ...prefix(root), step.name]);
      // userdel removes the user's group only where login.defs says USERGROUPS_ENAB yes.
      if (idIn(readOr(at('/etc/group')), step.name) !== undefined) run(['groupdel', ...prefix(root), step.name]);
      return;
  }
}

/**
 * Run steps in order. On a failure the error carries the steps that did run, so install can still
 * write a manifest and uninstall can undo a half-done install.
 */
export function executeSteps(steps: Step[], root: string | undefined, earlier?: Manifest, now = new Date()): ExecuteResult {
  const done: Step[] = [];
  const notes: string[] = [];
  const manifestText = () => JSON.stringify(manifestOf(steps.filter((s) => done.includes(s) || s.kind === 'manifest'), root, earlier, now), null, 2) + '\n';
  for (const step of steps) {
    try {
      runStep(step, root, manifestText, notes);
    } catch (err) {
      throw Object.assign(err instanceof InstallError ? err : new InstallError(`${step.kind} ${'path' in step ? step.path : ''}: ${(err as Error).message}`, { cause: err }), { done });
    }
    done.push(step);
  }
  return { done, notes };
}

/** After a failed install: write the manifest of what ran, so `hostcheck uninstall` can undo it. */
export function writePartialManifest(done: Step[], root: string | undefined, path: string, earlier?: Manifest): void {
  if (!done.some((s) => s.kind !== 'command')) return;
  const m = manifestOf([...done, { kind: 'manifest', path }], root, earlier, new Date());
  mkdirSync(hostPath(root, path).replace(/\/[^/]+$/, ''), { recursive: true });
  writeAtomically(hostPath(root, path), JSON.stringify(m, null, 2) + '\n', 0o644);
}
