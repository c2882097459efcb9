/** The CLI run in-process (runCli), its stdout and stderr kept instead of printed. */
import { vi } from 'vitest';
import { runCli } from '../../src/cli/main.js';

export async function cliInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c) => { out.push(String(c)); return true; });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c) => { err.push(String(c)); return true; });
  const before = process.exitCode;
  try {
    return { code: await runCli(['node', 'hostcheck', ...args]), stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.exitCode = before;
  }
}
