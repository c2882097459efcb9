/**
 * The lab of the walk differential test (walk-diff.test.ts): the router "r" and the peer "s" on
 * three links (IPv4 and IPv6 addresses from walk-gen.ts), the counters read from
 * `iptables-save -c` / `ip6tables-save -c`, what a walk predicts of them, how a walk is compared
 * with what came out of r, and the frames s writes.
 */
import { parse as parseIptables } from '../../parsers/iptables-save.js';
import { formatAddress, parseAddress } from '../../src/net/address.js';
import type { Walk, WalkPacket } from '../../src/simulate/walk.js';
import type { Topology } from '../lab/topology.js';
import type { SeenFrame } from './agent.js';
import { WALK_LAB, WALK_LAB6, type WalkProbe, type WalkSetup } from './walk-gen.js';

/** r's and s's Ethernet addresses on eth0..eth2 (r has permanent neighbour entries for s's). */
export const MAC = {
  r: ['02:00:00:0c:00:00', '02:00:00:0c:00:01', '02:00:00:0c:00:02'],
  s: ['02:00:00:0d:00:00', '02:00:00:0d:00:01', '02:00:00:0d:00:02'],
};

/** r routes between three links to s; both have the IPv4 and IPv6 addresses of walk-gen.ts's labs. */
export const TOPOLOGY: Topology = {
  hosts: {
    // No ICMP redirects: one for a packet forwarded back out of its own link would count in POSTROUTING.
    // (IPv6 has no such setting: r's IPv6 setups drop its redirects in raw OUTPUT, OWN_ND_RULES.)
    r: {
      router: true, addresses: [`${WALK_LAB.loopback}/32 dev lo`, `${WALK_LAB6.loopback}/128 dev lo`],
      sysctls: Object.fromEntries(['all', 'default', ...WALK_LAB.devs].map((d) => [`net.ipv4.conf.${d}.send_redirects`, 0])),
    },
    // s only sends and listens: it drops everything it receives before its own stack answers, and
    // its own IPv6 stack's solicitations and MLD reports never reach r.
    s: {
      iptables: '*raw\n:PREROUTING DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n',
      ip6tables: '*raw\n:PREROUTING DROP [0:0]\n:OUTPUT DROP [0:0]\nCOMMIT\n',
    },
  },
  links: WALK_LAB.devs.map((dev, i) => ({
    a: { host: 'r', iface: dev, addresses: [`${WALK_LAB.rAddr[i]}/24`, `${WALK_LAB6.rAddr[i]}/64`], mac: MAC.r[i] },
    b: { host: 's', iface: dev, addresses: [`${WALK_LAB.gateways[i]}/24`, `${WALK_LAB6.gateways[i]}/64`], mac: MAC.s[i] },
  })),
};

/** r's rules that stop its own neighbour discovery, MLD, redirects and advertisements in IPv6 setups (OWN_ND_RULES): their counters are left out. */
const IGNORED6 = new Set(['raw/OUTPUT/1', 'raw/OUTPUT/2', 'raw/OUTPUT/3']);

/** Packet counters per rule (`table/chain/position`) and policy (`table/chain/policy`). */
export type Counts = Map<string, number>;

/** Every rule's and built-in policy's packet counter in an `iptables-save -c` dump (IPv6: without r's own ND rules). */
export function counters(saveText: string, family: 4 | 6): Counts {
  const out: Counts = new Map();
  for (const table of parseIptables(saveText).records) {
    for (const c of table.chains) if (c.builtin) out.set(`${table.name}/${c.name}/policy`, c.counters?.packets ?? 0);
    for (const r of table.rules) out.set(`${table.name}/${r.chain}/${r.position}`, r.counters?.packets ?? 0);
  }
  if (family === 6) for (const k of IGNORED6) out.delete(k);
  return out;
}

/** Non-zero deltas on the chains of `hooks`. */
export function deltas(before: Counts, after: Counts, hooks: Set<string>): Counts {
  const out: Counts = new Map();
  for (const [k, v] of after) {
    const chain = k.split('/')[1];
    if (!hooks.has(chain)) continue;
    const d = v - (before.get(k) ?? 0);
    if (d !== 0) out.set(k, d);
  }
  return out;
}

/** The counters the walks predict on `hooks`: each rule and policy their traces matched. */
export function walkCounts(walks: Walk[], hooks: Set<string>): Counts {
  const out: Counts = new Map();
  for (const w of walks) {
    for (const t of w.trace) {
      if (t.matched !== true || !hooks.has(t.hook)) continue;
      const key = t.policy !== undefined ? `${t.table}/${t.chain}/policy` : `${t.table}/${t.chain}/${t.rule}`;
      if (w.packet.family === 6 && IGNORED6.has(key)) continue;
      out.set(key, (out.get(key) ?? 0) + 1);
    }
  }
  return out;
}

/** The netfilter hooks the walks crossed. */
export function hooksOf(walks: Walk[]): Set<string> {
  return new Set(walks.flatMap((w) => w.stages.flatMap((s) => (s.kind === 'hook' ? [s.hook] : []))));
}

export const show = (m: Counts): string => [...m].sort().map(([k, v]) => (v === 1 ? k : `${k}×${v}`)).join(', ') || '(none)';

/** The same counters with the same counts. */
export function sameCounts(a: Counts, b: Counts): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

