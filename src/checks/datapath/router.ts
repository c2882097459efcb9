/**
 * What a router forwards, and the packets the forwarding checks walk through it. A host with
 * forwarding on and more than one network is a router: peers on different sides of it are
 * checked through FORWARD. The networks it routes for are those it shows (a bridge with ports,
 * a SNAT/MASQUERADE rule for them, a FORWARD rule naming their device; not Docker's, CNI's or
 * Kubernetes' own bridges, whose owner writes their rules) and those --route-for names; their clients' new connections outward, their replies,
 * inbound connections to published ports (DNAT) and to --port, are walked.
 */
import type { Peer } from '../../model/config.js';
import { memo, memoKey } from '../../model/memo.js';
import { evidenceOf, type Evidence } from '../../model/finding.js';
import type { IptablesRule } from '../../model/netfilter.js';
import type { HostSnapshot, InterfaceModel } from '../../model/snapshot.js';
import {
  PRIVATE_PREFIXES, formatIPv4, formatIPv6, formatPrefix, parseAddress, parsePrefix, prefixContains, prefixesOverlap, type Prefix,
} from '../../net/address.js';
import { hostContext } from '../../simulate/host-context.js';
import { lookup } from '../../simulate/route-lookup.js';
import { walkPacket, type Walk, type WalkPacket } from '../../simulate/walk.js';
import { replyTo } from '../../simulate/walk-reply.js';
import type { HostContext } from '../types.js';
import { defaultRoutes, firstHost, networkOf } from '../view.js';
import { services, type Flow } from './flows.js';

/** Stands for "anywhere the default route leads" (documentation addresses count as public). */
export const INTERNET = { 4: '198.51.100.1', 6: '2001:db8:ffff::1' } as const;

/** A network whose traffic this host forwards. */
export interface RoutedNetwork {
  family: 4 | 6;
  cidr: string;
  prefix: Prefix;
  /** The device its packets arrive on. */
  dev: string;
  /** An address in it that is not this host's: the client whose packets are walked. */
  client: string;
  /** Why hostcheck thinks this host routes for it. */
  because: string;
  evidence: Evidence[];
}

/** A flow the forwarding checks walk, with what it is for people. */
export interface RouterFlow extends Flow {
  kind: 'outward' | 'inbound' | 'between-peers' | 'dnat';
  /** The routed network the flow starts in (outward) or goes to (inbound). */
  network?: RoutedNetwork;
  /** The DNAT rule of a port forward. */
  dnat?: IptablesRule;
  /** Where the destination is for people: "ecs2 172.18.1.22", "the internet". */
  target: string;
}

export interface RouterView {
  /** Forwarding on (IPv4 ip_forward, IPv6 all.forwarding) with its line. */
  forwarding: Record<4 | 6, boolean>;
  forwardingEvidence: Record<4 | 6, Evidence[]>;
  /** Networks of each family (connected prefixes of devices with carrier, lo aside). */
  networks: Record<4 | 6, number>;
  routed: RoutedNetwork[];
  /** Devices of the main table's default routes. */
  uplinks: Set<string>;
}

const VIEW = memoKey<HostContext, RouterView>('router view');
const ROUTER_FLOWS = memoKey<HostContext, RouterFlow[]>('router flows');

function sysctl(s: HostSnapshot, key: string): { value?: string; evidence: Evidence[] } {
  const r = s.sysctls.find((x) => x.key === key);
  return { value: r?.value.trim(), evidence: evidenceOf(r?.origin) };
}

function deviceUsable(i: InterfaceModel): boolean {
  return i.kind !== 'loopback' && !i.noCarrier && i.state !== 'DOWN' && i.name !== 'lo';
}

/** The first address of `p` that is not one of `locals`. */
function clientIn(p: Prefix, locals: Set<string>): string | undefined {
  for (let k = 1; k < 64; k++) {
    const text = p.family === 4 ? formatIPv4((p.value as number) + k >>> 0) : formatIPv6((p.value as bigint) + BigInt(k));
    const a = parseAddress(text);
    if (a === null || !prefixContains(p, a)) return undefined;
    if (!locals.has(text)) return text;
  }
  return undefined;
}

/** What this host is as a router. */
export function routerView(ctx: HostContext): RouterView {
  return memo(ctx, VIEW, buildRouterView);
}

