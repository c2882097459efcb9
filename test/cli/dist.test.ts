/**
 * dist/hostcheck.cjs, the one-file build: built here by scripts/build-dist.ts into a temp
 * directory outside the checkout, and run there with an empty environment (PATH = node's
 * directory only), so nothing of node_modules or the checkout can be reached. The single
 * executable (npm run build:sea) is built from it and run the same way, with an empty PATH.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, buildSea } from '../../scripts/build-dist.js';
import { PROTOCOL_VERSION } from '../../src/model/protocol.js';
import { repoRoot } from '../helpers/samples.js';

const run = promisify(execFile);
const ECS3 = join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3');

describe('dist/hostcheck.cjs run from an empty directory with env -i', () => {
  let dir: string;
  let bundle: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hostcheck-dist-'));
    const built = join(dir, 'build', 'hostcheck.cjs');
    await buildBundle(built);
    bundle = join(dir, 'hostcheck.cjs');
    copyFileSync(built, bundle);
    rmSync(join(dir, 'build'), { recursive: true });
  }, 60_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** `env -i PATH=<node's dir> node hostcheck.cjs ARGS` in the temp directory. */
  async function hostcheck(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const r = await run('env', ['-i', `PATH=${dirname(process.execPath)}`, 'node', bundle, ...args], { cwd: dir });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  it('--version prints the version and the protocol version', async () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const r = await hostcheck(['--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(version);
    expect(r.stdout).toMatch(new RegExp(`protocol ${PROTOCOL_VERSION}\\b`));
  });

  it('finds the first incident\'s docker0 in a captured bundle (exit 1)', async () => {
    const r = await hostcheck(['--bundle', ECS3, '--peer', '172.17.0.64']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ERROR docker0 172\.17\.0\.0\/16 .* captures replies to 172\.17\.0\.64\b.*\[route-captures-peer\]/);
  });

  it('loads every lazily imported face for --help (serve without its native module)', async () => {
    expect((await hostcheck(['--help'])).code).toBe(0);
    for (const face of ['trace', 'agent', 'capture', 'serve', 'install']) {
      const r = await hostcheck([face, '--help']);
      expect(r.code, `${face}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain(`Usage: hostcheck ${face}`);
    }
  });
});

describe('the single executable (npm run build:sea) run from an empty directory with env -i', () => {
  let dir: string;
  let binary: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hostcheck-sea-'));
    const bundle = join(dir, 'hostcheck.cjs');
    await buildBundle(bundle);
    binary = join(dir, 'hostcheck-linux-x64');
    buildSea(bundle, binary);
    rmSync(bundle);
  }, 120_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function sea(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const r = await run('env', ['-i', 'PATH=/nonexistent', binary, ...args], { cwd: dir });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  it('--version, without node on PATH', async () => {
    const r = await sea(['--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`protocol ${PROTOCOL_VERSION}\\b`));
  });

  it("finds the first incident's docker0 in a captured bundle (exit 1), as dist/hostcheck.cjs does", async () => {
    const r = await sea(['--bundle', ECS3, '--peer', '172.17.0.64', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { findings: { check: string; severity: string; subject: string }[] };
    expect(report.findings.filter((f) => f.severity === 'error').map((f) => `${f.check} ${f.subject}`)).toEqual(['route-captures-peer docker0 172.17.0.0/16 captures 172.17.0.64']);
  });

  it('answers route get and says what serve needs', async () => {
    const r = await sea(['route', 'get', '172.17.0.64', '--bundle', ECS3]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^172\.17\.0\.64 dev docker0 /);
    const serve = await sea(['serve', '--db', join(dir, 'x.db'), '--listen', '127.0.0.1:0']);
    expect(serve.code).not.toBe(0);
    expect(serve.stderr).toMatch(/better-sqlite3 \(native\) is not installed beside this file/);
  });
});
