/**
 * Makes sure lab namespaces never outlive their test run: a process-wide registry of live
 * namespaces, synchronous removal on 'exit', SIGINT and SIGTERM, and a sweep that removes
 * namespaces of the lab's name family whose creating process is dead (SIGKILL, power loss).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { execa } from 'execa';

/** Where `ip netns add` puts its bind mounts. */
export const NETNS_DIR = '/run/netns';
/** Every lab namespace is `hclab-<creator pid, base 36>-<4 random>-<host>`. */
export const LAB_NAMESPACE_PATTERN = /^hclab-([0-9a-z]{1,8})-([0-9a-z]{4})-/;

/** A unique prefix for one lab of this process; the pid in it lets a later run find leftovers. */
export function newLabPrefix(pid = process.pid): string {
  const random = Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, '0');
  return `hclab-${pid.toString(36)}-${random}-`;
}

const live = new Set<string>();
let handlersInstalled = false;

/** Records namespaces before they are created, so an interruption mid-creation removes them too. */
export function registerNamespaces(names: readonly string[]): void {
  installExitHandlers();
  for (const name of names) live.add(name);
}

/** Removes `names` (killing anything still running inside them) and forgets them. */
export async function removeNamespaces(names: readonly string[]): Promise<void> {
  killProcessesIn(names);
  if (names.length > 0) {
    await execa('ip', ['-force', '-batch', '-'], { input: deleteBatch(names), reject: false });
  }
  for (const name of names) live.delete(name);
}

/** The synchronous form, for 'exit' and signal handlers where nothing asynchronous runs. */
export function removeNamespacesSync(names: readonly string[]): void {
  killProcessesIn(names);
  if (names.length > 0) {
    try {
      execFileSync('ip', ['-force', '-batch', '-'], { input: deleteBatch(names), stdio: ['pipe', 'ignore', 'ignore'] });
    } catch {
      // -force makes ip exit 1 when any name was already gone; the others were still deleted.
    }
  }
  for (const name of names) live.delete(name);
}

/** Namespaces this process created and has not removed yet. */
export function liveNamespaces(): string[] {
  return [...live];
}

function deleteBatch(names: readonly string[]): string {
  return names.map((n) => `netns del ${n}\n`).join('');
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => removeNamespacesSync([...live]));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      removeNamespacesSync([...live]);
      // Our listener suppressed the default action; when it is the only one, die by the signal as intended.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

/** Lab namespaces on this machine (any process's), with the pid that created each. */
export function labNamespaces(): Array<{ name: string; pid: number }> {
  let names: string[];
  try {
    names = readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
  const found: Array<{ name: string; pid: number }> = [];
  for (const name of names) {
    const m = LAB_NAMESPACE_PATTERN.exec(name);
    if (m) found.push({ name, pid: parseInt(m[1], 36) });
  }
  return found;
}

/**
 * Removes lab namespaces whose creating process no longer exists (a run killed with SIGKILL).
 * Namespaces of live processes, including parallel runs, are left alone. Returns the names removed.
 */
export function sweepStaleNamespaces(): string[] {
  const stale = labNamespaces()
    .filter(({ pid }) => !processExists(pid))
    .map(({ name }) => name);
  removeNamespacesSync(stale);
  return stale;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills processes left inside the namespaces (a stray `ping`), which would keep them alive unnamed. */
function killProcessesIn(names: readonly string[]): void {
  const inodes = new Set<number>();
  for (const name of names) {
    try {
      inodes.add(statSync(`${NETNS_DIR}/${name}`).ino);
    } catch {
      // Not created yet or already gone.
    }
  }
  if (inodes.size === 0) return;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return;
  }
  for (const entry of entries) {
    const code = entry.charCodeAt(0);
    if (code < 48 || code > 57) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      if (inodes.has(statSync(`/proc/${entry}/ns/net`).ino)) process.kill(pid, 'SIGKILL');
    } catch {
      // The process ended meanwhile, or is not ours to inspect.
    }
  }
}