function buildRouterView(ctx: HostContext): RouterView {
  const s = ctx.snapshot;
  const v4 = sysctl(s, 'net.ipv4.ip_forward');
  const v6 = sysctl(s, 'net.ipv6.conf.all.forwarding');
  const uplinks = new Set<string>();
  for (const family of [4, 6] as const) for (const r of defaultRoutes(s, family)) for (const d of [r.dev, ...r.nexthops.map((n) => n.dev)]) if (d) uplinks.add(d);
  const locals = new Set(s.interfaces.flatMap((i) => i.addresses.map((a) => a.cidr.split('/')[0])));
  const networks: Record<4 | 6, number> = { 4: 0, 6: 0 };
  const connected: { family: 4 | 6; prefix: Prefix; dev: InterfaceModel; origin: Evidence[] }[] = [];
  for (const i of s.interfaces) {
    if (!deviceUsable(i)) continue;
    for (const a of i.addresses) {
      if (a.scope !== undefined && a.scope !== 'global') continue;
      const p = networkOf(a);
      if (p === null || (p.family === 4 ? p.len >= 32 : p.len >= 128)) continue;
      if (connected.some((c) => c.prefix.family === p.family && c.prefix.value === p.value && c.prefix.len === p.len)) continue;
      connected.push({ family: a.family, prefix: p, dev: i, origin: evidenceOf(a.origin) });
      networks[a.family]++;
    }
  }
  const routed: RoutedNetwork[] = [];
  const ports = new Map<string, number>();
  for (const i of s.interfaces) if (i.master !== undefined && deviceUsable(i)) ports.set(i.master, (ports.get(i.master) ?? 0) + 1);
  const add = (family: 4 | 6, prefix: Prefix, dev: string, because: string, evidence: Evidence[]): void => {
    if (routed.some((r) => r.family === family && r.prefix.value === prefix.value && r.prefix.len === prefix.len)) return;
    const client = clientIn(prefix, locals);
    if (client === undefined) return;
    routed.push({ family, cidr: formatPrefix(prefix), prefix, dev, client, because, evidence });
  };
  const forwarding: Record<4 | 6, boolean> = { 4: v4.value === '1', 6: v6.value === '1' };
  // --route-for: connected or behind a gateway; its packets arrive where the route to it leaves.
  const fib = hostContext(s).fib;
  for (const cidr of ctx.routeFor ?? []) {
    const family = cidr.includes(':') ? 6 : 4;
    const p = parsePrefix(cidr, family);
    const client = p ? clientIn(p, locals) : undefined;
    if (!p || client === undefined) continue;
    const r = lookup(fib, { dst: client });
    if (r.type !== 'unicast' || r.dev === undefined) continue;
    add(family, p, r.dev, `--route-for ${cidr}`, []);
  }
  for (const c of connected) {
    if (!forwarding[c.family] || uplinks.has(c.dev.name)) continue;
    // Docker's, CNI's and Kubernetes' own bridges: their owner writes their forwarding and NAT rules.
    const owner = c.dev.owner?.type;
    if (owner === 'docker' || owner === 'cni' || owner === 'kubernetes') continue;
    const evidence = routingEvidence(s, c.family, c.prefix, c.dev.name);
    if ((ports.get(c.dev.name) ?? 0) > 0) add(c.family, c.prefix, c.dev.name, `${c.dev.name} is a bridge with ${ports.get(c.dev.name)} port(s)`, c.origin);
    else if (evidence !== undefined) add(c.family, c.prefix, c.dev.name, evidence.because, [...c.origin, ...evidence.lines]);
  }
  return { forwarding, forwardingEvidence: { 4: v4.evidence, 6: v6.evidence }, networks, routed, uplinks };
}

/** A SNAT/MASQUERADE rule for the network, or a FORWARD rule naming its device: this host routes for it. */
function routingEvidence(s: HostSnapshot, family: 4 | 6, prefix: Prefix, dev: string): { because: string; lines: Evidence[] } | undefined {
  const tables = family === 4 ? s.netfilter.v4 : s.netfilter.v6;
  for (const t of tables) {
    for (const r of t.rules) {
      if (t.name === 'nat' && (r.target?.name === 'MASQUERADE' || r.target?.name === 'SNAT') && r.source && !r.source.negated) {
        const p = parsePrefix(r.source.value, family, true);
        if (p && prefixesOverlap(p, prefix)) return { because: `rule ${r.chain} ${r.position} of table nat translates its addresses`, lines: evidenceOf(r.origin) };
      }
      if (t.name === 'filter' && (r.inInterface?.value === dev || r.outInterface?.value === dev) && !r.inInterface?.negated && !r.outInterface?.negated) {
        return { because: `rule ${r.chain} ${r.position} of table filter forwards for ${dev}`, lines: evidenceOf(r.origin) };
      }
    }
  }
  return undefined;
}

