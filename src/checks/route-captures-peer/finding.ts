/**
 * The words and lines of route-captures-peer, written once: the host family and the fleet
 * family build every finding here, so the same capture gives the same key, summary, evidence,
 * why and fix whether the one-shot, the agent, `hostcheck path` or the aggregator finds it.
 */
import type { Peer } from '../../model/config.js';
import { evidenceOf, findingKey, uniqueEvidence, type Evidence, type Finding } from '../../model/finding.js';
import type { RouteRecord, RuleRecord } from '../../model/records.js';
import type { HostSnapshot, InterfaceModel } from '../../model/snapshot.js';
import { addressOn, primaryUplink } from '../routing.js';
import { dockerNetworks, guessedGateway, knownGateway, peerLabel } from '../view.js';

export const ID = 'route-captures-peer';

/** Who made the interface, in words: "Docker network bridge", "CNI", "libvirt", "VPN". */
export function ownerText(i: InterfaceModel): string {
  const o = i.owner;
  if (!o) return i.kind;
  if (o.type === 'docker') return o.name ? `Docker network "${o.name}"` : 'Docker';
  return { cni: 'a CNI plugin', kubernetes: 'Kubernetes', libvirt: 'libvirt', vpn: 'a VPN', unknown: i.kind }[o.type];
}

/**
 * The lines that prove a capture: the rule (when not the plain main lookup), the route, the
 * interface's addresses of the family, its NO-CARRIER line.
 */
export function captureEvidence(rule: Pick<RuleRecord, 'origin' | 'priority' | 'table'> | undefined, route: RouteRecord | undefined, iface: InterfaceModel, family: 4 | 6): Evidence[] {
  const ev: Evidence[] = [];
  if (rule && rule.origin.lineNumber > 0 && !(rule.priority === 32766 && rule.table === 'main')) ev.push(...evidenceOf(rule.origin));
  ev.push(...evidenceOf(route?.origin));
  for (const a of iface.addresses) if (a.family === family) ev.push(...evidenceOf(a.origin));
  if (iface.noCarrier) ev.push(...evidenceOf(iface.origin));
  // A copy in its own length: a list grown by push holds 17 slots, and the fleet keeps one a capturer.
  return uniqueEvidence(ev).slice();
}

/** The owner-specific steps that move the bridge off `avoid`. */
export function ownerFix(s: HostSnapshot, iface: InterfaceModel, avoid: string): string[] {
  if (iface.owner?.type === 'docker') {
    const net = dockerNetworks(s).find((n) => n.bridgeName === iface.name);
    if (iface.name === 'docker0' || net?.name === 'bridge') {
      return [`# then move docker0 off ${avoid}: set "bip" (and "default-address-pools") in /etc/docker/daemon.json to an unused range, e.g. {"bip": "10.250.0.1/24", "default-address-pools": [{"base": "10.251.0.0/16", "size": 24}]}, then systemctl restart docker`];
    }
    return [`# then recreate Docker network ${net ? `"${net.name}"` : iface.name} on an unused subnet (docker network rm, then docker network create --subnet 10.251.x.0/24 ...), and set "default-address-pools" in /etc/docker/daemon.json so new networks avoid ${avoid}`];
  }
  if (iface.owner?.type === 'libvirt') return [`# then readdress the libvirt network on ${iface.name} (virsh net-edit) to a range that avoids ${avoid}`];
  if (iface.owner?.type === 'cni' || iface.owner?.type === 'kubernetes') return [`# then move the pod/service CIDR of the CNI on ${iface.name} off ${avoid} (cluster network configuration)`];
  return [`# then readdress ${iface.name} so its routes no longer cover ${avoid}`];
}

/** The uplink a peer's request arrives on: its interface, the reply's source, and the gateway a pinning route names. */
export interface ReplyUplink {
  up?: InterfaceModel;
  src?: string;
  gw?: string;
}

/** The uplink and the reply's source; with `withGateway` also the gateway (a walk of the routes: only for a capture). */
export function replyUplink(s: HostSnapshot, family: 4 | 6, withGateway = true): ReplyUplink {
  const up = primaryUplink(s, family);
  const uplink: ReplyUplink = { up, src: addressOn(up, family) };
  return withGateway ? withUplinkGateway(s, uplink) : uplink;
}

export function withUplinkGateway(s: HostSnapshot, uplink: ReplyUplink): ReplyUplink {
  // A literal, not a spread: a spread of this object gave each one a hidden class of its own
  // (the fleet keeps one per capturer; every read of its fields went megamorphic).
  const { up, src } = uplink;
  return { up, src, gw: up ? knownGateway(s, up) ?? guessedGateway(up) : undefined };
}

/** `ip route add TARGET via GW dev UPLINK`: the immediate fix, a more specific route out of the uplink. */
export function pinRouteStep(target: string, uplink: ReplyUplink): string | undefined {
  const { up, gw } = uplink;
  return up ? `ip route add ${target} ${gw ? `via ${gw} ` : ''}dev ${up.name}   # immediate: a more specific route out of ${up.name} (not persistent)` : undefined;
}

/** One capture of a reply to a peer: what the route lookup decided and where the reply leaves. */
export interface PeerCapture {
  host: string;
  peer: Peer;
  family: 4 | 6;
  rule?: RuleRecord;
  route: RouteRecord;
  /** The table that decided (the route's). */
  table?: string;
  iface: InterfaceModel;
  uplink: ReplyUplink;
  /** captureEvidence and ownerFix of this route (callers that meet it often keep them). */
  evidence: Evidence[];
  ownerFix: string[];
  /** Where equal texts are kept once (the fleet keeps a finding per capturer of a peer; like bridges read alike). */
  texts?: TextShare;
}

/** Gives a string equal to `text` that findings may share (one met before, or `text` itself). */
export interface TextShare {
  share(text: string): string;
}

const NOT_SHARED: TextShare = { share: (text) => text };

/** The finding for a reply to a peer that leaves into a bridge or tunnel. */
export function peerCaptureFinding(c: PeerCapture): Finding {
  const { peer, route, iface, uplink, texts = NOT_SHARED } = c;
  const upName = uplink.up?.name ?? 'the uplink';
  const subject = texts.share(`${iface.name} ${route.dst} captures ${peer.address}`);
  const pin = pinRouteStep(`${peer.address}/${c.family === 4 ? 32 : 128}`, uplink);
  return {
    check: ID, severity: 'error', host: c.host, subject, key: findingKey(ID, c.host, subject),
    summary: texts.share(`${iface.name} ${route.dst} (${ownerText(iface)}) captures replies to ${peerLabel(peer)}: they leave into ${iface.name} instead of ${upName}`),
    evidence: c.evidence,
    why: `A request from ${peer.address} arrives on ${upName}, but the reply's route lookup (ip route get ${peer.address}${uplink.src ? ` from ${uplink.src}` : ''}) picks ${route.dst} dev ${iface.name} in table ${c.table ?? 'main'}${iface.noCarrier ? ` — ${iface.name} has no carrier (linkdown) and still wins` : ''}. The reply never reaches the peer.`,
    fix: pin ? [texts.share(pin)].concat(c.ownerFix) : c.ownerFix, // concat: an array in its own length (a spread grows one)
    peers: [peer.address],
  };
}
