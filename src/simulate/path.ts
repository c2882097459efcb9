/**
 * The path tracer: follows one packet hop by hop through each known host's simulated routing,
 * firewall and IPsec policies (snapshots) and through the topology's cloud nodes (VPN gateways,
 * VPC routers), without sending anything. Pure: snapshots + topology + query in, hops out.
 * Outcomes: delivered, loop (with the cycle and who answers "Time to live exceeded"),
 * blackhole, dropped (by which rule), or left the known network (where). Documented in docs/path.md.
 */
import { memo, memoKey } from '../model/memo.js';
import { evidenceOf, uniqueEvidence, type Evidence } from '../model/finding.js';
import type { HostSnapshot } from '../model/snapshot.js';
import type { Topology } from '../model/topology.js';
import { parseAddress } from '../net/address.js';
import { cloudStep, cloudNodeAt, cloudStart } from './path-cloud.js';
import { outPolicyFor } from './path-selectors.js';
import { PathQueryError, type Packet, type PathHop, type PathLeg, type PathNode, type PathQuery, type PathResult, type Step } from './path-types.js';
import { evaluatePacket } from './netfilter.js';
import type { LocalAddress, NetfilterPacket } from './netfilter-types.js';
import { lookup } from './route-lookup.js';
import { fibOf } from './snapshot-fib.js';

export * from './path-types.js';

/** Hops followed before giving up without a repeated state (a path longer than any real one). */
const MAX_HOPS = 64;

const hostName = (s: HostSnapshot): string => s.identity.name;

function ownsAddress(s: HostSnapshot, ip: string): string | undefined {
  for (const i of s.interfaces) for (const a of i.addresses) if (a.cidr.split('/')[0] === ip) return i.name;
  return undefined;
}

type Holder = { snapshot: HostSnapshot; iface: string };

/**
 * Address → the hosts holding it (each with its first interface that does), in snapshot order:
 * built once per snapshot list, so each hop of a path costs a lookup, not a scan of the fleet.
 * The lists path queries pass are built for the query and not changed while it runs.
 */
const HOLDERS = memoKey<readonly HostSnapshot[], Map<string, Holder[]>>('path: address holders');

function holdersOf(snapshots: readonly HostSnapshot[]): Map<string, Holder[]> {
  return memo(snapshots, HOLDERS, indexHolders);
}

function indexHolders(snapshots: readonly HostSnapshot[]): Map<string, Holder[]> {
  const index = new Map<string, Holder[]>();
  for (const s of snapshots) {
    for (const i of s.interfaces) {
      for (const a of i.addresses) {
        const ip = a.cidr.split('/')[0];
        let list = index.get(ip);
        if (!list) index.set(ip, (list = []));
        if (!list.some((h) => h.snapshot === s)) list.push({ snapshot: s, iface: i.name });
      }
    }
  }
  return index;
}

/** The host (and interface) that holds an address. */
export function hostAt(snapshots: readonly HostSnapshot[], ip: string, except?: HostSnapshot): Holder | undefined {
  return holdersOf(snapshots).get(ip)?.find((h) => h.snapshot !== except);
}

function sysctl(s: HostSnapshot, key: string): string | undefined {
  return s.sysctls.find((r) => r.key === key)?.value.trim();
}

function sysctlEvidence(s: HostSnapshot, key: string): Evidence[] {
  return evidenceOf(s.sysctls.find((r) => r.key === key)?.origin);
}

function firewall(s: HostSnapshot, p: Packet, path: 'input' | 'output' | 'forward', inIf?: string, outIf?: string): { verdict: string; where?: string; evidence: Evidence[] } {
  const family = parseAddress(p.dst)?.family ?? 4;
  const tables = family === 4 ? s.netfilter.v4 : s.netfilter.v6;
  if (tables.length === 0) return { verdict: 'accept', evidence: [] };
  const packet: NetfilterPacket = {
    family, src: p.src, dst: p.dst, proto: p.proto === 'icmp' ? (family === 4 ? 'icmp' : 'icmpv6') : p.proto,
    ...(p.proto === 'icmp' ? { icmpType: p.reply ? (family === 4 ? 0 : 129) : (family === 4 ? 8 : 128), icmpCode: 0 } : { sport: p.reply ? p.dport : 40000, dport: p.reply ? 40000 : p.dport, tcpFlags: p.reply ? 0x12 : 2 }),
    inIf, outIf, ctstate: p.reply ? 'ESTABLISHED' : 'NEW',
  };
  const r = evaluatePacket({ tables, ipsets: s.ipsets, nftTables: s.nft }, packet, { path, localAddresses: localAddressesOf(s) });
  const d = r.decidedBy;
  const where = d ? `${d.table}/${d.chain}${d.rule ? ` rule ${d.rule.position}` : d.policy ? ' policy' : ''}` : undefined;
  return { verdict: r.verdict, where, evidence: d?.rule ? evidenceOf(d.rule.origin) : [] };
}

