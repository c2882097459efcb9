/**
 * Lab-captured check fixtures for the datapath checks: builds each case's lab, runs
 * `bin/hostcheck capture` in the host under test, and copies the command outputs the checks read
 * into fixtures/checks/<check>/<case>/ with its case.json. Then `npm run goldens:checks` writes
 * expected.json. As root, after `npm run build`:
 *
 *   tsx test/lab/make-check-fixtures.ts [CHECK...]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHECK_FIXTURE_CASES, type CheckFixtureCase } from './datapath-fixture-cases.js';
import { normaliseFile } from './fixture-normalise.js';
import { Lab, repoRoot } from './lab.js';

/** The outputs the checks read; a file the capture did not write is left out. */
const FILES = ['ip-addr.txt', 'ip-link.txt', 'ip-neigh.txt', 'ip-route-v4.txt', 'ip-route-v6.txt', 'ip-rule-v4.txt', 'ip-rule-v6.txt', 'iptables-save.txt', 'ip6tables-save.txt', 'sysctl.txt', 'tc-filter.txt', 'ipvs.txt'];

async function capture(c: CheckFixtureCase): Promise<void> {
  const lab = await Lab.create(c.topology());
  const dir = mkdtempSync(join(tmpdir(), 'hc-check-fixture-'));
  try {
    for (const line of c.before ?? []) await lab.applyFix(c.host, line);
    const out = join(dir, 'bundle');
    const r = await lab.hostcheck(c.host, ['capture', '--out', out, '--name', c.host]);
    if (r.exitCode !== 0 && r.exitCode !== 3) throw new Error(`capture in ${c.host} failed (${r.exitCode}): ${r.stderr}`);
    const target = join(repoRoot, 'fixtures', 'checks', c.check, c.name);
    rmSync(target, { recursive: true, force: true });
    mkdirSync(target, { recursive: true });
    for (const f of FILES) {
      const from = join(out, f);
      if (!existsSync(from)) continue;
      // Counters, dates, timers and the lab's namespace names change from run to run.
      writeFileSync(join(target, f), normaliseFile(f, readFileSync(from, 'utf8'), lab.prefix));
    }
    for (const [f, text] of Object.entries(c.extraFiles ?? {})) writeFileSync(join(target, f), text);
    writeFileSync(join(target, 'case.json'), `${JSON.stringify(c.options)}\n`);
    console.log(`${c.check}/${c.name}: captured from ${c.host}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await lab.destroy();
  }
}

const only = new Set(process.argv.slice(2));
for (const c of CHECK_FIXTURE_CASES) {
  if (only.size > 0 && !only.has(c.check)) continue;
  await capture(c);
}
