/**
 * The namespace lab: builds hosts as network namespaces from a Topology, runs commands in them,
 * and always removes them again (see cleanup.ts). Nothing is linked to the root namespace.
 *
 *   const lab = await Lab.create(firstIncident());
 *   const { ok } = await lab.ping('ecs1', '172.31.4.18');
 *   await lab.destroy();
 *
 * Documented in docs/lab.md.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { newLabPrefix, registerNamespaces, removeNamespaces } from './cleanup.js';
import { planLab, type HostPlan, type PlannedLine, type SysctlWrite, type Topology } from './topology.js';

export { labPrerequisites, type LabPrerequisites } from './prerequisites.js';
export { LAB_NAMESPACE_PATTERN, labNamespaces, liveNamespaces, newLabPrefix, sweepStaleNamespaces } from './cleanup.js';
export * from './topology.js';

/** The repository root, for running bin/hostcheck from inside a namespace. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const hostcheckBin = resolve(repoRoot, 'bin', 'hostcheck');

/** What a command run in a lab host printed and how it ended (-1 when killed or not started). */
export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ExecOptions {
  /** Throw LabCommandError on a non-zero exit (default false). */
  check?: boolean;
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

export interface PingOptions {
  /** Source address or interface (`ping -I`). */
  source?: string;
  /** Default 1. */
  count?: number;
  /** Seconds to wait for each reply (`ping -W`), default 1. */
  timeoutS?: number;
}

export interface PingResult {
  ok: boolean;
  output: string;
}

/** A command in a lab host failed; keeps argv, exit code and stderr. */
export class LabCommandError extends Error {
  override name = 'LabCommandError';
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(`${argv.join(' ')} exited ${exitCode}: ${stderr.trim()}`, options);
  }
}

/** Building the lab failed; the message names the topology item, the command and ip's error. */
export class LabSetupError extends Error {
  override name = 'LabSetupError';
}

export interface LabOptions {
  /** Namespace name prefix; default `hclab-<pid36>-<random4>-` (keep the family so sweeps find it). */
  prefix?: string;
}

/** A running lab: one network namespace per host of the topology. */
export class Lab {
  private removed = false;

  private constructor(
    /** The prefix of every namespace of this lab. */
    readonly prefix: string,
    /** Host names, in topology order. */
    readonly hosts: readonly string[],
  ) {}

  /** Builds `topology`; on any failure removes what it built and throws LabSetupError. */
  static async create(topology: Topology, options: LabOptions = {}): Promise<Lab> {
    const prefix = options.prefix ?? newLabPrefix();
    const plans = planLab(topology, (host) => prefix + host);
    const lab = new Lab(
      prefix,
      plans.map((p) => p.host),
    );
    registerNamespaces(lab.namespaces);
    try {
      await run(['ip', '-batch', '-'], lab.namespaces.map((ns) => `netns add ${ns}\n`).join(''), 'creating the namespaces');
      await eachHost(plans, (p) => writeSysctls(p, p.earlySysctls));
      await eachHost(plans, (p) => ipBatch(p, p.create));
      await eachHost(plans, (p) => ipBatch(p, p.devices));
      await eachHost(plans, (p) => writeSysctls(p, p.interfaceSysctls));
      await eachHost(plans, (p) => ipBatch(p, p.configure));
      await eachHost(plans, (p) => ipBatch(p, p.routing));
      await eachHost(plans, async (p) => {
        if (p.iptables !== undefined) await run(inNs(p.namespace, ['iptables-restore']), p.iptables, `${p.host}.iptables`);
        if (p.ip6tables !== undefined) await run(inNs(p.namespace, ['ip6tables-restore']), p.ip6tables, `${p.host}.ip6tables`);
        for (const [i, line] of p.setup.entries()) await run(inNs(p.namespace, ['sh', '-c', line]), undefined, `${p.host}.setup[${i}]`);
      });
    } catch (error) {
      await lab.destroy();
      throw error;
    }
    return lab;
  }

  /** All namespace names of this lab. */
  get namespaces(): string[] {
    return this.hosts.map((h) => this.prefix + h);
  }

  /** The namespace name of `host`. */
  ns(host: string): string {
    if (!this.hosts.includes(host)) throw new Error(`lab has no host ${JSON.stringify(host)} (hosts: ${this.hosts.join(', ')})`);
    return this.prefix + host;
  }

  /** Runs `argv` inside `host` (`ip netns exec`); does not throw on a non-zero exit unless `check`. */
  async exec(host: string, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.assertLive();
    const full = inNs(this.ns(host), argv);
    const result = await execa(full[0], full.slice(1), {
      reject: false,
      input: options.input,
      timeout: options.timeoutMs,
      env: options.env,
    });
    const outcome = { stdout: String(result.stdout), stderr: String(result.stderr), exitCode: result.exitCode ?? -1 };
    if (options.check && outcome.exitCode !== 0) throw new LabCommandError(argv, outcome.exitCode, outcome.stderr || (result.message ?? ''), { cause: result });
    return outcome;
  }

