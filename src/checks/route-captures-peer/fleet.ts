/**
 * route-captures-peer, fleet family: host B's bridge or tunnel route covers host A's address,
 * and B's own route lookup for a reply to A really leaves into that bridge. The candidates come
 * from the fleet index (A's addresses inside B's non-uplink routes); the finding is the host
 * family's finding on B with A as its peer — one builder (finding.ts), so one key and one text —
 * plus the pair [A, B]. First incident: ecs3's docker0 172.17.0.0/16 captures replies to ecs1.
 *
 * Speed: thousands of hosts may capture one peer. Where B's rules are plain the route comes from
 * the simulator's plain lookup (no FIB is built); otherwise the host family decides.
 */
import type { Peer } from '../../model/config.js';
import { memo, memoKey } from '../../model/memo.js';
import type { Evidence, Finding } from '../../model/finding.js';
import type { RouteRecord } from '../../model/records.js';
import type { HostSnapshot } from '../../model/snapshot.js';
import { parseAddress, type Address } from '../../net/address.js';
import { PlainRoutes } from '../../simulate/plain-lookup.js';
import { fleetFinding } from '../fleet-finding.js';
import type { FleetContext, FleetFinding, FleetView } from '../types.js';
import { interfaceByName } from '../view.js';
import { captureEvidence, ownerFix, peerCaptureFinding, replyUplink, type ReplyUplink, type TextShare } from './finding.js';
import { capturesOnHost, livesOnInterface } from './host.js';

/** Capturing host → the peers (address and owner) its non-uplink routes cover. */
type Candidates = Map<string, Map<string, string>>;
/**
 * What one run shares between its capturers: peer addresses parsed once (null: unreadable), and,
 * in a full match, equal texts kept once (many captures of one peer read alike, and the fleet
 * keeps every one; a run for one host finds a few and keeps its texts as they are). A class, not
 * closures: a run for one host takes microseconds, and the bench's tsx names each closure it makes.
 */
class RunShared implements TextShare {
  readonly parsed = new Map<string, Address | null>();
  private readonly texts: Map<string, string> | undefined;

  constructor(shareTexts: boolean) {
    this.texts = shareTexts ? new Map() : undefined;
  }

  share(text: string): string {
    if (this.texts === undefined) return text;
    const kept = this.texts.get(text);
    if (kept !== undefined) return kept;
    this.texts.set(text, text);
    return text;
  }
}

function addCandidate(out: Candidates, capturer: string, address: string, victim: string): void {
  if (capturer === victim) return;
  let peers = out.get(capturer);
  if (!peers) out.set(capturer, (peers = new Map()));
  peers.set(address, victim);
}

/** Others' addresses inside the capture routes of `capturer` (address → owner); undefined when none. */
function victimsOf(fleet: FleetView, capturer: string): Map<string, string> | undefined {
  let out: Map<string, string> | undefined;
  for (const r of fleet.routesOf(capturer)) {
    for (const a of fleet.addressesIn(r.prefix)) if (a.host !== capturer) (out ??= new Map()).set(a.address, a.host);
  }
  return out;
}

/** Pairs to verify after `host` reported: its capture routes against others' addresses, and the reverse. */
function candidates(fleet: FleetView, host: string): Candidates {
  const out: Candidates = new Map();
  const own = victimsOf(fleet, host);
  if (own) out.set(host, own);
  for (const a of fleet.addressesOf(host)) {
    for (const r of fleet.routesContaining(a.address)) addCandidate(out, r.host, a.address, host);
  }
  return out;
}

/** A map that holds its first entry in two fields: most capturers have one capture route and one peer. */
class FirstOrMap<K, V> {
  private key: K | undefined;
  private value: V | undefined;
  private more: Map<K, V> | undefined;

  get(k: K): V | undefined {
    return this.key === k ? this.value : this.more?.get(k);
  }

  set(k: K, v: V): void {
    if (this.key === undefined || this.key === k) {
      this.key = k;
      this.value = v;
    } else (this.more ??= new Map()).set(k, v);
  }
}

/** What a capturer's findings share, kept per snapshot (a report replaces the snapshot object). */
class CapturerPieces {
  readonly routes: PlainRoutes;
  /** The reply's uplink per family. */
  uplink4: ReplyUplink | undefined;
  uplink6: ReplyUplink | undefined;
  /** captureEvidence and ownerFix per capture route. */
  readonly pieces = new FirstOrMap<RouteRecord, { evidence: Evidence[]; ownerFix: string[] }>();
  /**
   * The verdict per peer address: a finding is a pure function of the snapshot and the peer (and
   * of the two hosts' names, checked on use), and the fleet asks again for every report and full
   * match. null: not captured.
   */
  readonly verdicts = new FirstOrMap<string, FleetFinding | null>();

