/**
 * Collection: runs every source in parallel with a timeout, and records per source what happened.
 * A missing tool or a permission problem is that source's status, never the run's end.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Bundle, BundleMeta, SourceMeta } from './bundle.js';
import { BUNDLE_FORMAT_VERSION } from './bundle.js';
import { collectCloudIdentity } from './cloud.js';
import { collectDockerNetworks } from './docker.js';
import { isoTime } from '../model/iso-time.js';
import { collectIdentity } from './identity.js';
import { listNftText, NFT_TEXT_ARGV, nftJsonRefused } from './nft-text-fallback.js';
import { redactSecrets } from './redact.js';
import { runCommandBatch } from './run-batch.js';
import { runCommand, type CommandOutcome } from './run-command.js';
import { SOURCES, type SourceSpec } from './sources.js';
import { collectSysctls } from './sysctl.js';

export interface CollectOptions {
  timeoutMs?: number;
  /** Override paths (tests): Docker socket, daemon.json, /proc/sys, DMI root, metadata base URL. */
  dockerSocket?: string;
  dockerDaemonJson?: string;
  /** Override the path of any copied file, by source name (tests: swanctl-conf, ipsec-conf). */
  filePaths?: Record<string, string>;
  procSys?: string;
  dmiRoot?: string;
  metadataBase?: string;
  /** Skip cloud metadata even when DMI names a cloud. */
  noCloud?: boolean;
  /** Only these sources (by name). */
  only?: string[];
  argv?: string[];
  name?: string;
  /**
   * 'capture' (the default) collects everything a bundle keeps; 'analyze' (the one-shot) leaves
   * out what the snapshot never reads: the JSON forms (sources without a format) and the
   * tool-version probes — on a big host a second million-route dump competing for the CPUs.
   */
  purpose?: 'capture' | 'analyze';
}

const require = createRequire(import.meta.url);

export function hostcheckVersion(): string {
  try {
    return (require('../../../package.json') as { version: string }).version;
  } catch {
    return (require('../../package.json') as { version: string }).version;
  }
}

async function collectOne(spec: SourceSpec, opts: CollectOptions, batch?: Map<SourceSpec, CommandOutcome>): Promise<{ meta: SourceMeta; text?: string }> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const base = { name: spec.name, file: spec.file, kind: spec.kind, required: spec.required };
  if (spec.kind === 'command') {
    const r = batch!.get(spec)!;
    return {
      meta: { ...base, argv: spec.argv, status: r.status, exitCode: r.exitCode, stderr: r.stderr || undefined, message: r.message, durationMs: r.durationMs },
      text: r.status === 'collected' ? r.stdout : undefined,
    };
  }
  if (spec.kind === 'sysctl') {
    const r = await collectSysctls(opts.procSys);
    return { meta: { ...base, path: opts.procSys ?? '/proc/sys', status: r.status, message: r.message, durationMs: r.durationMs }, text: r.text };
  }
  if (spec.kind === 'file') {
    const path = opts.filePaths?.[spec.name] ?? (spec.name === 'docker-daemon' && opts.dockerDaemonJson ? opts.dockerDaemonJson : spec.path!);
    const started = performance.now();
    try {
      // Secrets (PSKs, private keys, registry and proxy credentials) never leave the host.
      const { text, count } = redactSecrets(readFileSync(path, 'utf8'));
      return { meta: { ...base, path, status: 'collected', ...(count > 0 && { redacted: count }), durationMs: Math.round(performance.now() - started) }, text };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const durationMs = Math.round(performance.now() - started);
      if (code === 'ENOENT') return { meta: { ...base, path, status: 'unavailable', message: `${path}: ${spec.absentMeaning ?? 'absent'}`, durationMs } };
      return { meta: { ...base, path, status: 'failed', message: `${path}: ${code === 'EACCES' ? 'permission denied — run as root' : (err as Error).message}`, durationMs } };
    }
  }
  const socket = opts.dockerSocket ?? spec.path!;
  const r = await collectDockerNetworks(socket, Math.min(timeoutMs, 5000));
  return { meta: { ...base, path: socket, status: r.status, message: r.message, durationMs: r.durationMs }, text: r.text };
}