/**
 * True when `address` is the gateway of a network this host routes for (it holds the network's
 * first or last address, on the network's device): a router's LAN side, not a second NIC, so the
 * second-NIC checks leave it alone. IPv6 alike (routing.ts's routesItsOwnSubnet reads IPv4).
 */
export function gatewayOfRoutedNetwork(ctx: HostContext, dev: string, address: { cidr: string; family: 4 | 6 }): boolean {
  const own = parseAddress(address.cidr.split('/')[0]);
  if (own === null) return false;
  return routerView(ctx).routed.some((r) => {
    if (r.dev !== dev || r.family !== own.family || !prefixContains(r.prefix, own)) return false;
    const bits = own.family === 4 ? 32 : 128;
    const first = own.family === 4 ? (r.prefix.value as number) + 1 : (r.prefix.value as bigint) + 1n;
    const last = own.family === 4 ? (r.prefix.value as number) + 2 ** (bits - r.prefix.len) - 2 : (r.prefix.value as bigint) + (1n << BigInt(bits - r.prefix.len)) - 2n;
    return own.value === first || own.value === last;
  });
}

/**
 * True for private address space (RFC 1918, CGNAT, ULA) or an IPv4 network this host routes for
 * (squatted space used inside counts as private); an IPv6 global prefix is routed, never NATed.
 */
export function isPrivate(ip: string, routed: readonly RoutedNetwork[] = []): boolean {
  const a = parseAddress(ip);
  if (a === null) return false;
  return PRIVATE_PREFIXES.some((p) => prefixContains(p, a)) || routed.some((r) => r.family === 4 && prefixContains(r.prefix, a));
}

/** The packets this router's checks walk, each with its reply (made once per context). */
export function routerFlows(ctx: HostContext): RouterFlow[] {
  return memo(ctx, ROUTER_FLOWS, buildRouterFlows);
}

function buildRouterFlows(ctx: HostContext): RouterFlow[] {
  const s = ctx.snapshot;
  const view = routerView(ctx);
  const fib = hostContext(s).fib;
  const flows: RouterFlow[] = [];
  const seen = new Set<string>();
  const push = (kind: RouterFlow['kind'], packet: WalkPacket, peer: Peer, target: string, svc: ReturnType<typeof services>[number], extra: Partial<RouterFlow> = {}): void => {
    const key = `${kind}|${packet.iif}|${packet.src}|${packet.dst}|${svc.service}`;
    if (seen.has(key)) return;
    seen.add(key);
    const request = walkPacket(s, packet);
    const flow: RouterFlow = { kind, direction: kind === 'outward' || kind === 'between-peers' ? 'out' : 'in', peer, what: svc.what, service: svc.service, packet, request, target, ...extra };
    const next = replyTo(request);
    if ('packet' in next) flow.reply = walkPacket(s, next.packet);
    flows.push(flow);
  };
  const targets = (family: 4 | 6): { peer: Peer; label: string }[] => {
    const out: { peer: Peer; label: string }[] = ctx.peers.filter((p) => (p.address.includes(':') ? 6 : 4) === family).map((p) => ({ peer: p, label: p.name ? `${p.name} ${p.address}` : p.address }));
    for (const r of ctx.remotes) {
      const h = firstHost(r);
      if (h !== undefined && (h.includes(':') ? 6 : 4) === family) out.push({ peer: { address: h, name: `remote ${r}` }, label: `remote ${r}` });
    }
    if (defaultRoutes(s, family).length > 0) out.push({ peer: { address: INTERNET[family], name: 'the internet' }, label: 'the internet' });
    return out;
  };
  // Clients of each routed network: new connections outward, and their replies.
  for (const net of view.routed) {
    for (const t of targets(net.family)) {
      const a = parseAddress(t.peer.address);
      if (a === null || prefixContains(net.prefix, a)) continue;
      const out = lookup(fib, { dst: t.peer.address, src: net.client, iif: net.dev });
      if (out.dev === net.dev) continue;
      for (const svc of services(ctx.ports, net.family)) push('outward', { src: net.client, dst: t.peer.address, iif: net.dev, ...svc.packet }, t.peer, t.label, svc, { network: net });
      // Inbound new connections to a routed network only for the ports peers use.
      if (t.peer.address !== INTERNET[net.family] || ctx.ports.length > 0) {
        const back = lookup(fib, { dst: t.peer.address });
        if (back.dev !== undefined && back.type === 'unicast') {
          for (const svc of services(ctx.ports, net.family).filter((x) => x.service !== 'icmp' && x.service !== 'icmpv6')) {
            push('inbound', { src: t.peer.address, dst: net.client, iif: back.dev, ...svc.packet }, t.peer, `${net.cidr} (${net.dev})`, svc, { network: net });
          }
        }
      }
    }
  }
  // Peers on different sides of a router talk through it.
  for (const family of [4, 6] as const) {
    if (!view.forwarding[family] || view.networks[family] < 2) continue;
    const sides = ctx.peers.filter((p) => (p.address.includes(':') ? 6 : 4) === family).map((p) => ({ p, r: lookup(fib, { dst: p.address }) })).filter((x) => x.r.type === 'unicast' && x.r.dev !== undefined);
    for (const a of sides) {
      for (const b of sides) {
        if (a === b || a.r.dev === b.r.dev) continue;
        // From the uplink side in, only the ports peers use.
        const inbound = view.uplinks.has(a.r.dev!) && !view.uplinks.has(b.r.dev!);
        for (const svc of services(ctx.ports, family)) {
          if (inbound && (svc.service === 'icmp' || svc.service === 'icmpv6')) continue;
          push('between-peers', { src: a.p.address, dst: b.p.address, iif: a.r.dev, ...svc.packet }, a.p, b.p.name ? `${b.p.name} ${b.p.address}` : b.p.address, svc);
        }
      }
    }
  }
  // Port forwards: a DNAT rule in nat PREROUTING takes new connections from outside.
  for (const family of [4, 6] as const) {
    if (!view.forwarding[family]) continue;
    for (const rule of dnatRules(s, family)) {
      const f = dnatFlow(s, family, rule, view);
      if (f === undefined) continue;
      const svc = { what: `${f.proto.toUpperCase()} ${f.dport}`, service: `${f.proto}/${f.dport}`, packet: { proto: f.proto, sport: 40000, dport: f.dport, ...(f.proto === 'tcp' && { tcpFlags: 0x02 }) } };
      push('dnat', { src: INTERNET[family], dst: f.dst, iif: f.iif, ...svc.packet }, { address: INTERNET[family], name: 'the internet' }, `${family === 6 ? `[${f.dst}]` : f.dst}:${f.dport} on ${f.iif}`, svc, { dnat: rule });
    }
  }
  return flows;
}

