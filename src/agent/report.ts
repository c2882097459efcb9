/**
 * Snapshot → what goes on the wire: the digest that says whether anything changed, the sections
 * of its big parts (src/collect/sections.ts), and the rest of the snapshot — above
 * FULL_SNAPSHOT_MAX_ROUTES routes with only the fleet's routes plus `partial` (docs/protocol.md,
 * "Sections" and "A million routes").
 */
import { createHash } from 'node:crypto';
import type { HostChange } from '../model/changes.js';
import type { Finding } from '../model/finding.js';
import type { KernelWindow } from '../model/kernel.js';
import type { Bundle } from '../collect/bundle.js';
import { encodeSections, hashText, skeletonOf, zeroNftCounterText, type EncodedSection } from '../collect/sections.js';
import { memo, memoKey } from '../model/memo.js';
import type { ReportMessage } from '../model/protocol.js';
import { FULL_SNAPSHOT_MAX_ROUTES } from '../model/protocol-version.js';
import type { RouteRecord } from '../model/records.js';
import type { RouteList } from '../model/route-list.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { isoTime } from '../model/iso-time.js';

/**
 * Fields that change on every collection without the host changing. The neighbour table's states
 * flip (REACHABLE, STALE, DELAY) as traffic comes and goes; what the checks read from it shows in
 * the findings, whose digest still sends a report. So do conntrack's statistics and the table's
 * count (nf_conntrack_count), which move with every connection.
 */
const VOLATILE_KEYS = new Set(['collectedAt', 'durationMs', 'counters', 'neighbours', 'conntrack']);
const VOLATILE_SYSCTL = 'net.netfilter.nf_conntrack_count';
// iptables-save -c prints `[packets:bytes]` on chain and rule lines; evidence quotes them.
const COUNTER_TEXT = /\[\d+:\d+\]/g;