/** `nft -j list ruleset` refused (an nft without JSON): its `nft -a list ruleset` text instead (nft-text-fallback.ts), and the source's status says so. */
async function nftTextFallback(r: { meta: SourceMeta; text?: string }, opts: CollectOptions): Promise<{ meta: SourceMeta; text?: string }> {
  if (!nftJsonRefused(r.meta)) return r;
  const t = await listNftText(opts.timeoutMs);
  if (t.status !== 'collected') return r;
  const why = r.meta.message ?? `exit code ${r.meta.exitCode}`;
  return {
    meta: {
      ...r.meta, file: 'nft.txt', argv: NFT_TEXT_ARGV, status: 'collected', exitCode: t.exitCode, stderr: t.stderr || undefined, format: 'nft-text',
      message: `nft -j failed (${why}): read \`nft -a list ruleset\` text instead`, durationMs: r.meta.durationMs + t.durationMs,
    },
    text: t.stdout,
  };
}

/** Every command source in one shell (their meta durations are the batch's wall time). */
async function runBatch(specs: SourceSpec[], opts: CollectOptions): Promise<Map<SourceSpec, CommandOutcome>> {
  const commands = specs.filter((s) => s.kind === 'command');
  const outcomes = await runCommandBatch(
    commands.map((s) => ({ argv: s.argv!, options: { permissionHint: s.permissionHint, absentMeaning: s.absentMeaning } })),
    opts.timeoutMs ?? 20_000,
  );
  return new Map(commands.map((s, i) => [s, outcomes[i]]));
}

async function toolVersions(timeoutMs: number): Promise<Record<string, string>> {
  const probes: [string, string[]][] = [
    ['iproute2', ['ip', '-V']],
    ['iptables', ['iptables', '--version']],
    ['nft', ['nft', '--version']],
    ['ipset', ['ipset', '--version']],
  ];
  const out: Record<string, string> = {};
  await Promise.all(
    probes.map(async ([name, argv]) => {
      const r = await runCommand(argv, { timeoutMs });
      const line = (r.stdout || r.stderr).trim().split('\n')[0];
      if (r.status === 'collected' && line) out[name] = line;
    }),
  );
  return Object.fromEntries(Object.entries(out).sort());
}

/** Collect a bundle from the live host. */
export async function collectBundle(opts: CollectOptions = {}): Promise<Bundle> {
  const startedAt = Date.now();
  const started = performance.now();
  const analyze = opts.purpose === 'analyze';
  const specs = SOURCES.filter((s) => (!opts.only || opts.only.includes(s.name)) && (!analyze || s.format !== undefined));
  const [results, identity, versions, cloud] = await Promise.all([
    runBatch(specs, opts).then((batch) => Promise.all(specs.map((s) => collectOne(s, opts, batch).then((r) => (s.name === 'nft' ? nftTextFallback(r, opts) : r))))),
    collectIdentity(),
    analyze ? Promise.resolve({}) : toolVersions(opts.timeoutMs ?? 5000),
    opts.noCloud ? Promise.resolve(undefined) : collectCloudIdentity({ dmiRoot: opts.dmiRoot, base: opts.metadataBase }),
  ]);
  const files = new Map<string, string>();
  for (const r of results) if (r.text !== undefined) files.set(r.meta.name, r.text);
  const meta: BundleMeta = {
    bundleFormat: BUNDLE_FORMAT_VERSION,
    hostcheckVersion: hostcheckVersion(),
    argv: opts.argv ?? process.argv.slice(2),
    hostname: identity.hostname,
    name: opts.name,
    machineId: identity.machineId,
    os: identity.os,
    kernel: identity.kernel,
    startedAt: isoTime(startedAt),
    durationMs: Math.round(performance.now() - started),
    toolVersions: versions,
    cloud,
    sources: results.map((r) => r.meta),
  };
  return { meta, files };
}

/**
 * The bundle of `--bundle PATH` (any layout bundle-open.ts reads; `host` picks one of several),
 * or of the live host.
 */
export async function loadBundle(opts: CollectOptions & { bundle?: string; host?: string }): Promise<Bundle> {
  // Loaded only for a bundle: the live one-shot never needs the archive and layout readers.
  const bundle = opts.bundle ? await (await import('./bundle-open.js')).openBundle(opts.bundle, opts.host) : await collectBundle(opts);
  if (opts.bundle && opts.name) bundle.meta.name = opts.name;
  return bundle;
}