/** DNAT rules of nat PREROUTING (and the user chains it jumps to), as iptables-save lists them. */
function dnatRules(s: HostSnapshot, family: 4 | 6): IptablesRule[] {
  const nat = (family === 4 ? s.netfilter.v4 : s.netfilter.v6).find((t) => t.name === 'nat');
  if (nat === undefined) return [];
  return nat.rules.filter((r) => r.target?.name === 'DNAT' && r.chain !== 'OUTPUT' && r.chain !== 'POSTROUTING' && r.chain !== 'INPUT');
}

/** The packet a DNAT rule is for: its device (else the default route's), address and port; undefined when it cannot be told. */
function dnatFlow(s: HostSnapshot, family: 4 | 6, rule: IptablesRule, view: RouterView): { iif: string; dst: string; proto: 'tcp' | 'udp'; dport: number } | undefined {
  const proto = rule.protocol?.value;
  if ((proto !== 'tcp' && proto !== 'udp') || rule.protocol?.negated) return undefined;
  let dport: number | undefined;
  for (const m of rule.matches) for (const o of m.options) if ((o.name === 'dport' || o.name === 'destination-port') && !o.negated && /^\d+$/.test(o.args[0] ?? '')) dport = Number(o.args[0]);
  if (dport === undefined) return undefined;
  const inIf = rule.inInterface && !rule.inInterface.negated && !rule.inInterface.value.endsWith('+') ? rule.inInterface.value : undefined;
  const iif = inIf ?? [...view.uplinks][0];
  if (iif === undefined) return undefined;
  let dst: string | undefined;
  if (rule.destination && !rule.destination.negated) {
    const p = parsePrefix(rule.destination.value, family, true);
    if (p && p.len === (family === 4 ? 32 : 128)) dst = rule.destination.value.split('/')[0];
  }
  dst ??= s.interfaces.find((i) => i.name === iif)?.addresses.find((a) => a.family === family && (a.scope === undefined || a.scope === 'global'))?.cidr.split('/')[0];
  return dst === undefined ? undefined : { iif, dst, proto, dport };
}

/** The walks of a flow that did not get their packet through, with which it was. */
export function blockedWalks(f: Flow): { walk: Walk; reply: boolean }[] {
  const out: { walk: Walk; reply: boolean }[] = [];
  const bad = (w: Walk): boolean => w.outcome === 'dropped' || w.outcome === 'rejected' || w.outcome === 'unroutable';
  if (bad(f.request)) out.push({ walk: f.request, reply: false });
  else if (f.reply !== undefined && bad(f.reply)) out.push({ walk: f.reply, reply: true });
  return out;
}
