/**
 * The MTU arithmetic of mtu-black-hole: what a tunnel adds to each packet, the device its packets
 * leave by, what it can carry, and what this host sends toward a peer.
 */
import { evidenceOf, type Evidence } from '../../model/finding.js';
import type { HostSnapshot, InterfaceModel } from '../../model/snapshot.js';
import { parseAddress } from '../../net/address.js';
import type { RouteLookupResult } from '../../simulate/route-lookup.js';
import { routeFor } from '../routing.js';
import { interfaceByName, sysctls } from '../view.js';

/** Bytes of an IP header, and of IP plus ICMP header (what `ping -s` does not count). */
export const IP_HEADER: Record<4 | 6, number> = { 4: 20, 6: 40 };
const ICMP_HEADER = 8;
const TCP_HEADER = 20;

/** The payload `ping -s` can send in a packet of `mtu` bytes. */
export const pingSize = (mtu: number, family: 4 | 6): number => mtu - IP_HEADER[family] - ICMP_HEADER;
/** The TCP MSS of a packet of `mtu` bytes. */
export const mssOf = (mtu: number, family: 4 | 6): number => mtu - IP_HEADER[family] - TCP_HEADER;

/**
 * Bytes a tunnel adds to each packet over an underlay of `family`, in words; undefined for a
 * device this check does not know. Only vxlan, whose behaviour was measured here: inner Ethernet
 * (14), VXLAN (8), UDP (8) and the outer IP header. Geneve, gretap and WireGuard cannot be built
 * on this kernel, and no capture from a real host backs them yet, so they are left out.
 */
export function encapOverhead(i: InterfaceModel, family: 4 | 6): { bytes: number; what: string } | undefined {
  if (i.kind !== 'vxlan') return undefined;
  const ip = IP_HEADER[family];
  return { bytes: 14 + 8 + 8 + ip, what: `inner Ethernet 14 + VXLAN 8 + UDP 8 + outer IPv${family} ${ip}` };
}

/** Tunnels that carry Ethernet frames as a bridge's port, and answer an oversized frame with "fragmentation needed". */
export function isL2Tunnel(i: InterfaceModel): boolean {
  return i.kind === 'vxlan';
}

export interface Underlay {
  dev: InterfaceModel;
  family: 4 | 6;
  /** How the device was found, in words. */
  how: string;
  evidence: Evidence[];
}

/** The device a tunnel's encapsulated packets leave by: its `dev`, else the route to its remote, else the device of its local address. */
export function underlayOf(s: HostSnapshot, tunnel: InterfaceModel): Underlay | undefined {
  const d = tunnel.details ?? {};
  const remote = d.remote ?? d.group;
  const local = d.local;
  const family: 4 | 6 = parseAddress(remote ?? local ?? '')?.family ?? 4;
  const named = interfaceByName(s, d.dev);
  if (named !== undefined) return { dev: named, family, how: `its dev ${named.name}`, evidence: evidenceOf(named.origin) };
  if (remote !== undefined && parseAddress(remote) !== null) {
    const r = routeFor(s, { dst: remote, ...(local !== undefined && { src: local }) });
    const dev = r.type === 'unicast' ? interfaceByName(s, r.dev) : undefined;
    if (dev !== undefined && dev.name !== tunnel.name) return { dev, family, how: `the route to its remote ${remote} (dev ${dev.name})`, evidence: [...evidenceOf(r.route?.origin), ...evidenceOf(dev.origin)] };
  }
  if (local !== undefined) {
    const dev = s.interfaces.find((i) => i.addresses.some((a) => a.cidr.split('/')[0] === local));
    if (dev !== undefined) return { dev, family, how: `its local address ${local} on ${dev.name}`, evidence: evidenceOf(dev.origin) };
  }
  return undefined;
}

/** What a tunnel carries without fragmenting: the device below's MTU less the encapsulation. */
export function tunnelCapacity(s: HostSnapshot, tunnel: InterfaceModel): { mtu: number; underlay: Underlay; overhead: { bytes: number; what: string } } | undefined {
  const underlay = underlayOf(s, tunnel);
  const overhead = underlay ? encapOverhead(tunnel, underlay.family) : undefined;
  if (underlay?.dev.mtu === undefined || overhead === undefined) return undefined;
  return { mtu: underlay.dev.mtu - overhead.bytes, underlay, overhead };
}

/** The largest packet this host sends by a route: the route's `mtu`, else its device's. */
export function sendMtu(s: HostSnapshot, r: RouteLookupResult): { mtu: number; dev: InterfaceModel; evidence: Evidence[]; byRoute: boolean } | undefined {
  const dev = r.type === 'unicast' ? interfaceByName(s, r.dev) : undefined;
  if (dev === undefined) return undefined;
  if (r.route?.mtu !== undefined) return { mtu: r.route.mtu, dev, evidence: evidenceOf(r.route.origin), byRoute: true };
  if (dev.mtu === undefined) return undefined;
  return { mtu: dev.mtu, dev, evidence: [...evidenceOf(dev.origin), ...evidenceOf(r.route?.origin)], byRoute: false };
}

/** True when the route's mtu is locked (`mtu lock N`): IPv4 sockets in the default mode then send without DF. */
export function mtuLocked(r: RouteLookupResult): boolean {
  return r.route?.mtu !== undefined && (r.route.extra?.lock ?? '').split(' ').includes('mtu');
}

/** The route's `advmss`: the MSS this host announces to peers by it (what they send toward it), undefined when not set. */
export function routeAdvmss(r: RouteLookupResult): number | undefined {
  const v = r.route?.extra?.advmss;
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** net.ipv4.ip_no_pmtu_disc (0 when not read): any non-zero value makes sockets send IPv4 without DF (routers fragment). */
export function noPmtuDisc(s: HostSnapshot): number {
  const r = [...sysctls(s)].reverse().find((x) => x.key === 'net.ipv4.ip_no_pmtu_disc');
  const v = Number(r?.value.trim() ?? '0');
  return Number.isFinite(v) ? v : 0;
}
