/**
 * Whether this machine can run lab tests: Linux, root, the tools the lab runs, and a kernel
 * that lets us create a network namespace. Checked once per process.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { newLabPrefix } from './cleanup.js';

/** `ok`, or the plain reason the lab cannot run here. */
export interface LabPrerequisites {
  ok: boolean;
  reason?: string;
}

const REQUIRED_COMMANDS = ['ip', 'iptables', 'iptables-restore', 'ping', 'sh'];
let cached: LabPrerequisites | undefined;

/** Checks root, `ip`, `iptables`, `ping` and that a network namespace can be created. */
export function labPrerequisites(): LabPrerequisites {
  cached ??= check();
  return cached;
}

function check(): LabPrerequisites {
  if (process.platform !== 'linux') return { ok: false, reason: `lab tests need Linux network namespaces; this is ${process.platform}` };
  const uid = process.getuid?.();
  if (uid !== 0) return { ok: false, reason: `lab tests need root (uid 0); running as uid ${uid}` };
  const missing = REQUIRED_COMMANDS.filter((c) => !onPath(c));
  if (missing.length > 0) return { ok: false, reason: `lab tests need ${missing.join(', ')} on PATH` };
  // Named like a lab namespace so a sweep removes it should this process die right here.
  const probe = `${newLabPrefix()}probe`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
    return { ok: false, reason: `cannot create a network namespace: ${stderr || (error as Error).message}` };
  } finally {
    try {
      execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
    } catch {
      // Never created.
    }
  }
  return { ok: true };
}

/** True when `command` is an executable on PATH. */
export function onPath(command: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // Not in this directory.
    }
  }
  return false;
}
