import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommandBatch } from '../../src/collect/run-batch.js';

// The batch writes into a directory under TMPDIR: a private one here, which must stay empty.
let privateTmp = '';
const savedTmp = process.env.TMPDIR;
beforeAll(() => {
  privateTmp = mkdtempSync(join(tmpdir(), 'hostcheck-batch-test-'));
  process.env.TMPDIR = privateTmp;
});
afterAll(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  rmSync(privateTmp, { recursive: true, force: true });
});
const leftovers = (): string[] => readdirSync(privateTmp);

describe('runCommandBatch: every command from one shell, classified like a single command', () => {
  it('keeps exact stdout, and tells collected, not installed, failed and permission apart', async () => {
    const [ok, missing, failed, denied, quoted] = await runCommandBatch([
      { argv: ['printf', 'a  b\\n\\n'], options: {} },
      { argv: ['hostcheck-no-such-tool', '-x'], options: { absentMeaning: 'not installed here' } },
      { argv: ['sh', '-c', 'echo oops >&2; exit 3'], options: {} },
      { argv: ['sh', '-c', 'echo "Permission denied (you must be root)" >&2; exit 4'], options: { permissionHint: 'run as root' } },
      { argv: ['printf', "%s|", "it's", '$HOME', '"x"'], options: {} },
    ], 10_000);
    expect(ok).toMatchObject({ status: 'collected', stdout: 'a  b\n\n', exitCode: 0 });
    expect(missing).toMatchObject({ status: 'unavailable', message: 'hostcheck-no-such-tool: command not found (not installed here)' });
    expect(failed).toMatchObject({ status: 'failed', exitCode: 3, message: 'sh: exit code 3: oops' });
    expect(denied).toMatchObject({ status: 'failed', message: 'sh: permission denied — run as root' });
    expect(quoted.stdout).toBe(`it's|$HOME|"x"|`);
    expect(leftovers()).toEqual([]);
  });

  it('a command still running at the timeout is failed as timed out; the others keep their answers', async () => {
    const [slow, quick] = await runCommandBatch([
      { argv: ['sleep', '5'], options: {} },
      { argv: ['echo', 'done'], options: {} },
    ], 500);
    expect(slow).toMatchObject({ status: 'failed', message: 'sleep: timed out after 500 ms' });
    expect(quick).toMatchObject({ status: 'collected', stdout: 'done\n' });
    expect(leftovers()).toEqual([]);
  });
});