/** The host's addresses with their devices, one array per snapshot (so `-m addrtype`'s local table is built once too). */
const LOCAL_ADDRESSES = memoKey<HostSnapshot, LocalAddress[]>('path: local addresses');
const localAddressesOf = (s: HostSnapshot): LocalAddress[] =>
  memo(s, LOCAL_ADDRESSES, () => s.interfaces.flatMap((i) => i.addresses.map((a) => ({ cidr: a.cidr, dev: i.name }))));

/** The next node behind a gateway address (or the destination itself when on-link). */
function neighbour(snapshots: readonly HostSnapshot[], topology: Topology | undefined, from: HostSnapshot | undefined, nextIp: string): PathNode | undefined {
  const h = hostAt(snapshots, nextIp, from);
  if (h) return { kind: 'host', snapshot: h.snapshot, iif: h.iface };
  const c = topology ? cloudNodeAt(topology, nextIp) : undefined;
  return c ? { kind: 'cloud', node: c, iif: 'vpc' } : undefined;
}

/** One host's handling of the packet, as its kernel would: local delivery, forwarding, routing, firewall, IPsec. */
function hostStep(snapshots: readonly HostSnapshot[], topology: Topology | undefined, s: HostSnapshot, iif: string | undefined, p: Packet): Step {
  const node = hostName(s);
  const base = { node, kind: 'host' as const, ...(iif && { iif }), ttl: p.ttl };
  const fib = fibOf(s);
  const r = lookup(fib, { dst: p.dst, src: p.src, ...(iif && { iif }), ipproto: p.proto, dport: p.dport }, { trace: true });
  const routeEv = (): Evidence[] => uniqueEvidence([
    ...(r.rule && r.rule.origin.lineNumber > 0 && !(r.rule.priority === 32766 && r.rule.table === 'main') ? evidenceOf(r.rule.origin) : []),
    ...evidenceOf(r.route?.origin),
  ]);
  if (r.type === 'local' || (iif && ownsAddress(s, p.dst))) {
    const fw = firewall(s, p, 'input', iif);
    if (fw.verdict === 'drop' || fw.verdict === 'reject') {
      return { hop: { ...base, action: 'drop', note: `the firewall ${fw.verdict}s it: ${fw.where ?? 'INPUT'}`, evidence: fw.evidence }, outcome: 'dropped', detail: `${node}: ${fw.where ?? 'INPUT'} ${fw.verdict}s it` };
    }
    return { hop: { ...base, action: 'deliver', note: `${p.dst} is local here`, evidence: routeEv() }, outcome: 'delivered' };
  }
  if (iif) {
    const fwd = sysctl(s, parseAddress(p.dst)?.family === 6 ? 'net.ipv6.conf.all.forwarding' : 'net.ipv4.ip_forward');
    if (fwd === '0') {
      return { hop: { ...base, action: 'drop', note: 'forwarding is off', evidence: sysctlEvidence(s, 'net.ipv4.ip_forward') }, outcome: 'dropped', detail: `${node} does not forward (net.ipv4.ip_forward = 0)` };
    }
    if (p.ttl <= 1) return { hop: { ...base, action: 'drop', note: 'TTL exceeded', evidence: [] }, outcome: 'dropped', detail: `${node}: TTL exceeded` };
  }
  if (r.type !== 'unicast' || !r.dev) {
    const what = r.type === 'none' ? 'no route' : `a ${r.type} ${r.route ? 'route' : 'rule'}`;
    return { hop: { ...base, action: 'blackhole', note: `${what} for ${p.dst}`, evidence: routeEv() }, outcome: 'blackhole', detail: `${node}: ${what} for ${p.dst}${r.table ? ` (table ${r.table})` : ''}` };
  }
  const fw = firewall(s, p, iif ? 'forward' : 'output', iif, r.dev);
  if (fw.verdict === 'drop' || fw.verdict === 'reject') {
    return { hop: { ...base, action: 'drop', dev: r.dev, note: `the firewall ${fw.verdict}s it: ${fw.where}`, evidence: fw.evidence }, outcome: 'dropped', detail: `${node}: ${fw.where} ${fw.verdict}s it` };
  }
  const policy = outPolicyFor(s.xfrmPolicies, { src: p.src, dst: p.dst, proto: p.proto, dport: p.dport, outIf: r.dev });
  if (policy) {
    const tmpl = policy.templates.find((t) => t.mode === 'tunnel') ?? policy.templates[0];
    const ev = uniqueEvidence([...evidenceOf(policy.origin), ...routeEv()]);
    if (policy.action === 'block') return { hop: { ...base, action: 'drop', note: 'an IPsec block policy', evidence: ev }, outcome: 'dropped', detail: `${node}: IPsec policy ${policy.selector.src} → ${policy.selector.dst} blocks it` };
    return {
      hop: { ...base, action: 'encrypt', dev: r.dev, note: `IPsec policy ${policy.selector.src} → ${policy.selector.dst} encrypts it${tmpl ? ` (tunnel ${tmpl.src} → ${tmpl.dst})` : ''}`, evidence: ev },
      outcome: 'left',
      detail: `encrypted at ${node} into the IPsec tunnel ${tmpl ? `${tmpl.src} → ${tmpl.dst}` : ''} (the far side is not in the known network; this hostcheck cannot see whether an SA exists)`,
    };
  }
  const nextIp = r.via ?? p.dst;
  // A bridge or tunnel reaches this host's own containers or tunnel peers, never another known host;
  // one with no carrier (an idle docker0) reaches nothing at all.
  const outIface = s.interfaces.find((i) => i.name === r.dev);
  if (outIface && !outIface.uplink && outIface.kind !== 'loopback') {
    const hop: PathHop = { ...base, action: iif ? 'forward' : 'send', dev: r.dev, ...(r.via && { via: r.via }), note: `${r.route?.dst ?? ''} dev ${r.dev} (${outIface.owner?.type ?? outIface.kind}${outIface.noCarrier ? ', no carrier' : ''})`.trim(), evidence: routeEv() };
    if (outIface.noCarrier) return { hop, outcome: 'blackhole', detail: `${node}: the route sends it into ${r.dev}, which has no carrier (nothing attached): dropped` };
    return { hop, outcome: 'left', detail: `left the known network at ${node} into ${r.dev} (${outIface.owner?.type ?? outIface.kind}): only this host's own containers or tunnel peers are there` };
  }
  const next = neighbour(snapshots, topology, s, nextIp);
  const hop: PathHop = { ...base, action: iif ? 'forward' : 'send', dev: r.dev, ...(r.via && { via: r.via }), note: `${r.route?.dst ?? ''}${r.via ? ` via ${r.via}` : ''} dev ${r.dev}${r.table && r.table !== 'main' ? ` table ${r.table}` : ''}`.trim(), evidence: routeEv() };
  if (!next) return { hop, outcome: 'left', detail: `left the known network at ${node} through ${r.dev}${r.via ? ` to ${r.via}` : ''}: no bundle or topology node holds ${nextIp}` };
  return { hop, next };
}

