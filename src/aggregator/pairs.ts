/**
 * Reachability verdicts for host pairs: broken when a fleet finding pairs them or an error finding
 * of either host names the other; unknown when either side has no usable, current snapshot; else ok.
 */
import type { Aggregator } from './aggregator.js';
import type { HostRow, StoredFinding } from './store.js';

/** What the verdicts read from the store, read once per request. */
export interface PairFacts {
  hosts: Map<string, HostRow>;
  /** Stored error findings. */
  errors: StoredFinding[];
}

export async function pairFacts(agg: Aggregator): Promise<PairFacts> {
  const [hosts, errors] = await Promise.all([agg.store.hosts(), agg.store.findings({ severity: 'error' })]);
  return { hosts: new Map(hosts.map((h) => [h.name, h])), errors };
}

export interface PairVerdict {
  from: string;
  to: string;
  verdict: 'ok' | 'broken' | 'unknown';
  cause: string;
  /** Keys of the findings that decide the verdict. */
  findings: string[];
}

export function pairVerdict(agg: Aggregator, facts: PairFacts, from: string, to: string): PairVerdict {
  const base = { from, to };
  for (const name of [from, to]) {
    const row = facts.hosts.get(name);
    if (!row) return { ...base, verdict: 'unknown', cause: `no report from ${name}`, findings: [] };
    if (row.stale) return { ...base, verdict: 'unknown', cause: `${name} is stale: silent since ${row.lastSeen}`, findings: [] };
    if (!agg.index.snapshot(name)) return { ...base, verdict: 'unknown', cause: `${name}'s snapshot could not be read`, findings: [] };
  }
  const fleet = agg.matcher.findingsOf(from).filter((f) => f.pairs.some((p) => p.includes(from) && p.includes(to))).sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  if (fleet.length) return { ...base, verdict: 'broken', cause: fleet.map((f) => `${f.host}: ${f.summary}`).join('; '), findings: fleet.map((f) => f.key) };
  const hostSide = [...hostFindingsNaming(agg, facts, from, to), ...hostFindingsNaming(agg, facts, to, from)];
  if (hostSide.length) return { ...base, verdict: 'broken', cause: hostSide.map((f) => `${f.host}: ${f.summary}`).join('; '), findings: hostSide.map((f) => f.key) };
  const incomplete = [from, to].filter((n) => !facts.hosts.get(n)!.complete);
  if (incomplete.length) return { ...base, verdict: 'unknown', cause: `incomplete collection on ${incomplete.join(' and ')}: no finding, but not every source was read`, findings: [] };
  return { ...base, verdict: 'ok', cause: 'no finding on either host blocks this pair', findings: [] };
}

/** Open error findings of `host` whose peers include one of `other`'s addresses or its name. */
function hostFindingsNaming(agg: Aggregator, facts: PairFacts, host: string, other: string) {
  const addresses = new Set([other, ...agg.index.addressesOf(other).map((a) => a.address)]);
  return facts.errors
    .filter((s) => s.state !== 'resolved' && s.finding.host === host && s.finding.peers?.some((p) => addresses.has(p)))
    .map((s) => s.finding);
}

/** Every broken pair the fleet knows of (from fleet findings and host findings naming peers). */
export function brokenPairs(agg: Aggregator, facts: PairFacts): PairVerdict[] {
  const seen = new Set<string>();
  const out: PairVerdict[] = [];
  const byAddress = new Map<string, string>();
  for (const h of agg.index.hosts()) for (const a of agg.index.addressesOf(h)) byAddress.set(a.address, h);
  const consider = (a: string, b: string): void => {
    const k = [a, b].sort().join('\u0000');
    if (a === b || seen.has(k)) return;
    seen.add(k);
    out.push(pairVerdict(agg, facts, a, b));
  };
  // In key order, and the answer sorted: every replica gives the same list whatever order its index was filled in.
  const byKey = <T>(list: T[], key: (t: T) => string): T[] => list.sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
  for (const f of byKey([...agg.fleetFindings()], (f) => f.key)) for (const [a, b] of f.pairs) consider(a, b);
  for (const s of byKey([...facts.errors], (e) => e.finding.key)) {
    if (s.state === 'resolved') continue;
    for (const p of s.finding.peers ?? []) {
      const other = byAddress.get(p);
      if (other) consider(s.finding.host, other);
    }
  }
  return byKey(out.filter((p) => p.verdict !== 'ok'), (p) => `${p.from}\u0000${p.to}`);
}
