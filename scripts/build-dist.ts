/**
 * The distributables (docs/install.md):
 *   tsx scripts/build-dist.ts          → dist/hostcheck.cjs: one CommonJS file, every JavaScript
 *                                        dependency bundled by esbuild; runs with a plain `node` ≥ 20.
 *   tsx scripts/build-dist.ts --sea    → also dist/hostcheck-linux-x64: Node's single executable
 *                                        (the bundle as a SEA blob, injected with postject).
 * better-sqlite3 is native and stays external: `hostcheck serve` needs it from node_modules.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { ONE_SHOT_SUBCOMMANDS as ONESHOT_SUBCOMMANDS, SUBCOMMAND_NAMES } from '../src/cli/program.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
export const BUNDLE = join(dist, 'hostcheck.cjs');
export const SEA_BINARY = join(dist, `hostcheck-${process.platform}-${process.arch}`);
/** Native modules that cannot be inlined; only the aggregator's store loads one. */
const EXTERNAL = ['better-sqlite3'];
/** The fuse postject flips so Node runs the injected blob (Node's SEA documentation). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const ENTRY = `import { runCli } from './src/cli/main.ts';\nvoid runCli(process.argv).then((code) => { process.exitCode = code; });\n`;

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };

/**
 * src/collect/collect.ts reads its version with createRequire(import.meta.url)('../../package.json'):
 * in one file run from anywhere there is no package.json, so the bundle's createRequire answers
 * package.json from the build and hands every other id to Node's own.
 */
const embedPackageJson: Plugin = {
  name: 'embed-package-json',
  setup(b) {
    b.onResolve({ filter: /^(node:)?module$/ }, (args) =>
      args.importer.startsWith(join(root, 'src')) ? { path: 'module-with-package-json', namespace: 'hostcheck' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'hostcheck' }, () => ({
      loader: 'js',
      contents: [
        `import * as real from 'node:module';`,
        `const PACKAGE_JSON = ${JSON.stringify({ name: pkg.name, version: pkg.version })};`,
        `export function createRequire(from) {`,
        `  const inner = real.createRequire(from);`,
        `  const req = (id) => (/(^|\\/)package\\.json$/.test(id) ? PACKAGE_JSON : inner(id));`,
        `  return Object.assign(req, { resolve: inner.resolve, cache: inner.cache });`,
        `}`,
        `export default { ...real, createRequire };`,
      ].join('\n'),
    }));
  },
};

/**
 * better-sqlite3 is loaded when the database is opened, not when the module is: `hostcheck --help`
 * loads every subcommand (serve too), and the one file must not fail for want of the aggregator's
 * native module. Without it, `serve` says how to install the aggregator.
 */
const lazyNative: Plugin = {
  name: 'lazy-native',
  setup(b) {
    b.onResolve({ filter: /^better-sqlite3$/ }, (args) => (args.namespace === 'lazy-native' ? { path: args.path, external: true } : { path: args.path, namespace: 'lazy-native' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-native' }, (args) => ({
      loader: 'js',
      contents: [
        `module.exports = function LazyNative(...args) {`,
        `  let Real;`,
        `  try { Real = require(${JSON.stringify(args.path)}); } catch (err) {`,
        `    throw new Error('${args.path} (native) is not installed beside this file: the aggregator runs from npm (npm install -g hostcheck), see docs/install.md', { cause: err });`,
        `  }`,
        `  return new Real(...args);`,
        `};`,
      ].join('\n'),
    }));
  },
};

/** Bundle the CLI into dist/hostcheck.cjs; returns its size in bytes. */
export async function buildBundle(outfile = BUNDLE): Promise<number> {
  await bundleCjs(ENTRY, outfile, '#!/usr/bin/env node\n');
  chmodSync(outfile, 0o755);
  return statSync(outfile).size;
}

/** One CommonJS file of `entry` (TypeScript source), every dependency but the native one inlined. */
async function bundleCjs(entry: string, outfile: string, shebang: string, external: string[] = []): Promise<void> {
  mkdirSync(dirname(outfile), { recursive: true });
  const result = await build({
    stdin: { contents: entry, resolveDir: root, sourcefile: 'dist-entry.ts', loader: 'ts' },
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: [...EXTERNAL, ...external],
    plugins: [embedPackageJson, lazyNative],
    define: { 'import.meta.url': '__hostcheck_bundle_url' },
    banner: { js: `${shebang}"use strict";\nconst __hostcheck_bundle_url = require("node:url").pathToFileURL(__filename).href;` },
    legalComments: 'none',
    logLevel: 'warning',
    metafile: false,
  });
  if (result.errors.length > 0) throw new Error(`esbuild: ${result.errors.map((e) => e.text).join('; ')}`);
}

/** The one-shot alone (src/cli/oneshot.ts), which bin/hostcheck runs from V8's code cache. */
export const ONESHOT_BUNDLE = join(dist, 'oneshot.cjs');
export const ONESHOT_CODE_CACHE = join(dist, 'oneshot.cache');
/** The subcommand list for bin/hostcheck (CommonJS, reads it before loading any module): from src/cli/program.ts. */
export const SUBCOMMANDS_JSON = join(dist, 'subcommands.json');
/**
 * Dependencies the one-shot loads only now and then (zod for a config file or
 * --remote, systeminformation without /etc/machine-id): required from node_modules when they
 * are, so the file read and compiled on every run is 2.1 MB smaller. bin/hostcheck runs it
 * only from a checkout or an npm install, where node_modules is.
 */
