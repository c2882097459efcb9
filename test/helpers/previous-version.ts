/**
 * A previous version of hostcheck, built from git history into a directory outside the repo:
 * `git archive COMMIT` unpacked there, node_modules a symlink to this checkout's (the commits
 * compared here share package-lock.json's dependencies), `npm run -s build`. Used by
 * scripts/record-protocol.ts (recording the previous agent's messages) and by
 * test/aggregator/upgrade-roll.test.ts (two consecutive versions on one database).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './samples.js';

/**
 * The last commit agents spoke protocol 2 in, and the last before store step 4 (the change log,
 * issue 21): main's first parent before the merge of the timeline branch (130db17), which raised
 * PROTOCOL_VERSION to 3 and added PG_MIGRATIONS step 4. The next version bump names its own.
 */
export const PREVIOUS_COMMIT = '93dae319c32b928499100d40203e73153c08a48a';

export interface PreviousBuild {
  dir: string;
  commit: string;
  /** bin/hostcheck of that version. */
  bin: string;
  /** What `hostcheck --version` printed there. */
  version: string;
  buildSeconds: number;
  remove(): void;
}

/** Whether this checkout holds `commit` (CI may clone shallow). */
export function hasCommit(commit: string): boolean {
  try {
    execFileSync('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: repoRoot, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Unpack and build `commit` into a fresh directory under the temp dir (or `dir`). */
export function buildPrevious(commit = PREVIOUS_COMMIT, dir?: string): PreviousBuild {
  const started = Date.now();
  const out = dir ?? mkdtempSync(join(tmpdir(), 'hc-prev-'));
  mkdirSync(out, { recursive: true });
  execFileSync('sh', ['-c', `git archive "$1" | tar -x -C "$2"`, 'sh', commit, out], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  if (!existsSync(join(out, 'node_modules'))) symlinkSync(join(repoRoot, 'node_modules'), join(out, 'node_modules'));
  execFileSync('npm', ['run', '-s', 'build'], { cwd: out, stdio: ['ignore', 'ignore', 'pipe'] });
  const bin = join(out, 'bin', 'hostcheck');
  const version = execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).trim();
  const lock = (root: string) => readFileSync(join(root, 'package-lock.json'), 'utf8');
  if (lock(out) !== lock(repoRoot)) process.stderr.write(`note: ${commit}'s package-lock.json differs from this checkout's; it runs on this checkout's node_modules\n`);
  return { dir: out, commit, bin, version, buildSeconds: (Date.now() - started) / 1000, remove: () => rmSync(out, { recursive: true, force: true }) };
}