  constructor(s: HostSnapshot) {
    this.routes = new PlainRoutes(s);
  }
}

const PIECES = memoKey<HostSnapshot, CapturerPieces>('fleet route-captures-peer: capturer pieces');

function piecesOf(s: HostSnapshot): CapturerPieces {
  return memo(s, PIECES, () => new CapturerPieces(s));
}

/** The finding for one peer from the plain lookup: a finding, null (not captured), or undefined (ask the host family). */
function lightVerify(capturer: string, s: HostSnapshot, address: string, victim: string, run: RunShared): FleetFinding | null | undefined {
  let a = run.parsed.get(address);
  if (a === undefined) run.parsed.set(address, (a = parseAddress(address)));
  if (!a) return undefined;
  const p = piecesOf(s);
  const known = p.verdicts.get(address);
  if (known === null || (known !== undefined && known.host === capturer && known.pairs[0][0] === victim)) return known;
  const w = p.routes.lookup(a);
  if (w === undefined) return undefined;
  const iface = w?.dev === undefined ? undefined : interfaceByName(s, w.dev);
  let finding: FleetFinding | null = null;
  if (w && iface && !iface.uplink && iface.kind !== 'loopback' && !livesOnInterface(s, iface, address)) {
    const uplink = a.family === 4 ? (p.uplink4 ??= replyUplink(s, 4)) : (p.uplink6 ??= replyUplink(s, 6));
    let pieces = p.pieces.get(w.route);
    if (!pieces) p.pieces.set(w.route, (pieces = { evidence: captureEvidence(w.rule, w.route, iface, a.family), ownerFix: ownerFix(s, iface, w.route.dst).map((step) => run.share(step)) }));
    finding = withPair(peerCaptureFinding({
      host: capturer, peer: { address, name: victim }, family: a.family, rule: w.rule, route: w.route, table: w.route.table, iface, uplink,
      evidence: pieces.evidence, ownerFix: pieces.ownerFix, texts: run,
    }), victim, capturer);
  }
  p.verdicts.set(address, finding);
  return finding;
}

/** The host family's finding as the fleet's: the same words, plus the pair it breaks. */
const withPair = (f: Finding, victim: string, capturer: string): FleetFinding => fleetFinding(f, [[victim, capturer]]);

/** The host family run on the capturer with the victims as its peers (the full simulator). */
export function verifyWithSimulator(capturer: string, snapshot: HostSnapshot, victims: Map<string, string>): FleetFinding[] {
  const peers: Peer[] = [...victims].map(([address, name]) => ({ address, name }));
  const out: FleetFinding[] = [];
  for (const f of capturesOnHost({ host: capturer, snapshot, peers, remotes: [], ports: [] })) {
    const address = f.peers?.[0] ?? '';
    const victim = victims.get(address);
    if (f.severity !== 'error' || victim === undefined || !f.subject.endsWith(` captures ${address}`)) continue;
    out.push(withPair(f, victim, capturer));
  }
  return out;
}

/** Plain-lookup verdicts where they decide, the host family for the rest. */
export function verifyCaptures(capturer: string, snapshot: HostSnapshot, victims: Map<string, string>, out: FleetFinding[], run = new RunShared(false)): void {
  let undecided: Map<string, string> | undefined;
  for (const [address, victim] of victims) {
    const f = lightVerify(capturer, snapshot, address, victim, run);
    if (f) out.push(f);
    else if (f === undefined) (undecided ??= new Map()).set(address, victim);
  }
  if (undecided) for (const f of verifyWithSimulator(capturer, snapshot, undecided)) out.push(f);
}

/** Every capture of a fleet host's address by another fleet host's bridge or tunnel route. */
export function capturesInFleet(ctx: FleetContext): FleetFinding[] {
  const { fleet, host } = ctx;
  const out: FleetFinding[] = [];
  const run = new RunShared(host === undefined);
  if (host !== undefined) {
    for (const [capturer, victims] of candidates(fleet, host)) {
      const snapshot = fleet.snapshot(capturer);
      if (snapshot) verifyCaptures(capturer, snapshot, victims, out, run);
    }
    return out;
  }
  // The whole fleet one capturer at a time: no map of every capturer's peers is held.
  for (const capturer of fleet.hosts()) {
    const victims = victimsOf(fleet, capturer);
    const snapshot = victims && fleet.snapshot(capturer);
    if (snapshot) verifyCaptures(capturer, snapshot, victims, out, run);
  }
  return out;
}