const ONESHOT_EXTERNAL = ['zod', 'systeminformation'];
/** A captured bundle the one-shot runs on at build time, so the code cache holds what it runs. */
const CODE_CACHE_TRAINING_BUNDLE = join(root, 'fixtures', 'scenarios', 'first-incident', 'ecs3');

/**
 * dist/oneshot.cjs and its code cache dist/oneshot.cache: bin/hostcheck compiles the one-shot
 * from the cache instead of parsing and compiling it on every run. The cache is made by running
 * that one-shot on a captured bundle (read-only: nothing is collected from this machine) with
 * HOSTCHECK_WRITE_CODE_CACHE set, so it holds the functions a one-shot runs. A cache V8 rejects
 * (another node) costs nothing but the speed.
 */
export async function buildOneShot(): Promise<{ bundleBytes: number; cacheBytes: number }> {
  mkdirSync(dist, { recursive: true });
  writeFileSync(SUBCOMMANDS_JSON, JSON.stringify({ subcommands: SUBCOMMAND_NAMES, oneShot: ONESHOT_SUBCOMMANDS }) + '\n');
  await bundleCjs(`export { runOneShotCli } from './src/cli/oneshot.ts';\n`, ONESHOT_BUNDLE, '', ONESHOT_EXTERNAL);
  rmSync(ONESHOT_CODE_CACHE, { force: true });
  // Peers as in the first incident: route lookups, an error finding and its fix run too.
  const r = spawnSync(process.execPath, [join(root, 'bin', 'hostcheck'), '--bundle', CODE_CACHE_TRAINING_BUNDLE, '--peer', '172.17.0.64=ecs1', '--peer', '172.18.1.22=ecs2', '--json'], {
    env: { ...process.env, HOSTCHECK_WRITE_CODE_CACHE: ONESHOT_CODE_CACHE, NO_COLOR: '1' },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  // Exit 1: the first incident's finding, as it should be.
  if (r.status !== 1 || !existsSync(ONESHOT_CODE_CACHE)) {
    throw new Error(`the one-shot on ${CODE_CACHE_TRAINING_BUNDLE} exited ${r.status} (expected 1) ${r.stderr.slice(0, 500)}`);
  }
  return { bundleBytes: statSync(ONESHOT_BUNDLE).size, cacheBytes: statSync(ONESHOT_CODE_CACHE).size };
}

/** Where bin/hostcheck looks first in a checkout: the CLI as ESM chunks, one per face. */
export const CHECKOUT_BUNDLE_DIR = join(dist, 'esm');

/**
 * The checkout's fast start: the CLI bundled into ESM chunks (one chunk per lazily loaded face),
 * so a one-shot loads a handful of files instead of ~75 modules. bin/hostcheck uses it when it is
 * newer than build/.
 */
export async function buildCheckoutBundle(outdir = CHECKOUT_BUNDLE_DIR): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  const result = await build({
    entryPoints: [join(root, 'src', 'cli', 'main.ts')],
    outdir,
    bundle: true,
    splitting: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: EXTERNAL,
    // Bundled CommonJS dependencies call require(): give the chunks one.
    banner: { js: 'import { createRequire as __hostcheckRequire } from "node:module"; const require = __hostcheckRequire(import.meta.url);' },
    // A module's source text stays in V8's heap as long as its functions live, for the life of the
    // resident agent: without comments and indentation the chunks `hostcheck agent` loads hold
    // 0.93 MB instead of 1.3 MB, and no chunk keeps a comment's non-ASCII character, which made
    // V8 hold its whole text at two bytes a character (docs/agent.md, "Memory"). Names stay, so
    // stack traces still name their functions.
    minifyWhitespace: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  if (result.errors.length > 0) throw new Error(`esbuild: ${result.errors.map((e) => e.text).join('; ')}`);
}

/** Node's single executable: blob from the bundle, a copy of this node, the blob injected. */
export function buildSea(bundle = BUNDLE, output = SEA_BINARY): void {
  const work = join(dist, 'sea');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const blob = join(work, 'hostcheck.blob');
  const config = join(work, 'sea-config.json');
  writeFileSync(config, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }, null, 2));
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'inherit' });
  rmSync(output, { force: true });
  copyFileSync(process.execPath, output);
  chmodSync(output, 0o755);
  // postject is a devDependency; `npx --no-install` fails clearly when it is missing.
  execFileSync('npx', [process.env.HOSTCHECK_NPX_YES ? '--yes' : '--no-install', 'postject', output, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { stdio: 'inherit', cwd: root });
  rmSync(work, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const started = performance.now();
  const size = await buildBundle();
  process.stderr.write(`dist: ${BUNDLE} (${(size / 1024).toFixed(0)} KiB, ${Math.round(performance.now() - started)} ms)\n`);
  await buildCheckoutBundle();
  process.stderr.write(`dist: ${CHECKOUT_BUNDLE_DIR}/ (ESM chunks for bin/hostcheck)\n`);
  const oneShot = await buildOneShot();
  process.stderr.write(`dist: ${ONESHOT_BUNDLE} (${(oneShot.bundleBytes / 1024).toFixed(0)} KiB) and its code cache (${(oneShot.cacheBytes / 1024).toFixed(0)} KiB)\n`);
  if (process.argv.includes('--sea')) {
    buildSea();
    process.stderr.write(`dist: ${SEA_BINARY} (${(statSync(SEA_BINARY).size / 1048576).toFixed(0)} MiB)\n`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`build-dist: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
