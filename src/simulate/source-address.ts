/**
 * The source address the kernel gives a packet when neither the socket nor the route names
 * one, simplified from inet_select_addr (IPv4) and ipv6_dev_get_saddr (IPv6, RFC 6724).
 * Interface addresses are parsed once, when the FIB is built.
 */
import { formatIPv4, formatIPv6, maskV4, maskV6, parseAddress, parsePrefix, type Address, type Prefix } from '../net/address.js';

/** One interface address as the selection needs it. */
interface Candidate {
  prefix: Prefix;
  dev: string;
  secondary: boolean;
  unusable: boolean;
  deprecated: boolean;
}

/** Per-device addresses, read once from the FIB context. */
export class SourceSelector {
  private readonly byDev = new Map<string, Candidate[]>();
  private readonly devs: string[];

  constructor(devices: Record<string, { addresses?: { cidr: string; flags?: string[] }[] }> | undefined) {
    this.devs = devices ? Object.keys(devices) : [];
    for (const name of this.devs) {
      const list: Candidate[] = [];
      for (const a of devices![name].addresses ?? []) {
        const prefix = parsePrefix(a.cidr, a.cidr.includes(':') ? 6 : 4, true);
        if (!prefix) continue;
        const flags = a.flags ?? [];
        list.push({
          prefix, dev: name, secondary: flags.includes('secondary'),
          unusable: flags.includes('tentative') || flags.includes('dadfailed'), deprecated: flags.includes('deprecated'),
        });
      }
      this.byDev.set(name, list);
    }
  }

  /** The first device (in interface order) that holds address `a`, or undefined. */
  deviceOf(a: Address): string | undefined {
    for (const name of this.devs) {
      for (const c of this.byDev.get(name) ?? []) {
        if (c.prefix.family === a.family && c.prefix.value === a.value) return name;
      }
    }
    return undefined;
  }

  /**
   * IPv4: on `dev`, the first primary address whose subnet holds the gateway (or the
   * destination), else its first primary address, else the first primary address of another
   * device but lo.
   * IPv6 (RFC 6724 rules 1, 2, 3, 5, 8 roughly): the destination itself, then the smallest
   * scope not below the destination's, not deprecated, on `dev`, in the destination's subnet,
   * first listed; never tentative/dadfailed; for link-local, loopback and multicast
   * destinations only addresses of `dev` count.
   */
  choose(family: 4 | 6, dev: string | undefined, via: string | undefined, dst: Address): string | undefined {
    return family === 4 ? this.choose4(dev, via, dst) : this.choose6(dev, dst);
  }

  private choose4(dev: string | undefined, via: string | undefined, dst: Address): string | undefined {
    const near = via !== undefined ? parseAddress(via) ?? dst : dst;
    const primaries = (name: string): Candidate[] =>
      (this.byDev.get(name) ?? []).filter((c) => c.prefix.family === 4 && !c.secondary);
    if (dev !== undefined) {
      const own = primaries(dev);
      const onLink = own.find((c) => inSubnet(c.prefix, near));
      if (onLink) return addressText(onLink.prefix);
      if (own.length > 0) return addressText(own[0].prefix);
    }
    for (const name of this.devs) {
      if (name === 'lo' || name === dev) continue;
      const other = primaries(name);
      if (other.length > 0) return addressText(other[0].prefix);
    }
    return undefined;
  }

  private choose6(dev: string | undefined, dst: Address): string | undefined {
    const d = dst.value as bigint;
    const dstScope = scope6(d);
    const onlyDev = dstScope <= 2 || (d >> 120n) === 0xffn;
    let best: Candidate | undefined;
    let bestRank: number[] = [];
    for (const name of this.devs) {
      if (onlyDev && name !== dev) continue;
      for (const c of this.byDev.get(name) ?? []) {
        if (c.prefix.family !== 6 || c.unusable) continue;
        const sc = scope6(c.prefix.value);
        const rank = [
          c.prefix.value === d ? 0 : 1,
          sc >= dstScope ? sc : 100 - sc,
          c.deprecated ? 1 : 0,
          name === dev ? 0 : 1,
          inSubnet(c.prefix, dst) ? 0 : 1,
        ];
        if (!best || lexLess(rank, bestRank)) { best = c; bestRank = rank; }
      }
    }
    return best ? addressText(best.prefix) : undefined;
  }
}

function addressText(p: Prefix): string {
  return p.family === 4 ? formatIPv4(p.value) : formatIPv6(p.value);
}

/** RFC 4291 scope of an IPv6 address: 1 loopback/interface, 2 link, 5 site, 14 global. */
function scope6(a: bigint): number {
  if (a === 1n) return 1;
  if ((a >> 118n) === 0x3fan) return 2;
  if ((a >> 120n) === 0xffn) return Number((a >> 112n) & 0xfn);
  return 14;
}

function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/** True when interface address `p` (host bits kept) has `a` in its subnet. */
function inSubnet(p: Prefix, a: Address): boolean {
  if (p.family === 4) {
    if (a.family !== 4) return false;
    const m = maskV4(p.len);
    return ((p.value & m) >>> 0) === ((a.value & m) >>> 0);
  }
  if (a.family !== 6) return false;
  const m = maskV6(p.len);
  return (p.value & m) === (a.value & m);
}
