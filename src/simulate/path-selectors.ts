/**
 * IPsec selectors as the kernel applies them: which `dir out` policy (if any) catches a packet,
 * and which parts of a source network no policy covers (CIDR difference). Shared by the
 * vpn-selector-gap check, the path tracer and the fleet check.
 */
import type { XfrmPolicyRecord } from '../model/xfrm.js';
import { formatIPv4, formatIPv6, maskV4, maskV6, parseAddress, parsePrefix, prefixContains, prefixCovers, prefixesOverlap, type Prefix } from '../net/address.js';

/** The packet fields a selector can test. */
export interface SelectorPacket {
  src: string;
  dst: string;
  /** Protocol name as ip xfrm prints it (icmp, tcp, udp) or number. */
  proto?: string;
  sport?: number;
  dport?: number;
  outIf?: string;
}

const PROTO_NUMBERS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, 'ipv6-icmp': 58, icmpv6: 58, esp: 50, gre: 47 };

function protoNumber(p: string | undefined): number | undefined {
  if (p === undefined) return undefined;
  if (/^\d+$/.test(p)) return Number(p);
  return PROTO_NUMBERS[p];
}

/** True when a policy's selector matches the packet (xfrm_selector_match). */
export function selectorMatches(p: XfrmPolicyRecord, pkt: SelectorPacket): boolean {
  const src = parseAddress(pkt.src);
  const dst = parseAddress(pkt.dst);
  const ps = parsePrefix(p.selector.src, p.family);
  const pd = parsePrefix(p.selector.dst, p.family);
  if (!src || !dst || !ps || !pd || !prefixContains(ps, src) || !prefixContains(pd, dst)) return false;
  if (p.selector.proto !== undefined) {
    if (protoNumber(p.selector.proto) !== protoNumber(pkt.proto)) return false;
    if (p.selector.sport !== undefined && p.selector.sport !== pkt.sport) return false;
    if (p.selector.dport !== undefined && p.selector.dport !== pkt.dport) return false;
  }
  if (p.selector.dev !== undefined && pkt.outIf !== undefined && p.selector.dev !== pkt.outIf) return false;
  return true;
}

/** Global `dir out` policies that encrypt (allow with a tunnel or transport template). */
export function outPolicies(policies: XfrmPolicyRecord[]): XfrmPolicyRecord[] {
  return policies.filter((p) => p.dir === 'out' && p.socket === undefined && (p.templates.length > 0 || p.action === 'block'));
}

/** The out policy the kernel applies to a packet: the lowest priority value whose selector matches. */
export function outPolicyFor(policies: XfrmPolicyRecord[], pkt: SelectorPacket): XfrmPolicyRecord | undefined {
  let best: XfrmPolicyRecord | undefined;
  for (const p of outPolicies(policies)) {
    if (p.mark !== undefined && p.mark.mask !== 0 && p.mark.value !== 0) continue; // only marked packets hit it
    if (!selectorMatches(p, pkt)) continue;
    if (!best || p.priority < best.priority) best = p;
  }
  return best;
}

/**
 * The global policy of a direction the kernel applies to a packet: the lowest priority value
 * whose selector matches (allow, with or without templates, or block). Marked policies are left
 * out: only marked packets hit them.
 */
export function policyFor(policies: XfrmPolicyRecord[], dir: 'in' | 'out' | 'fwd', pkt: SelectorPacket): XfrmPolicyRecord | undefined {
  let best: XfrmPolicyRecord | undefined;
  for (const p of policies) {
    if (p.dir !== dir || p.socket !== undefined) continue;
    if (p.mark !== undefined && p.mark.mask !== 0 && p.mark.value !== 0) continue;
    if (!selectorMatches(p, pkt)) continue;
    if (!best || p.priority < best.priority) best = p;
  }
  return best;
}

/** The prefix's number of host bits as a bigint-safe span [first, last]. */
function span(p: Prefix): [bigint, bigint] {
  const bits = p.family === 4 ? 32 : 128;
  const first = BigInt(p.value);
  return [first, first + (1n << BigInt(bits - p.len)) - 1n];
}

function prefixOf(family: 4 | 6, value: bigint, len: number): Prefix {
  return family === 4 ? { family: 4, value: Number(value) >>> 0, len } : { family: 6, value, len };
}

/** `from` minus the union of `minus`, as the fewest CIDRs (in address order). */
export function subtractPrefixes(from: Prefix, minus: Prefix[]): Prefix[] {
  const cuts = minus.filter((m) => m.family === from.family && prefixesOverlap(m, from));
  if (cuts.some((m) => prefixCovers(m, from))) return [];
  if (cuts.length === 0) return [from];
  // Split in halves until each half is either inside a cut or outside all of them.
  const bits = from.family === 4 ? 32 : 128;
  const half = from.len + 1;
  const lo = from.value;
  const hi = from.family === 4 ? prefixOf(4, BigInt(from.value as number) + (1n << BigInt(bits - half)), half) : prefixOf(6, (from.value as bigint) + (1n << BigInt(bits - half)), half);
  const low = from.family === 4 ? prefixOf(4, BigInt(lo as number), half) : prefixOf(6, lo as bigint, half);
  return [...subtractPrefixes(low, cuts), ...subtractPrefixes(hi, cuts)];
}

/** A representative host of a prefix: its first usable address. */
export function representative(p: Prefix): string {
  const [first, last] = span(p);
  const v = last - first >= 2n ? first + 1n : first;
  return p.family === 4 ? formatIPv4(Number(v) >>> 0) : formatIPv6(v);
}

/** Mask a prefix's host bits (selectors written as 10.16.3.4/16). */
export function masked(p: Prefix): Prefix {
  return p.family === 4 ? { ...p, value: (p.value & maskV4(p.len)) >>> 0 } : { ...p, value: p.value & maskV6(p.len) };
}