const PROTO = { tcp: 6, udp: 17, icmp: 1 } as const;
/** The protocol number of a probe's protocol in `family` (`icmp` is ICMPv6 in IPv6). */
export const protoOf = (proto: WalkProbe['proto'], family: 4 | 6): number => (proto === 'icmp' && family === 6 ? 58 : PROTO[proto]);
/** ICMP echo request and reply types, and the ICMP protocol number, per family. */
export const ICMP = { 4: { proto: 1, echo: 8, reply: 0 }, 6: { proto: 58, echo: 128, reply: 129 } } as const;
/** One spelling of an address (the walk keeps the rules' spelling, the agent prints inet_ntop's). */
const canon = (a: string): string => {
  const p = parseAddress(a);
  return p ? formatAddress(p) : a;
};

/** What the kernel did with one packet. */
export interface Seen {
  /** The frame s received, if the packet came out of r. */
  out?: SeenFrame;
  delivered: boolean;
}

export function describeSeen(k: Seen): string {
  if (k.out) return `out ${k.out.iface} ${k.out.src}${k.out.sport !== undefined ? `:${k.out.sport}` : ''} → ${k.out.dst}${k.out.dport !== undefined ? `:${k.out.dport}` : ''}`;
  return k.delivered ? 'delivered' : 'nothing came out, not delivered';
}

export function describeWalk(w: Walk): string {
  const f = w.final;
  const head = w.outcome === 'sent' || w.outcome === 'forwarded' ? `${w.outcome} ${w.outDev} ${f.src}${f.sport !== undefined ? `:${f.sport}` : ''} → ${f.dst}${f.dport !== undefined ? `:${f.dport}` : ''}` : w.outcome;
  return `${head}${w.reason ? ` (${w.reason})` : ''}`;
}

/** Agreement of one walk with what the kernel did: an empty string, or why not. */
export function compareOutcome(w: Walk, k: Seen): string {
  if (w.outcome === 'undecided') return `walk undecided: ${w.reason}`;
  if (w.outcome === 'sent' || w.outcome === 'forwarded') {
    if (!k.out) return `walk says ${describeWalk(w)}, kernel: ${describeSeen(k)}`;
    const f = w.final;
    if (k.out.iface !== w.outDev || k.out.src !== canon(f.src) || k.out.dst !== canon(f.dst) || (f.sport !== undefined && k.out.sport !== f.sport) || (f.dport !== undefined && k.out.dport !== f.dport)) {
      return `walk says ${describeWalk(w)}, kernel: ${describeSeen(k)}`;
    }
    return '';
  }
  if (w.outcome === 'delivered') return k.delivered && !k.out ? '' : `walk says delivered, kernel: ${describeSeen(k)}`;
  return !k.out && !k.delivered ? '' : `walk says ${describeWalk(w)}, kernel: ${describeSeen(k)}`;
}

/** Local probes are told apart by their TTL (the IP id is the kernel's). */
export function ttlOf(pid: number): number {
  return 200 + (pid % 50);
}

/** The packet a probe is, as walkPacket takes it. */
export function walkPacketOf(probe: WalkProbe, family: 4 | 6): WalkPacket {
  const p: WalkPacket = { dst: probe.dst, proto: probe.proto === 'icmp' && family === 6 ? 'icmpv6' : probe.proto };
  if (probe.src !== undefined) p.src = probe.src;
  if (probe.iif !== undefined) p.iif = probe.iif;
  if (probe.sport !== undefined) p.sport = probe.sport;
  if (probe.dport !== undefined) p.dport = probe.dport;
  if (probe.ttl !== undefined) p.ttl = probe.ttl;
  if (probe.mark !== undefined) p.mark = probe.mark;
  if (probe.proto === 'icmp') {
    p.icmpType = probe.icmpType ?? ICMP[family].echo;
    p.icmpCode = 0;
  }
  return p;
}

/** The frame s sees when r sends the probe on: the same IP id / flow label (arriving) or TTL (local), never an ICMP error. */
export function isRequest(f: SeenFrame, probe: WalkProbe, pid: number, family: 4 | 6): boolean {
  if (f.proto !== protoOf(probe.proto, family)) return false;
  if (probe.proto === 'icmp' && f.icmpType !== ICMP[family].echo) return false;
  if (probe.kind === 'arrive') return f.id === pid && f.ttl === (probe.ttl ?? 64) - 1;
  return f.ttl === ttlOf(pid);
}

/** The frame s writes for a reply walk's packet (arriving on r's `iif`). */
export function frameOf(p: WalkPacket, rid: number, icmpId: number): Record<string, unknown> {
  const i = WALK_LAB.devs.indexOf(p.iif as (typeof WALK_LAB.devs)[number]);
  return {
    op: 'send', iface: p.iif, dstMac: MAC.r[i], srcMac: MAC.s[i], src: p.src, dst: p.dst, proto: p.proto === 'icmpv6' ? 58 : PROTO[p.proto as 'tcp' | 'udp' | 'icmp'],
    sport: p.sport ?? 0, dport: p.dport ?? 0, flags: p.tcpFlags ?? 0x12, ack: 1001, icmpType: p.icmpType ?? 0, icmpCode: 0, icmpId: icmpId, id: rid, ttl: 64,
  };
}

/** A setup as a disagreement prints it. */
export function renderSetup(setup: WalkSetup): string {
  return [
    `ip ${setup.family === 6 ? '-6 ' : ''}-batch:\n  ${setup.ipBatch.join('\n  ')}`,
    `sysctl: ${Object.entries(setup.sysctls).filter(([, v]) => v !== '0' || true).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    `${setup.family === 6 ? 'ip6tables' : 'iptables'}-restore:\n${setup.iptables}`,
  ].join('\n');
}
