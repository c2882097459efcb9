/**
 * Check fixtures: fixtures/checks/<check-id>/<case>/ holds command outputs (bundle file names,
 * e.g. ip-route-v4.txt, ip-addr.txt), `case.json` ({ peers, remotes, ports, routeFor, host }) and
 * `expected.json` (the findings of that check, golden). `npm run goldens:checks` rewrites them.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { analyzeSnapshot } from '../src/checks/analyze.js';
import { bundleFromFolder } from '../src/collect/bundle-dir.js';
import { buildSnapshot } from '../src/collect/snapshot.js';
import type { Finding } from '../src/model/finding.js';

export const checkFixturesRoot = resolve(import.meta.dirname, '..', 'fixtures', 'checks');

export interface CheckCase {
  check: string;
  name: string;
  dir: string;
  positive: boolean;
}

export function checkCases(): CheckCase[] {
  if (!existsSync(checkFixturesRoot)) return [];
  const out: CheckCase[] = [];
  for (const check of readdirSync(checkFixturesRoot).sort()) {
    for (const name of readdirSync(join(checkFixturesRoot, check)).sort()) {
      out.push({ check, name, dir: join(checkFixturesRoot, check, name), positive: name.startsWith('positive') });
    }
  }
  return out;
}

/** The findings of the case's own check. */
export function runCheckCase(c: CheckCase): Finding[] {
  const opts = JSON.parse(readFileSync(join(c.dir, 'case.json'), 'utf8')) as { host?: string; peers?: { address: string; name?: string }[]; remotes?: string[]; ports?: string[]; routeFor?: string[] };
  const snapshot = buildSnapshot(bundleFromFolder(c.dir, opts.host ?? 'host'));
  const analysis = analyzeSnapshot(snapshot, { peers: opts.peers ?? [], remotes: opts.remotes ?? [], ports: opts.ports ?? [], routeFor: opts.routeFor ?? [], ignore: [] });
  if (analysis.notes.some((n) => n.startsWith('check '))) throw new Error(analysis.notes.join('; '));
  return analysis.findings.filter((f) => f.check === c.check);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  for (const c of checkCases()) {
    const findings = runCheckCase(c);
    writeFileSync(join(c.dir, 'expected.json'), JSON.stringify(findings, null, 2) + '\n');
    console.log(`${c.check}/${c.name}: ${findings.map((f) => `${f.severity} ${f.subject}`).join(', ') || 'no findings'}`);
  }
}
