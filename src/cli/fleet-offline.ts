/**
 * Many bundles matched as `hostcheck serve` matches its agents, offline: the aggregator itself
 * (in-memory store) receives, per host, the report an agent would send once every other host is
 * known — the host's findings checked against the fleet context serve gives it, as the agent
 * checks them — so the fleet findings, merged findings and pair verdicts are serve's, by the same
 * code. Nothing a running fleet adds (first/last seen, state, acknowledgements) is kept.
 */
import { buildReportMessage, prepareSnapshot } from '../agent/report.js';
import { analysisOptions } from '../agent/messages.js';
import { Aggregator } from '../aggregator/aggregator.js';
import { emptyCredentials } from '../aggregator/auth.js';
import { AggregatorMetrics } from '../aggregator/metrics.js';
import { brokenPairs, pairFacts, pairVerdict, type PairVerdict } from '../aggregator/pairs.js';
import { SqliteStore } from '../aggregator/store-sqlite.js';
import { analyzeSnapshot } from '../checks/analyze.js';
import { joinKernelEvidence } from '../checks/kernel-join.js';
import type { Bundle } from '../collect/bundle.js';
import { hostcheckVersion } from '../collect/collect.js';
import { buildSnapshot } from '../collect/snapshot.js';
import type { HostcheckConfig } from '../model/config.js';
import type { Finding } from '../model/finding.js';
import type { ReportMessage } from '../model/protocol.js';
import type { Topology } from '../model/topology.js';
import { buildReport, type Report } from '../report/json.js';

/** Up to this many hosts the pair matrix holds every pair; above, only the pairs that are not ok. */
export const FULL_MATRIX_HOSTS = 200;

export interface OfflineFleet {
  /** Each host's one-shot report, checked against its fleet context. */
  hosts: Report[];
  /** Every finding as serve stores it: host and fleet findings merged by key, with where each came from. */
  findings: { finding: Finding; sources: ('host' | 'fleet')[] }[];
  pairs: PairVerdict[];
  /** All pairs, or only those not ok (above FULL_MATRIX_HOSTS hosts). */
  matrix: 'full' | 'not-ok';
}

const EMPTY_CONFIG: HostcheckConfig = { peers: [], remotes: [], ports: [], ignore: [] };

export async function matchOffline(bundles: Bundle[], opts: { topology?: Topology; config?: HostcheckConfig } = {}): Promise<OfflineFleet> {
  const config = opts.config ?? EMPTY_CONFIG;
  const store = new SqliteStore(':memory:');
  try {
    const agg = new Aggregator({ store, credentials: emptyCredentials(), metrics: new AggregatorMetrics(), topology: opts.topology });
    const snapshots = bundles.map(buildSnapshot);
    // Every host is known before any context is made: serve's state once all agents reported.
    for (const s of snapshots) agg.index.upsert(s.identity.name, s);
    const hosts: Report[] = [];
    for (const [i, snapshot] of snapshots.entries()) {
      const name = snapshot.identity.name;
      const addresses = new Set(snapshot.interfaces.flatMap((x) => x.addresses.map((a) => a.cidr.split('/')[0])));
      const { rejected: _rejected, ...analyze } = analysisOptions(config, agg.contextFor(name), { name, addresses });
      const analysis = analyzeSnapshot(snapshot, analyze);
      analysis.notes.push(...(bundles[i].meta.notes ?? []));
      // Bundles: no kernel was asked (every finding says so), as an agent reporting a bundle says.
      analysis.findings = joinKernelEvidence(analysis.findings, undefined, name);
      const message = buildReportMessage(1, prepareSnapshot(snapshot, bundles[i], { inline: true }), analysis.findings);
      const hello = { type: 'hello' as const, protocol: 1, agentVersion: hostcheckVersion(), name, identity: { hostname: snapshot.identity.hostname }, credential: { kind: 'token' as const, token: 'offline' }, lastSeq: 0 };
      // What the wire carries: the message as JSON, as the aggregator receives it.
      await agg.report(hello, JSON.parse(JSON.stringify(message)) as ReportMessage, 0);
      hosts.push(buildReport({ version: hostcheckVersion(), snapshot, ...analysis }));
    }
    const names = snapshots.map((s) => s.identity.name);
    const full = names.length <= FULL_MATRIX_HOSTS;
    const facts = await pairFacts(agg);
    const pairs = full ? names.flatMap((a, i) => names.slice(i + 1).map((b) => pairVerdict(agg, facts, a, b))) : brokenPairs(agg, facts);
    const findings = (await store.findings()).map((s) => ({ finding: s.finding, sources: s.sources }));
    return { hosts, findings, pairs, matrix: full ? 'full' : 'not-ok' };
  } finally {
    await store.close();
  }
}

/** 1 with an error finding, else 3 when a host's collection was incomplete, else 0. */
export function fleetExitCode(f: OfflineFleet): number {
  if (f.findings.some((x) => x.finding.severity === 'error')) return 1;
  return f.hosts.every((h) => h.complete) ? 0 : 3;
}
