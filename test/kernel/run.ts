/**
 * `npm run test:kernel -- [--setups N] [--seed S] [vitest args...]`: builds, then runs the
 * kernel differential suites (test/kernel) with HOSTCHECK_KERNEL_SETUPS / HOSTCHECK_KERNEL_SEED.
 * Without options the suites run their CI defaults; a file filter (`route-diff`) runs one suite.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function usage(message: string): never {
  process.stderr.write(`test:kernel: ${message}\nusage: npm run test:kernel -- [--setups N] [--seed S] [vitest args...]\n`);
  process.exit(2);
}

const env: NodeJS.ProcessEnv = { ...process.env };
const passThrough: string[] = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  const [key, inline] = arg.split('=', 2);
  if (arg === '--') continue;
  if (key !== '--setups' && key !== '--seed') { passThrough.push(arg); continue; }
  const value = inline ?? args[++i];
  if (value === undefined || !/^\d+$/.test(value)) usage(`${key} needs a whole number`);
  if (key === '--setups' && Number(value) === 0) usage('--setups must be at least 1');
  env[key === '--setups' ? 'HOSTCHECK_KERNEL_SETUPS' : 'HOSTCHECK_KERNEL_SEED'] = value;
}

const run = (cmd: string, argv: string[]): number => spawnSync(cmd, argv, { cwd: root, env, stdio: 'inherit' }).status ?? 1;

// The suites run bin/hostcheck, which loads build/. tsc still writes every file when it reports
// type errors (work in progress elsewhere), so those only warn.
if (run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json']) !== 0) {
  process.stderr.write('test:kernel: the build reported errors (above); running on what it wrote\n');
}
// File filters given (e.g. route-diff) replace the default of every suite in test/kernel.
const filters = passThrough.some((a) => !a.startsWith('-')) ? [] : ['test/kernel'];
process.exit(run(join(root, 'node_modules', '.bin', 'vitest'), ['run', ...filters, ...passThrough]));