  /** Runs a shell command line inside `host` (`sh -c`); throws on failure unless `check: false`. */
  applyFix(host: string, commandLine: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(host, ['sh', '-c', commandLine], { check: true, ...options });
  }

  /** Pings `dst` from `host` with real packets; ok means at least one reply came back. */
  async ping(host: string, dst: string, options: PingOptions = {}): Promise<PingResult> {
    const count = options.count ?? 1;
    const argv = ['ping', '-n', '-c', String(count), '-W', String(options.timeoutS ?? 1)];
    if (count > 1) argv.push('-i', '0.2');
    if (options.source) argv.push('-I', options.source);
    argv.push(dst);
    const result = await this.exec(host, argv);
    return { ok: result.exitCode === 0, output: `${result.stdout}${result.stderr ? `\n${result.stderr}` : ''}` };
  }

  /** Runs this repository's bin/hostcheck inside `host`. */
  hostcheck(host: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(host, [hostcheckBin, ...args], options);
  }

  /**
   * Runs bin/hostcheck in `host`'s network namespace only (`nsenter --net`), inside a private
   * mount namespace of its own where tracefs is mounted at /sys/kernel/tracing: `ip netns exec`
   * remounts /sys, which hides tracefs. The mount goes away with the process; the machine's
   * mounts are untouched. `onSpawn` gets the child (its pid is hostcheck's node process; its
   * stderr streams progress lines as they come).
   */
  hostcheckWithTracefs(host: string, args: readonly string[], options: ExecOptions & { onSpawn?: (child: { pid?: number; stderr: NodeJS.ReadableStream | null; stdout: NodeJS.ReadableStream | null; kill: (signal?: NodeJS.Signals) => boolean }) => void } = {}): Promise<ExecResult> {
    this.assertLive();
    const script = 'mount -t tracefs nodev /sys/kernel/tracing && exec nsenter --net="/run/netns/$0" "$@"';
    const child = execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, this.ns(host), hostcheckBin, ...args], {
      reject: false, input: options.input, timeout: options.timeoutMs, env: options.env,
    });
    options.onSpawn?.(child);
    return child.then((result) => {
      const outcome = { stdout: String(result.stdout), stderr: String(result.stderr), exitCode: result.exitCode ?? -1 };
      if (options.check && outcome.exitCode !== 0) throw new LabCommandError(args, outcome.exitCode, outcome.stderr, { cause: result });
      return outcome;
    });
  }

  /** Removes every namespace of the lab (idempotent). */
  async destroy(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    await removeNamespaces(this.namespaces);
  }

  /** True after destroy(). */
  get destroyed(): boolean {
    return this.removed;
  }

  private assertLive(): void {
    if (this.removed) throw new Error(`lab ${this.prefix} was destroyed`);
  }
}

function inNs(namespace: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', namespace, ...argv];
}

async function eachHost(plans: HostPlan[], step: (plan: HostPlan) => Promise<void>): Promise<void> {
  const outcomes = await Promise.allSettled(plans.map(step));
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Runs one host's `ip -batch`; on failure names the topology item of the failing line. */
async function ipBatch(plan: HostPlan, lines: PlannedLine[]): Promise<void> {
  if (lines.length === 0) return;
  const result = await execa('ip', ['-n', plan.namespace, '-batch', '-'], {
    input: lines.map((l) => `${l.line}\n`).join(''),
    reject: false,
  });
  if (result.exitCode === 0) return;
  const stderr = String(result.stderr).trim();
  const lineNumber = Number(/Command failed -:(\d+)/.exec(stderr)?.[1]);
  const failed = lines[lineNumber - 1];
  const where = failed ? `${failed.from}: ip ${failed.line}` : `host ${plan.host}: ip -batch`;
  throw new LabSetupError(`${where} failed: ${stderr || result.message}`, { cause: result });
}

/** Writes sysctls through /proc/sys inside the namespace (no dependency on the sysctl tool). */
async function writeSysctls(plan: HostPlan, writes: SysctlWrite[]): Promise<void> {
  if (writes.length === 0) return;
  const script = ['set -e'];
  for (const w of writes) {
    const path = `/proc/sys/${w.key.includes('/') ? w.key : w.key.replaceAll('.', '/')}`;
    const write = `printf '%s\\n' ${shellQuote(w.value)} > ${shellQuote(path)}`;
    script.push(w.optional ? `if [ -e ${shellQuote(path)} ]; then ${write}; fi` : write);
  }
  await run(inNs(plan.namespace, ['sh', '-c', script.join('\n')]), undefined, `${plan.host}.sysctls`);
}

async function run(argv: string[], input: string | undefined, what: string): Promise<void> {
  const result = await execa(argv[0], argv.slice(1), { input, reject: false });
  if (result.exitCode !== 0) {
    throw new LabSetupError(`${what}: ${argv.slice(0, 6).join(' ')} failed: ${String(result.stderr).trim() || result.message}`, { cause: result });
  }
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
