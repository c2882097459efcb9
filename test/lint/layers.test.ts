/**
 * The layer lint (.dependency-cruiser.cjs, run by `npm run lint`) fails on each kind of import
 * DESIGN.md forbids: a value, type-only or inline `import()` type from parsers/ in a later layer,
 * a parser type re-exported through the model, the model reaching for I/O or another layer, and an
 * import circle. Each case plants its files in a private tree that mirrors the repository's.
 */
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cruise } from 'dependency-cruiser';

const repo = resolve(import.meta.dirname, '../..');
const trees: string[] = [];

/** The parser every case may import from, and a model type it returns. */
const base: Record<string, string> = {
  'src/net/address.ts': 'export const bits = 32;\n',
  'src/model/records.ts': "import { bits } from '../net/address.js';\nexport interface Thing { n: number }\nexport const width = bits;\n",
  'parsers/thing.ts': "import type { Thing } from '../src/model/records.js';\nexport interface ThingParse { records: Thing[] }\nexport function parse(): ThingParse { return { records: [] }; }\n",
  'src/simulate/walk.ts': "import type { Thing } from '../model/records.js';\nexport const walk = (t: Thing): number => t.n;\n",
  'src/collect/read.ts': "import { parse } from '../../parsers/thing.js';\nexport const read = () => parse();\n",
};

/** Violations of the project's own rules in a tree of `base` plus `files`, as `rule: from -> to`. */
async function violations(files: Record<string, string>): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'hc-layers-'));
  trees.push(dir);
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: [] }, include: ['src/**/*.ts', 'parsers/**/*.ts'] }));
  for (const [path, text] of Object.entries({ ...base, ...files })) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const { default: ruleSet } = await import(join(repo, '.dependency-cruiser.cjs'));
    const result = await cruise(['src', 'parsers'], { ruleSet, ...ruleSet.options, validate: true, outputType: 'json' });
    const output = typeof result.output === 'string' ? JSON.parse(result.output) : result.output;
    return (output.summary.violations as { rule: { name: string }; from: string; to: string }[]).map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
  } finally {
    process.chdir(cwd);
  }
}

afterAll(() => {
  for (const dir of trees) rmSync(dir, { recursive: true, force: true });
});

describe('the layer lint', () => {
  it('passes a tree that keeps the layers', async () => {
    expect(await violations({})).toEqual([]);
  });

  it('fails a value import from parsers/ in src/simulate', async () => {
    const v = await violations({ 'src/simulate/bad.ts': "import { parse } from '../../parsers/thing.js';\nexport const x = parse();\n" });
    expect(v).toEqual(['layer-simulate: src/simulate/bad.ts -> parsers/thing.ts']);
  });

  it('fails a type-only import from parsers/ in src/checks', async () => {
    const v = await violations({ 'src/checks/bad.ts': "import type { ThingParse } from '../../parsers/thing.js';\nexport type X = ThingParse;\n" });
    expect(v).toEqual(['layer-checks: src/checks/bad.ts -> parsers/thing.ts']);
  });

  it("fails an inline import('...') type from parsers/ in src/report", async () => {
    const v = await violations({ 'src/report/bad.ts': "export type X = import('../../parsers/thing.js').ThingParse;\n" });
    expect(v).toEqual(['layer-report: src/report/bad.ts -> parsers/thing.ts']);
  });

  it('fails a parser type re-exported through the model', async () => {
    const v = await violations({
      'src/model/again.ts': "export type { ThingParse } from '../../parsers/thing.js';\n",
      'src/aggregator/uses.ts': "import type { ThingParse } from '../model/again.js';\nexport type X = ThingParse;\n",
    });
    expect(v).toContain('layer-model: src/model/again.ts -> parsers/thing.ts');
  });

  it('fails src/agent and src/aggregator importing parsers/', async () => {
    const v = await violations({
      'src/agent/bad.ts': "import { parse } from '../../parsers/thing.js';\nexport const x = parse;\n",
      'src/aggregator/bad.ts': "import type { ThingParse } from '../../parsers/thing.js';\nexport type X = ThingParse;\n",
    });
    expect(v.sort()).toEqual(['layer-agent: src/agent/bad.ts -> parsers/thing.ts', 'layer-aggregator: src/aggregator/bad.ts -> parsers/thing.ts']);
  });

  it('fails the model importing another layer, a Node built-in or an npm package other than zod and ip-cidr', async () => {
    const v = await violations({
      'src/model/bad.ts': "import { readFileSync } from 'node:fs';\nimport { parse as yaml } from 'yaml';\nimport { walk } from '../simulate/walk.js';\nimport { z } from 'zod';\nexport const x = [readFileSync, yaml, walk, z];\n",
    });
    expect(v).toContain('layer-model: src/model/bad.ts -> src/simulate/walk.ts');
    expect(v).toContain('model-npm: src/model/bad.ts -> fs');
    expect(v.filter((x) => x.startsWith('model-npm:') && x.includes('/yaml/'))).toHaveLength(1);
    expect(v.filter((x) => x.includes('zod'))).toEqual([]);
    expect(v).toHaveLength(3);
  });

  it('fails an import circle, type-only imports included', async () => {
    const v = await violations({
      'src/simulate/a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
      'src/simulate/b.ts': "import type { A } from './a.js';\nexport interface B { a?: A }\n",
    });
    // dependency-cruiser names a circle once, at the edge where it closes.
    expect(v).toHaveLength(1);
    expect(v[0]).toMatch(/^no-circular: src\/simulate\/[ab]\.ts -> src\/simulate\/[ab]\.ts$/);
  });
});