function stepAt(snapshots: readonly HostSnapshot[], topology: Topology | undefined, at: PathNode, p: Packet): Step {
  if (at.kind === 'host') return hostStep(snapshots, topology, at.snapshot, at.iif, p);
  return cloudStep(topology!, at.node, p, (ip) => neighbour(snapshots, topology, undefined, ip));
}

const stateKey = (at: PathNode, p: Packet): string => `${at.kind === 'host' ? hostName(at.snapshot) : at.node.name}|${at.iif ?? ''}|${p.src}|${p.dst}`;

/** Follow one packet from `start` until it is delivered, dropped, leaves, or repeats a state. */
export function followPacket(snapshots: readonly HostSnapshot[], topology: Topology | undefined, start: PathNode, p: Packet): PathLeg {
  const hops: PathHop[] = [];
  const seen = new Map<string, number>();
  let at: PathNode | undefined = start;
  let ttl = p.ttl;
  for (let i = 0; at && i < MAX_HOPS * 2; i++) {
    const key = stateKey(at, p);
    const first = seen.get(key);
    if (first !== undefined) {
      const cycle = hops.slice(first).map((h) => h.node);
      return { src: p.src, dst: p.dst, outcome: 'loop', hops, cycle, timeExceeded: expiry(snapshots, topology, hops, first, p) };
    }
    seen.set(key, hops.length);
    const step = stepAt(snapshots, topology, at, { ...p, ttl });
    hops.push(step.hop);
    if (step.outcome) return { src: p.src, dst: p.dst, outcome: step.outcome, hops, ...(step.detail && { detail: step.detail }) };
    // Forwarders decrement; the sender does not.
    if (step.hop.iif !== undefined) ttl--;
    at = step.next;
  }
  return { src: p.src, dst: p.dst, outcome: 'left', hops, detail: `no end after ${hops.length} hops` };
}

