/**
 * The lab of the netfilter differential tests (netfilter-diff.test.ts, nft-diff.test.ts): a
 * sender "tx" writing raw frames on two veth links into a receiver "rx" (addresses in
 * netfilter-gen.ts's LAB), and the frame a generated packet becomes.
 */
import type { NetfilterPacket, NetfilterResult } from '../../src/simulate/netfilter.js';
import type { Topology } from '../lab/topology.js';
import { onPath } from './agent.js';

export const MAC = { txEth0: '02:00:00:0a:00:01', txEth1: '02:00:00:0a:00:02', rxEth0: '02:00:00:0b:00:01', rxEth1: '02:00:00:0b:00:02' };

export const topology: Topology = {
  hosts: {
    tx: {},
    rx: {
      addresses: ['10.9.0.1/32 dev lo', '10.9.0.2/32 dev lo', '10.1.0.2/24 dev eth0'],
      routes: ['default via 10.1.0.100'],
    },
  },
  links: [
    { a: { host: 'tx', iface: 'eth0', addresses: ['10.1.0.100/24'], mac: MAC.txEth0 }, b: { host: 'rx', iface: 'eth0', addresses: ['10.1.0.1/24'], mac: MAC.rxEth0 } },
    { a: { host: 'tx', iface: 'eth1', addresses: ['10.2.0.100/24'], mac: MAC.txEth1 }, b: { host: 'rx', iface: 'eth1', addresses: ['10.2.0.1/24'], mac: MAC.rxEth1 } },
  ],
};

/** The agent's `send` request for `packet` (frame `id`). */
export function frameOf(packet: NetfilterPacket, id: number): Record<string, unknown> {
  const broadcast = packet.dst.endsWith('.255');
  const proto = packet.proto === 'tcp' ? 6 : packet.proto === 'udp' ? 17 : packet.proto === 'icmp' ? 1 : packet.proto;
  return {
    op: 'send',
    iface: packet.inIf,
    dstMac: broadcast ? 'ff:ff:ff:ff:ff:ff' : packet.inIf === 'eth0' ? MAC.rxEth0 : MAC.rxEth1,
    srcMac: packet.inIf === 'eth0' ? MAC.txEth0 : MAC.txEth1,
    src: packet.src,
    dst: packet.dst,
    proto,
    sport: packet.sport ?? 0,
    dport: packet.dport ?? 0,
    flags: packet.tcpFlags ?? 2,
    icmpType: packet.icmpType ?? 8,
    icmpCode: packet.icmpCode ?? 0,
    id,
  };
}


/** The counts the evaluator's trace predicts: rules whose matches held, and (with `policies`) policies applied. */
export function evaluatorCounts(result: NetfilterResult, policies = true): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of result.trace) {
    if (t.matched !== true || (!policies && t.policy !== undefined)) continue;
    const key = t.policy !== undefined ? `${t.table}/${t.chain}/policy` : `${t.table}/${t.chain}/${t.rule}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

export function sameCounts(a: Map<string, number>, b: Map<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

export const show = (m: Map<string, number>): string => [...m].map(([k, v]) => (v === 1 ? k : `${k}×${v}`)).join(', ') || '(none)';

/** True (after a warning) when a tool the test needs is missing; on CI that is an error. */
export function toolsMissing(tag: string, tools: string[]): boolean {
  const missing = tools.filter((c) => !onPath(c));
  if (missing.length === 0) return false;
  if (process.env.CI === 'true') throw new Error(`the differential test needs ${missing.join(', ')} on PATH`);
  console.warn(`[${tag}] skipped: ${missing.join(', ')} not on PATH`);
  return true;
}

/** Rules per generated feature, and how many of them matched a packet: the coverage report. */
export class Coverage {
  private readonly byFeature = new Map<string, { rules: number; hit: number }>();

  add(features: string[], hit: boolean): void {
    for (const f of new Set(features)) {
      const c = this.byFeature.get(f) ?? { rules: 0, hit: 0 };
      c.rules++;
      if (hit) c.hit++;
      this.byFeature.set(f, c);
    }
  }

  lines(): string[] {
    return [...this.byFeature].sort((a, b) => a[0].localeCompare(b[0])).map(([f, c]) => `  ${f.padEnd(26)} ${String(c.rules).padStart(5)} rules, ${String(c.hit).padStart(5)} matched a packet`);
  }
}
