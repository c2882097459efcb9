/**
 * bin/hostcheck's fast start for the one-shot: dist/oneshot.cjs compiled from V8's code cache
 * (npm run build writes both). It must answer exactly as the full CLI does, take only the
 * one-shot's argv, and its cache must be one this node accepts.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ONE_SHOT_SUBCOMMANDS, SUBCOMMAND_NAMES } from '../../src/cli/program.js';
import { repoRoot } from '../helpers/samples.js';

const run = promisify(execFile);
const BIN = join(repoRoot, 'bin', 'hostcheck');
const ECS3 = join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3');

interface Run { code: number; stdout: string; stderr: string }

async function hostcheck(args: string[], env: Record<string, string> = {}): Promise<Run> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, maxBuffer: 16 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The same argv through the fast start (reporting its cache) and through the full CLI. */
async function both(args: string[]): Promise<{ fast: Run; full: Run }> {
  const [fast, full] = await Promise.all([
    hostcheck(args, { HOSTCHECK_REPORT_CODE_CACHE: '1' }),
    hostcheck(args, { HOSTCHECK_NO_CODE_CACHE: '1' }),
  ]);
  return { fast, full };
}

const CACHE_LINE = /^hostcheck: code cache (accepted|rejected|absent)\n/m;

describe('the one-shot from dist/oneshot.cjs and its code cache', () => {
  it('is built by npm run build', () => {
    expect(existsSync(join(repoRoot, 'dist', 'oneshot.cjs'))).toBe(true);
    expect(existsSync(join(repoRoot, 'dist', 'oneshot.cache'))).toBe(true);
  });

  it('is steered by dist/subcommands.json, program.ts\'s one subcommand list', () => {
    const written = JSON.parse(readFileSync(join(repoRoot, 'dist', 'subcommands.json'), 'utf8'));
    expect(written).toEqual({ subcommands: [...SUBCOMMAND_NAMES], oneShot: [...ONE_SHOT_SUBCOMMANDS] });
  });

  it.each([
    ['a finding (exit 1)', ['--bundle', ECS3, '--peer', '172.17.0.64=ecs1', '--peer', '172.18.1.22']],
    ['JSON', ['--bundle', ECS3, '--peer', '172.17.0.64', '--json']],
    ['run with --remote', ['run', '--bundle', ECS3, '--remote', '172.17.5.0/24', '--quiet']],
    ['a usage error (exit 2)', ['--bundle', ECS3, '--remote', '10.0.0.0/33']],
    ['--version', ['--version']],
  ])('answers as the full CLI does: %s', async (_name, args) => {
    const { fast, full } = await both(args);
    expect(fast.stderr).toMatch(CACHE_LINE);
    expect(fast.stderr).toContain('code cache accepted');
    const strip = (s: string) => s.replace(/"collectedAt": "[^"]*"/, '');
    expect({ code: fast.code, stdout: strip(fast.stdout), stderr: fast.stderr.replace(CACHE_LINE, '') })
      .toEqual({ code: full.code, stdout: strip(full.stdout), stderr: full.stderr });
  });

  it.each([
    ['a subcommand', ['route', 'get', '8.8.8.8', '--bundle', ECS3]],
    ['the program help', ['--help']],
    ['run --help', ['run', '--help']],
    ['an unknown command', ['nosuchcommand']],
  ])('leaves other argv to the full CLI: %s', async (_name, args) => {
    const { fast, full } = await both(args);
    expect(fast.code).toBe(full.code);
    expect(fast.stdout).toBe(full.stdout);
    // An unknown operand loads the one-shot file first (then hands over); a subcommand name never does.
    if (args[0] === 'nosuchcommand') expect(fast.stderr.replace(CACHE_LINE, '')).toBe(full.stderr);
    else expect(fast.stderr).toBe(full.stderr);
  });
});

describe('a damaged dist/oneshot.cjs', () => {
  it('is reported, and the full CLI answers instead', async () => {
    // A tree like the checkout: bin/ copied, build/, dist/esm and node_modules linked, a broken one-shot file.
    const root = mkdtempSync(join(tmpdir(), 'hostcheck-oneshot-'));
    try {
      cpSync(join(repoRoot, 'bin'), join(root, 'bin'), { recursive: true });
      for (const d of ['build', 'node_modules', 'package.json']) symlinkSync(join(repoRoot, d), join(root, d));
      mkdirSync(join(root, 'dist'));
      symlinkSync(join(repoRoot, 'dist', 'esm'), join(root, 'dist', 'esm'));
      writeFileSync(join(root, 'dist', 'oneshot.cjs'), 'throw new Error("truncated build");\n');
      const r = await run(process.execPath, [join(root, 'bin', 'hostcheck'), '--bundle', ECS3, '--peer', '172.17.0.64', '--quiet'], { env: { ...process.env, NO_COLOR: '1' } })
        .then((x) => ({ code: 0, ...x }), (e: { code: number; stdout: string; stderr: string }) => e);
      expect(r.stderr).toMatch(/oneshot\.cjs did not load \(truncated build\); running the full CLI/);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('docker0');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
