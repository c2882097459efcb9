/**
 * Hostile bundles through the real CLI: each is refused with a clear message and exit code 2,
 * nothing is written (the temporary directory and the working directory stay empty, no path the
 * archive aims at appears), and nothing a bundle names is ever run.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/samples.js';
import { tgzOf, type TarEntry } from '../helpers/tar.js';

const bin = join(repoRoot, 'bin', 'hostcheck');
const root = mkdtempSync(join(tmpdir(), 'hc-hostile-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs `hostcheck --bundle FILE` with its own empty TMPDIR and working directory; both must stay empty. */
async function analyse(name: string, archive: Buffer, args: string[] = []): Promise<{ exitCode: number; stderr: string; stdout: string }> {
  const dir = join(root, name);
  const cwd = join(dir, 'cwd');
  const tmp = join(dir, 'tmp');
  mkdirSync(cwd, { recursive: true });
  mkdirSync(tmp, { recursive: true });
  const file = join(dir, `${name}.tar.gz`);
  writeFileSync(file, archive);
  const r = await execa(bin, ['--bundle', file, ...args], { cwd, reject: false, env: { TMPDIR: tmp, NO_COLOR: '' } });
  expect(readdirSync(cwd), 'nothing written in the working directory').toEqual([]);
  expect(readdirSync(tmp), 'nothing left in TMPDIR').toEqual([]);
  expect(readdirSync(dir).sort(), 'nothing written beside the archive').toEqual(['cwd', `${name}.tar.gz`, 'tmp'].sort());
  return { exitCode: r.exitCode ?? -1, stderr: String(r.stderr), stdout: String(r.stdout) };
}

const meta = JSON.stringify({ bundleFormat: 1, hostname: 'h', sources: [] });
const cases: [string, TarEntry[], RegExp][] = [
  ['traversal', [{ name: 'b/meta.json', data: meta }, { name: 'b/../../../escaped-by-traversal', data: 'x' }], /path traversal/],
  ['absolute', [{ name: `${root}/escaped-absolute`, data: 'x' }], /absolute path/],
  ['symlink-out', [{ name: 'b/meta.json', data: meta }, { name: 'b/ip-route-v4.txt', type: '2', linkname: '../../../../etc/passwd' }], /symbolic link .* points outside the archive/],
  ['hardlink-out', [{ name: 'b/meta.json', data: meta }, { name: 'b/ip-route-v4.txt', type: '1', linkname: '/etc/passwd' }], /absolute path/],
  ['device', [{ name: 'b/meta.json', data: meta }, { name: 'b/ip-route-v4.txt', type: '3' }], /device file/],
  ['fifo', [{ name: 'b/ip-route-v4.txt', type: '6' }], /FIFO/],
  ['size-bomb', [{ name: 'b/meta.json', data: meta, declaredSize: 6 * 2 ** 30 }], /archive bomb/],
  ['unknown-layout', [{ name: 'x/readme.txt', data: 'hi' }, { name: 'x/notes.txt', data: 'hi' }], /no bundle layout hostcheck knows/],
];

describe('hostile bundles: exit 2, a clear message, nothing written, nothing run', () => {
  for (const [name, entries, message] of cases) {
    it(name, async () => {
      const r = await analyse(name, tgzOf(entries));
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/^hostcheck: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('a truncated archive', async () => {
    const whole = tgzOf([{ name: 'b/meta.json', data: meta }, { name: 'b/ip-route-v4.txt', data: 'x'.repeat(50_000) }]);
    const r = await analyse('truncated', whole.subarray(0, whole.length - 40));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/truncated archive/);
    expect(existsSync(join(root, 'escaped-by-traversal')) || existsSync(join(root, 'escaped-absolute'))).toBe(false);
  });

  it('commands a bundle names are never run (meta.json argv, a sosreport manifest\'s exec, files named like tools)', async () => {
    const marker = join(root, 'pwned');
    const touch = ['touch', marker];
    const hostcheckBundle = JSON.stringify({
      bundleFormat: 1, hostname: 'h', sources: [{ name: 'ip-route-v4', file: 'ip-route-v4.txt', kind: 'command', argv: touch, status: 'collected', required: true, durationMs: 0 }],
    });
    const manifest = JSON.stringify({ version: '4.0', components: { report: { plugins: { networking: { commands: [{ exec: touch.join(' '), filepath: 'sos_commands/networking/ip_route_show_table_all', return_code: 0 }] } } } } });
    const tool = { data: `#!/bin/sh\ntouch ${marker}\n` };
    const a = await analyse('argv', tgzOf([{ name: 'b/meta.json', data: hostcheckBundle }, { name: 'b/ip-route-v4.txt', data: 'default via 10.0.0.1 dev eth0\n' }, { name: 'b/ip', ...tool }]));
    const b = await analyse('manifest', tgzOf([
      { name: 's/sos_reports/manifest.json', data: manifest }, { name: 's/sos_logs/sos.log', data: '' },
      { name: 's/sos_commands/networking/ip_route_show_table_all', data: 'default via 10.0.0.1 dev eth0\n' }, { name: 's/sos_commands/networking/ip', ...tool },
    ]));
    // Both are read and analysed (the first is complete: its one source is there; the sosreport lacks most).
    expect([a.exitCode, b.exitCode]).toEqual([0, 3]);
    expect(existsSync(marker)).toBe(false);
  });
});