/** Which node's forwarding spends the last TTL, and the address its "Time to live exceeded" comes from. */
function expiry(snapshots: readonly HostSnapshot[], topology: Topology | undefined, hops: PathHop[], cycleStart: number, p: Packet): PathLeg['timeExceeded'] {
  const forwarders = hops.map((h, i) => ({ h, i })).filter(({ h }) => h.iif !== undefined);
  const prefix = forwarders.filter(({ i }) => i < cycleStart);
  const cycle = forwarders.filter(({ i }) => i >= cycleStart);
  if (cycle.length === 0) return undefined;
  // The k-th forwarder receives TTL p.ttl - (k - 1) and answers when that is 1 or less.
  const k = p.ttl;
  const hop = k <= prefix.length ? prefix[k - 1].h : cycle[(k - prefix.length - 1) % cycle.length].h;
  const snap = snapshots.find((s) => hostName(s) === hop.node);
  let address: string | undefined;
  if (snap) {
    const back = lookup(fibOf(snap), { dst: p.src });
    address = back.src;
  } else if (topology) address = cloudStart(topology, hop.node)?.address;
  return { node: hop.node, ...(address && { address }), hop: k };
}

/** Where a query starts: a host by name or address, or a topology host behind a cloud node. */
function startOf(snapshots: readonly HostSnapshot[], topology: Topology | undefined, from: string): { node: PathNode; address?: string } {
  const byName = snapshots.find((s) => hostName(s) === from || s.identity.hostname === from);
  if (byName) return { node: { kind: 'host', snapshot: byName } };
  if (parseAddress(from)) {
    const h = hostAt(snapshots, from);
    if (h) return { node: { kind: 'host', snapshot: h.snapshot }, address: from };
    const c = topology ? cloudStart(topology, from) : undefined;
    if (c) return { node: { kind: 'cloud', node: c.node, iif: 'vpc' }, address: from };
  } else if (topology) {
    const named = cloudStart(topology, from);
    if (named && !parseAddress(from)) return { node: { kind: 'cloud', node: named.node, iif: 'vpc' }, address: named.address };
    const th = topology.hosts.find((h) => h.name === from);
    const own = th?.addresses.map((a) => hostAt(snapshots, a)).find((x) => x);
    if (own) return { node: { kind: 'host', snapshot: own.snapshot } };
    const c = th ? cloudStart(topology, th.addresses[0]) : undefined;
    if (c) return { node: { kind: 'cloud', node: c.node, iif: 'vpc' }, address: th!.addresses[0] };
  }
  throw new PathQueryError(`"${from}" is neither a bundle's host name, an address a bundle holds, nor a host the topology places`);
}

function parsePort(port: string | undefined): { proto: Packet['proto']; dport?: number } {
  if (!port || port === 'icmp') return { proto: 'icmp' };
  const m = /^(tcp|udp)\/(\d{1,5})$/.exec(port);
  if (!m || Number(m[2]) > 65535) throw new PathQueryError(`--port "${port}": expected icmp, tcp/N or udp/N`);
  return { proto: m[1] as 'tcp' | 'udp', dport: Number(m[2]) };
}

/** Trace `query` forward and, when it is delivered, the reply. */
export function tracePath(snapshots: readonly HostSnapshot[], topology: Topology | undefined, query: PathQuery): PathResult {
  const dst = parseAddress(query.to);
  if (!dst) throw new PathQueryError(`--to "${query.to}" is not an address`);
  if (query.source !== undefined && !parseAddress(query.source)) throw new PathQueryError(`--source "${query.source}" is not an address`);
  const { proto, dport } = parsePort(query.port);
  const start = startOf(snapshots, topology, query.from);
  const notes: string[] = [];
  let src = query.source ?? start.address;
  if (!src && start.node.kind === 'host') {
    const snap = start.node.snapshot;
    // Without a route the kernel picks no source; any global address shows where the packet dies.
    src = lookup(fibOf(snap), { dst: query.to }).src ?? snap.interfaces.flatMap((i) => i.addresses).find((x) => x.family === dst.family && x.scope !== 'host')?.cidr.split('/')[0];
  }
  if (!src) throw new PathQueryError(`no source address for ${query.from} → ${query.to}: give --source`);
  const ttlText = start.node.kind === 'host' ? sysctl(start.node.snapshot, 'net.ipv4.ip_default_ttl') : undefined;
  const ttl = query.ttl ?? (ttlText && /^\d+$/.test(ttlText) ? Number(ttlText) : 64);
  const forward = followPacket(snapshots, topology, start.node, { src, dst: query.to, proto, dport, ttl });
  let reply: PathLeg | undefined;
  if (forward.outcome === 'delivered') {
    const last = forward.hops[forward.hops.length - 1];
    const at = snapshots.find((s) => hostName(s) === last.node);
    if (at) reply = followPacket(snapshots, topology, { kind: 'host', snapshot: at }, { src: query.to, dst: src, proto, dport, ttl: 64, reply: true });
    else notes.push(`the reply is not traced: ${last.node} is a cloud node`);
  } else notes.push('no reply: the request is not delivered');
  return { query, forward, ...(reply && { reply }), notes };
}