function stable(key: string, value: unknown): unknown {
  if (VOLATILE_KEYS.has(key)) return undefined;
  if (value !== null && typeof value === 'object' && (value as { key?: unknown }).key === VOLATILE_SYSCTL) return undefined;
  // A finding's kernel verdict: its status and which signals moved change the report, the counts do not.
  if (key === 'kernel' && value && typeof value === 'object' && 'status' in value) {
    const k = value as { status: unknown; evidence?: string[] };
    return { status: k.status, evidence: (k.evidence ?? []).map((line) => line.replace(/\d+(?:\.\d+)?/g, '#')) };
  }
  // nft -j: {"counter": {"packets": N, "bytes": N}} inside rule expressions (and quoted in their texts).
  if (key === 'counter' && value && typeof value === 'object' && 'packets' in value) return undefined;
  if (typeof value === 'string' && (key === 'text' || key === 'line')) return zeroNftCounterText(value.replace(COUNTER_TEXT, '[]'));
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
    for (const t of texts) hashText(hash.update(`${t.source ?? ''}\n${t.text.length}\n`), t.text);
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

/** sha256 of the snapshot minus volatile fields (collectedAt, durations, counters); see prepareSnapshot. */
export function snapshotDigest(snapshot: HostSnapshot, bundle?: Bundle): string {
  return prepareSnapshot(snapshot, bundle).digest;
}

export function findingsDigest(findings: readonly Finding[]): string {
  return createHash('sha256').update(stableJson(findings)).digest('hex');
}

const REJECT_TYPES = new Set(['blackhole', 'unreachable', 'prohibit', 'throw', 'nat']);

/**
 * The routes the fleet needs from a big table: everything except the plain unicast bulk through
 * the uplinks, whatever the table (a full BGP table, a cloud's route injection) — routes on
 * bridges, tunnels and other non-uplink devices, defaults, reject types.
 */
export function fleetRoutes(snapshot: HostSnapshot): RouteRecord[] {
  const uplinks = new Set(snapshot.interfaces.filter((i) => i.uplink).map((i) => i.name));
  const routes = snapshot.routes;
  const out: RouteRecord[] = [];
  for (let i = 0; i < routes.length; i++) {
    // The bulk (a plain route through an uplink) is decided by column.
    const dev = routes.dev(i);
    if (routes.isPlain(i) && !routes.isDefault(i) && dev !== undefined && uplinks.has(dev)) continue;
    const r = routes.get(i);
    if (keepForFleet(r, uplinks)) out.push(r);
  }
  return out;
}

function keepForFleet(r: RouteRecord, uplinks: Set<string>): boolean {
  if (REJECT_TYPES.has(r.type)) return true;
  if (r.dst === '0.0.0.0/0' || r.dst === '::/0') return true;
  const devs = [r.dev, ...r.nexthops.map((n) => n.dev)].filter((d): d is string => !!d);
  return devs.length === 0 || devs.some((d) => !uplinks.has(d));
}

export type WireSnapshot = ReportMessage['snapshot'];

/** A snapshot ready to report: the sections of its big parts, the rest, and the digest of both. */
export interface PreparedSnapshot {
  /** The snapshot without its sectioned parts; above `maxRoutes` routes only the fleet's routes and `partial`. */
  skeleton: WireSnapshot;
  sections: EncodedSection[];
  /** sha256 of the skeleton without volatile fields and of the sections' digests: equal means unchanged. */
  digest: string;
}

/**
 * Split a snapshot for the wire (docs/protocol.md, "Sections"). `bundle` gives the dumps the
 * netfilter section is made of (without it the rules stay inline); `maxRoutes` is the protocol's
 * threshold for leaving the bulk of the routes out (a parameter for tests); `inline` gives protocol
 * 1's form (no sections).
 */
export function prepareSnapshot(snapshot: HostSnapshot, bundle?: Bundle, opts: { maxRoutes?: number; inline?: boolean } = {}): PreparedSnapshot {
  const maxRoutes = opts.maxRoutes ?? FULL_SNAPSHOT_MAX_ROUTES;
  const fleet = snapshot.routes.length > maxRoutes ? fleetRoutes(snapshot) : undefined;
  // inline: protocol 1's form, everything in the report (no sections).
  const sections = opts.inline ? [] : encodeSections(snapshot, { maxRoutes, dumps: bundle?.files, fleetRoutes: fleet });
  const skeleton = skeletonOf(snapshot, sections) as WireSnapshot & Record<string, unknown>;
  const hash = createHash('sha256');
  if (fleet) {
    if (!sections.some((s) => s.kind === 'routes')) skeleton.routes = fleet as unknown as WireSnapshot['routes'];
    skeleton.partial = { totalRoutes: snapshot.routes.length, sentRoutes: fleet.length, digest: routesDigest(snapshot.routes) };
  }
  // Inline routes are hashed apart from the rest (a million routes never become one string);
  // of a big table the digest of all its routes is in `partial`.
  if (fleet) hash.update(JSON.stringify(skeleton.partial));
  else if (!sections.some((s) => s.kind === 'routes')) hash.update(routesDigest(snapshot.routes));
  const { routes: _routes, partial: _partial, collectedAt: _collectedAt, ...rest } = skeleton;
  hash.update(stableJson(rest));
  for (const s of sections) hash.update(`\n${s.kind} ${s.digest}`);
  return { skeleton, sections, digest: hash.digest('hex') };
}

/** The window clamped to the protocol's bounds (a host with thousands of rules moving). */
export function wireWindow(w: KernelWindow): KernelWindow {
  const out: KernelWindow = { seconds: w.seconds, counters: w.counters.slice(0, 500), missing: w.missing.slice(0, 20) };
  if (w.drops) out.drops = { ...w.drops, drops: w.drops.drops.slice(0, 500) };
  return out;
}

/** Findings clamped to the protocol's bounds (a check quoting 500 lines must not lose the report). */
export function wireFindings(findings: readonly Finding[]): ReportMessage['findings'] {
  return findings.map((f) => ({ ...f, evidence: f.evidence.slice(0, 100), fix: f.fix.slice(0, 50), ...(f.kernel ? { kernel: { status: f.kernel.status, evidence: f.kernel.evidence.slice(0, 50) } } : {}) }));
}

/**
 * A report message for one check's result; its sections are sent before it (src/agent/agent.ts).
 * `kernel`: what the drop counters did since the previous check (docs/kernel.md); `changes`: the
 * host's change log since the previous check (docs/timeline.md).
 */
export function buildReportMessage(seq: number, prepared: PreparedSnapshot, findings: readonly Finding[], now = Date.now(), kernel?: KernelWindow, changes: readonly HostChange[] = []): ReportMessage {
  const sections: ReportMessage['sections'] = {};
  for (const s of prepared.sections) sections[s.kind] = s.digest;
  return {
    type: 'report',
    seq,
    sentAt: isoTime(now),
    digest: prepared.digest,
    snapshot: prepared.skeleton,
    ...(prepared.sections.length > 0 ? { sections } : {}),
    findings: wireFindings(findings),
    complete: prepared.skeleton.complete,
    ...(kernel ? { kernel: wireWindow(kernel) as ReportMessage['kernel'] } : {}),
    ...(changes.length > 0 ? { changes: [...changes] } : {}),
  };
}
