/**
 * Check fixtures: fixtures/checks/<check-id>/<case>/ holds `case.json`, the inputs, and
 * `expected.json` (the findings of that check, golden). `npm run goldens:checks` rewrites them.
 * A case names its family in case.json (default host):
 *
 * - host: command outputs (bundle file names, e.g. ip-route-v4.txt, ip-addr.txt) beside
 *   `case.json` ({ host, peers, remotes, ports, routeFor });
 * - fleet: `{ "family": "fleet", "scenario": "../../../scenarios/<name>", "hosts"?: [...], "topology"?: FILE }`
 *   — the scenario's host bundles (all, or the listed ones) matched as `hostcheck serve` matches them;
 * - trace: `{ "family": "trace", "trace": FILE, "source"?: IP, "topology"?: FILE }` — traceroute output
 *   analysed as `hostcheck trace --analyze FILE` does.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseTraceroute } from '../parsers/traceroute.js';
import { FleetIndex } from '../src/aggregator/fleet-index.js';
import { analyzeFleet } from '../src/checks/analyze-fleet.js';
import { analyzeSnapshot } from '../src/checks/analyze.js';
import { analyzeTrace } from '../src/checks/analyze-trace.js';
import type { Family } from '../src/checks/types.js';
import { readBundle } from '../src/collect/bundle.js';
import { bundleFromFolder } from '../src/collect/bundle-dir.js';
import { buildSnapshot } from '../src/collect/snapshot.js';
import type { Finding } from '../src/model/finding.js';
import type { HostSnapshot } from '../src/model/snapshot.js';
import { topologyFromText } from '../src/collect/topology-file.js';
import type { Topology } from '../src/model/topology.js';
import { addressNamer } from '../src/trace/names.js';
import { pathFromTraceroute } from '../src/trace/path.js';

export const checkFixturesRoot = resolve(import.meta.dirname, '..', 'fixtures', 'checks');

export interface CheckCase {
  check: string;
  name: string;
  dir: string;
  family: Family;
  positive: boolean;
}

interface CaseFile {
  family?: Family;
  // host
  host?: string;
  peers?: { address: string; name?: string }[];
  remotes?: string[];
  ports?: string[];
  routeFor?: string[];
  conntrackMargin?: number;
  /** Where a case's outputs come from, when they are another host's (read by people, not the runner). */
  capturedFrom?: string;
  // fleet
  scenario?: string;
  hosts?: string[];
  topology?: string;
  // trace
  trace?: string;
  source?: string;
}

const caseFile = (dir: string): CaseFile => JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as CaseFile;

export function checkCases(): CheckCase[] {
  if (!existsSync(checkFixturesRoot)) return [];
  const out: CheckCase[] = [];
  for (const check of readdirSync(checkFixturesRoot).sort()) {
    for (const name of readdirSync(join(checkFixturesRoot, check)).sort()) {
      const dir = join(checkFixturesRoot, check, name);
      out.push({ check, name, dir, family: caseFile(dir).family ?? 'host', positive: name.startsWith('positive') });
    }
  }
  return out;
}

function topologyOf(dir: string, c: CaseFile): Topology | undefined {
  return c.topology ? topologyFromText(readFileSync(resolve(dir, c.topology), 'utf8'), c.topology) : undefined;
}

/** A fleet case's hosts, in name order: each a snapshot of the scenario's bundle. */
export async function fleetCaseSnapshots(dir: string): Promise<{ snapshots: HostSnapshot[]; topology?: Topology }> {
  const c = caseFile(dir);
  const scenario = resolve(dir, c.scenario!);
  const hosts = c.hosts ?? readdirSync(scenario, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  const snapshots: HostSnapshot[] = [];
  for (const h of hosts) snapshots.push(buildSnapshot(await readBundle(join(scenario, h))));
  const topology = topologyOf(dir, c);
  return { snapshots, ...(topology && { topology }) };
}

/** The findings of the case's own check, in its family. */
export async function runCheckCase(k: CheckCase): Promise<Finding[]> {
  const c = caseFile(k.dir);
  if (k.family === 'fleet') {
    const { snapshots, topology } = await fleetCaseSnapshots(k.dir);
    const fleet = new FleetIndex();
    for (const s of snapshots) fleet.upsert(s.identity.name, s);
    return analyzeFleet(fleet, topology).filter((f) => f.check === k.check);
  }
  if (k.family === 'trace') {
    const topology = topologyOf(k.dir, c);
    const path = pathFromTraceroute(parseTraceroute(readFileSync(join(k.dir, c.trace!), 'utf8')), c.source ? { source: c.source } : {});
    return analyzeTrace(path, { names: addressNamer({ ...(topology && { topology }) }), ...(topology && { topology }) }).findings.filter((f) => f.check === k.check);
  }
  const snapshot = buildSnapshot(bundleFromFolder(k.dir, c.host ?? 'host'));
  const analysis = analyzeSnapshot(snapshot, { peers: c.peers ?? [], remotes: c.remotes ?? [], ports: c.ports ?? [], routeFor: c.routeFor ?? [], ...(c.conntrackMargin !== undefined && { conntrackMargin: c.conntrackMargin }), ignore: [] });
  if (analysis.notes.some((n) => n.startsWith('check '))) throw new Error(analysis.notes.join('; '));
  return analysis.findings.filter((f) => f.check === k.check);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  for (const c of checkCases()) {
    const findings = await runCheckCase(c);
    writeFileSync(join(c.dir, 'expected.json'), JSON.stringify(findings, null, 2) + '\n');
    console.log(`${c.check}/${c.name} (${c.family}): ${findings.map((f) => `${f.severity} ${f.subject}`).join(', ') || 'no findings'}`);
  }
}
