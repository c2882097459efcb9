/**
 * Snapshot → what goes on the wire: the digest that says whether anything changed, and the
 * snapshot itself — whole, or above FULL_SNAPSHOT_MAX_ROUTES routes only the fleet's parts plus
 * `partial` (docs/protocol.md, "A million routes").
 */
import { createHash } from 'node:crypto';
import type { Finding } from '../model/finding.js';
import { memo, memoKey } from '../model/memo.js';
import { FULL_SNAPSHOT_MAX_ROUTES, type ReportMessage } from '../model/protocol.js';
import type { RouteRecord } from '../model/records.js';
import type { RouteList } from '../model/route-list.js';
import type { HostSnapshot } from '../model/snapshot.js';

/**
 * Fields that change on every collection without the host changing. The neighbour table's states
 * flip (REACHABLE, STALE, DELAY) as traffic comes and goes; what the checks read from it shows in
 * the findings, whose digest still sends a report.
 */
const VOLATILE_KEYS = new Set(['collectedAt', 'durationMs', 'counters', 'neighbours']);
// iptables-save -c prints `[packets:bytes]` on chain and rule lines; evidence quotes them.
const COUNTER_TEXT = /\[\d+:\d+\]/g;

function stable(key: string, value: unknown): unknown {
  if (VOLATILE_KEYS.has(key)) return undefined;
  // nft -j: {"counter": {"packets": N, "bytes": N}} inside rule expressions.
  if (key === 'counter' && value && typeof value === 'object' && 'packets' in value) return undefined;
  if (typeof value === 'string' && (key === 'text' || key === 'line')) return value.replace(COUNTER_TEXT, '[]');
  return value;
}

/** JSON with volatile fields removed; the input to every digest. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, stable) ?? 'null';
}

// Route records carry no volatile field, so they skip the (slow) replacer: 1M routes in ~1 s.
const ROUTES_DIGEST = memoKey<RouteList, string>('agent: routes digest');

/**
 * sha256 of the routes: of the command outputs they were parsed from when those say everything
 * (a million routes: ~50 ms instead of ~2 s making and stringifying every record), else of each
 * route's JSON, element by element (a million routes never become one string).
 */
export function routesDigest(routes: RouteList): string {
  return memo(routes, ROUTES_DIGEST, digestRoutes);
}

function digestRoutes(routes: RouteList): string {
  const hash = createHash('sha256');
  const texts = routes.texts();
  if (texts !== undefined) {
    hash.update('route texts\n');
    for (const t of texts) hash.update(`${t.source ?? ''}\n${t.text.length}\n`).update(t.text);
    return hash.digest('hex');
  }
  const chunk: string[] = [];
  for (let i = 0; i < routes.length; i += 1000) {
    chunk.length = 0;
    for (let k = i; k < Math.min(i + 1000, routes.length); k++) chunk.push(JSON.stringify(routes.get(k)));
    hash.update(chunk.join('\n')).update('\n');
  }
  return hash.digest('hex');
}

/** sha256 of the snapshot minus volatile fields (collectedAt, durations, iptables counters). */
export function snapshotDigest(snapshot: HostSnapshot): string {
  const { routes, collectedAt: _collectedAt, ...rest } = snapshot;
  return createHash('sha256').update(stableJson(rest)).update(routesDigest(routes)).digest('hex');
}

export function findingsDigest(findings: readonly Finding[]): string {
  return createHash('sha256').update(stableJson(findings)).digest('hex');
}

const REJECT_TYPES = new Set(['blackhole', 'unreachable', 'prohibit', 'throw', 'nat']);

/**
 * The routes the fleet needs from a big table: everything except the plain unicast bulk of
 * main/local through the uplinks (a full BGP table) — routes on bridges, tunnels and other
 * non-uplink devices, defaults, other tables, reject types.
 */
export function fleetRoutes(snapshot: HostSnapshot): RouteRecord[] {
  const uplinks = new Set(snapshot.interfaces.filter((i) => i.uplink).map((i) => i.name));
  const routes = snapshot.routes;
  const out: RouteRecord[] = [];
  for (let i = 0; i < routes.length; i++) {
    // The bulk (a plain route through an uplink in main or local) is decided by column.
    const table = routes.table(i);
    const dev = routes.dev(i);
    if (routes.isPlain(i) && (table === 'main' || table === 'local') && !routes.isDefault(i) && dev !== undefined && uplinks.has(dev)) continue;
    const r = routes.get(i);
    if (keepForFleet(r, uplinks)) out.push(r);
  }
  return out;
}

function keepForFleet(r: RouteRecord, uplinks: Set<string>): boolean {
  if (r.table !== 'main' && r.table !== 'local') return true;
  if (REJECT_TYPES.has(r.type)) return true;
  if (r.dst === '0.0.0.0/0' || r.dst === '::/0') return true;
  const devs = [r.dev, ...r.nexthops.map((n) => n.dev)].filter((d): d is string => !!d);
  return devs.length === 0 || devs.some((d) => !uplinks.has(d));
}

export type WireSnapshot = ReportMessage['snapshot'];

/** The snapshot as sent; `maxRoutes` is the protocol's threshold (a parameter for tests). */
export function wireSnapshot(snapshot: HostSnapshot, maxRoutes = FULL_SNAPSHOT_MAX_ROUTES): WireSnapshot {
  if (snapshot.routes.length <= maxRoutes) return snapshot as unknown as WireSnapshot;
  const routes = fleetRoutes(snapshot);
  return {
    ...(snapshot as unknown as WireSnapshot),
    routes: routes as unknown as WireSnapshot['routes'],
    partial: { totalRoutes: snapshot.routes.length, sentRoutes: routes.length, digest: routesDigest(snapshot.routes) },
  };
}

/** Findings clamped to the protocol's bounds (a check quoting 500 lines must not lose the report). */
export function wireFindings(findings: readonly Finding[]): ReportMessage['findings'] {
  return findings.map((f) => ({ ...f, evidence: f.evidence.slice(0, 100), fix: f.fix.slice(0, 50) }));
}

export interface BuiltReport {
  message: ReportMessage;
  snapshotDigest: string;
  findingsDigest: string;
}

/** A report message for one check's result. */
export function buildReportMessage(seq: number, snapshot: HostSnapshot, findings: readonly Finding[], opts: { now?: Date; maxRoutes?: number; digests?: { snapshot: string; findings: string } } = {}): BuiltReport {
  const sDigest = opts.digests?.snapshot ?? snapshotDigest(snapshot);
  const fDigest = opts.digests?.findings ?? findingsDigest(findings);
  return {
    message: {
      type: 'report',
      seq,
      sentAt: (opts.now ?? new Date()).toISOString(),
      digest: sDigest,
      snapshot: wireSnapshot(snapshot, opts.maxRoutes),
      findings: wireFindings(findings),
      complete: snapshot.complete,
    },
    snapshotDigest: sDigest,
    findingsDigest: fDigest,
  };
}
