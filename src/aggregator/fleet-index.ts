/**
 * The fleet index: every host's uplink addresses, VPC CIDRs and non-uplink routes (bridges,
 * tunnels), kept up to date one host at a time so a report costs work for that host only.
 * Address queries use sorted arrays (binary search); "routes containing an address" uses one
 * hash map per prefix length in use, so a query is at most 33 (or 129) lookups.
 */
import type { FleetView, IndexedAddress, IndexedRoute } from '../checks/types.js';
import { interfaceByName, uplinkAddresses } from '../checks/view.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { maskV4, maskV6, parseAddress, parsePrefix, type Prefix } from '../net/address.js';

type Key = number | bigint;

/** Addresses sorted by value, with range queries. */
class SortedAddresses {
  private readonly keys: Key[] = [];
  private readonly values: IndexedAddress[] = [];

  private lowerBound(k: Key): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid] < k) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  insert(k: Key, v: IndexedAddress): void {
    const at = this.lowerBound(k);
    this.keys.splice(at, 0, k);
    this.values.splice(at, 0, v);
  }

  remove(k: Key, v: IndexedAddress): void {
    for (let i = this.lowerBound(k); i < this.keys.length && this.keys[i] === k; i++) {
      if (this.values[i] === v) {
        this.keys.splice(i, 1);
        this.values.splice(i, 1);
        return;
      }
    }
  }

  range(lo: Key, hi: Key, out: IndexedAddress[]): void {
    for (let i = this.lowerBound(lo); i < this.keys.length && this.keys[i] <= hi; i++) out.push(this.values[i]);
  }
}

/** Routes by (prefix length, masked value), with the lengths in use. */
class RoutesByPrefix {
  private readonly byLen = new Map<number, Map<Key, IndexedRoute[]>>();

  insert(r: IndexedRoute): void {
    let m = this.byLen.get(r.prefix.len);
    if (!m) this.byLen.set(r.prefix.len, (m = new Map()));
    const list = m.get(r.prefix.value);
    if (list) list.push(r); else m.set(r.prefix.value, [r]);
  }

  remove(r: IndexedRoute): void {
    const m = this.byLen.get(r.prefix.len);
    const list = m?.get(r.prefix.value);
    if (!m || !list) return;
    const rest = list.filter((x) => x !== r);
    if (rest.length) m.set(r.prefix.value, rest); else m.delete(r.prefix.value);
    if (m.size === 0) this.byLen.delete(r.prefix.len);
  }

  containing(family: 4 | 6, value: Key, out: IndexedRoute[]): void {
    for (const [len, m] of this.byLen) {
      const key = family === 4 ? (((value as number) & maskV4(len)) >>> 0) : ((value as bigint) & maskV6(len));
      const list = m.get(key);
      if (list) out.push(...list);
    }
  }
}

export interface HostIndexEntry {
  addresses: IndexedAddress[];
  routes: IndexedRoute[];
  vpcCidrs: string[];
}

/** What of a snapshot the fleet indexes. Default routes are left out: a full tunnel is deliberate. */
export function indexEntryOf(host: string, s: HostSnapshot): HostIndexEntry {
  const addresses: IndexedAddress[] = [];
  for (const family of [4, 6] as const) {
    for (const u of uplinkAddresses(s, family)) addresses.push({ host, address: u.ip, iface: u.iface.name, ...(u.iface.mtu !== undefined && { mtu: u.iface.mtu }) });
  }
  const routes: IndexedRoute[] = [];
  for (const route of s.routes) {
    if (route.type !== 'unicast') continue;
    const dev = [route.dev, ...route.nexthops.map((n) => n.dev)].find((d) => {
      const i = interfaceByName(s, d);
      return i !== undefined && !i.uplink && i.kind !== 'loopback';
    });
    const prefix = dev === undefined ? null : parsePrefix(route.dst, route.family);
    if (!prefix || prefix.len === 0 || dev === undefined) continue;
    routes.push({ host, prefix, route, iface: dev });
  }
  return { addresses, routes, vpcCidrs: s.identity.cloud?.vpcCidrs ?? [] };
}

export class FleetIndex implements FleetView {
  private readonly snapshots = new Map<string, HostSnapshot>();
  private readonly entries = new Map<string, HostIndexEntry>();
  private readonly v4 = new SortedAddresses();
  private readonly v6 = new SortedAddresses();
  private readonly routes4 = new RoutesByPrefix();
  private readonly routes6 = new RoutesByPrefix();

  get size(): number {
    return this.snapshots.size;
  }

  /** Replace a host's snapshot and index entries. */
  upsert(host: string, snapshot: HostSnapshot): void {
    this.remove(host);
    const entry = indexEntryOf(host, snapshot);
    this.snapshots.set(host, snapshot);
    this.entries.set(host, entry);
    for (const a of entry.addresses) {
      const p = parseAddress(a.address);
      if (p) (p.family === 4 ? this.v4 : this.v6).insert(p.value, a);
    }
    for (const r of entry.routes) (r.prefix.family === 4 ? this.routes4 : this.routes6).insert(r);
  }

  remove(host: string): void {
    const entry = this.entries.get(host);
    if (!entry) return;
    for (const a of entry.addresses) {
      const p = parseAddress(a.address);
      if (p) (p.family === 4 ? this.v4 : this.v6).remove(p.value, a);
    }
    for (const r of entry.routes) (r.prefix.family === 4 ? this.routes4 : this.routes6).remove(r);
    this.entries.delete(host);
    this.snapshots.delete(host);
  }

  hosts(): Iterable<string> {
    return this.snapshots.keys();
  }

  snapshot(host: string): HostSnapshot | undefined {
    return this.snapshots.get(host);
  }

  addressesIn(prefix: Prefix): IndexedAddress[] {
    const out: IndexedAddress[] = [];
    if (prefix.family === 4) {
      const lo = (prefix.value & maskV4(prefix.len)) >>> 0;
      this.v4.range(lo, lo + 2 ** (32 - prefix.len) - 1, out);
    } else {
      const lo = prefix.value & maskV6(prefix.len);
      this.v6.range(lo, lo + (1n << BigInt(128 - prefix.len)) - 1n, out);
    }
    return out;
  }

  routesContaining(address: string): IndexedRoute[] {
    const a = parseAddress(address);
    const out: IndexedRoute[] = [];
    if (a) (a.family === 4 ? this.routes4 : this.routes6).containing(a.family, a.value, out);
    return out;
  }

  addressesOf(host: string): IndexedAddress[] {
    return this.entries.get(host)?.addresses ?? [];
  }

  routesOf(host: string): IndexedRoute[] {
    return this.entries.get(host)?.routes ?? [];
  }

  vpcOf(host: string): string[] {
    return this.entries.get(host)?.vpcCidrs ?? [];
  }
}
