/**
 * The resident agent never loads zod (~7 MB of its RSS, docs/agent.md "Memory"): the modules
 * `hostcheck agent` imports are recorded by a resolve hook in a fresh node, and zod is not among
 * them; the aggregator's protocol module, as a control, does load it. Nor pino (its worker
 * threads and transports): the agent writes its log lines itself (src/agent/log.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/samples.js';

const dir = mkdtempSync(join(tmpdir(), 'hc-no-zod-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'hooks.mjs'), "import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(process.env.HC_LOADED_LOG, r.url + '\\n'); return r; }\n");
writeFileSync(join(dir, 'register.mjs'), "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");

/** Every module URL a fresh node resolves while importing `modules` (compiled build/). */
function loadedBy(modules: string[]): string[] {
  const log = join(dir, `log-${Math.random().toString(36).slice(2)}`);
  writeFileSync(log, '');
  const code = modules.map((m) => `await import(${JSON.stringify(join(repoRoot, 'build', m))});`).join('\n');
  execFileSync(process.execPath, ['--import', join(dir, 'register.mjs'), '--input-type=module', '-e', code], { env: { ...process.env, HC_LOADED_LOG: log } });
  return readFileSync(log, 'utf8').split('\n').filter((l) => l.length > 0);
}

describe('the agent without zod', () => {
  it('hostcheck agent (the command, the agent loop, collection, checks, the kernel join) resolves no zod module', () => {
    const loaded = loadedBy(['src/cli/main.js', 'src/cli/commands-agent.js', 'src/agent/agent.js']);
    expect(loaded.length).toBeGreaterThan(50);
    expect(loaded.some((u) => u.includes('/src/checks/kernel-join.js'))).toBe(true);
    expect(loaded.filter((u) => u.includes('/node_modules/zod/'))).toEqual([]);
    expect(loaded.filter((u) => u.includes('/node_modules/pino') || u === 'node:worker_threads')).toEqual([]);
  });

  it('control: the protocol schemas the aggregator validates with do load zod', () => {
    expect(loadedBy(['src/model/protocol.js']).some((u) => u.includes('/node_modules/zod/'))).toBe(true);
  });
});
