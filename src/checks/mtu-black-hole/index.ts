/**
 * mtu-black-hole: packets larger than the path carries are lost without a word — the ICMP
 * "fragmentation needed" (IPv6 Packet Too Big) that would tell the sender to send smaller is
 * dropped by this host's firewall, or never sent. Small packets, pings and handshakes work.
 */
import { evidenceOf, findingKey, uniqueEvidence, type Finding } from '../../model/finding.js';
import type { Peer } from '../../model/config.js';
import type { HostSnapshot, InterfaceModel } from '../../model/snapshot.js';
import { parseAddress, parsePrefix, prefixContains } from '../../net/address.js';
import { kernelSignals } from '../../simulate/kernel-signals.js';
import { routeQuestion } from '../../simulate/route-get.js';
import type { RouteLookupResult } from '../../simulate/route-lookup.js';
import { walkPacket, type Walk } from '../../simulate/walk.js';
import { icmpErrorAbout, replyTo } from '../../simulate/walk-reply.js';
import { bridgeMembers } from '../bridge-forward-blocked.js';
import { stageEvidence } from '../datapath/evidence.js';
import { routerView, type RoutedNetwork } from '../datapath/router.js';
import { passed } from '../datapath/flows.js';
import { dockerManaged } from '../forward-blocked.js';
import { routeFor } from '../routing.js';
import type { Check, HostContext } from '../types.js';
import { interfaceByName, peerLabel, peersAndRemotes } from '../view.js';
import { IP_HEADER, isL2Tunnel, mssOf, mtuLocked, noPmtuDisc, pingSize, routeAdvmss, sendMtu, tunnelCapacity } from './mtu.js';

const ID = 'mtu-black-hole';

/** What the path beyond this host is taken to carry where nothing says otherwise (the internet's, a VPN's, another VPC's). */
const ASSUMED_PATH_MTU = 1500;

/** ICMP "fragmentation needed" and ICMPv6 Packet Too Big. */
const TOO_BIG: Record<4 | 6, { type: number; code: number; name: string }> = {
  4: { type: 3, code: 4, name: 'ICMP "fragmentation needed" (type 3 code 4)' },
  6: { type: 2, code: 0, name: 'ICMPv6 Packet Too Big (type 2)' },
};

/** The firewall line that lets the error in before any state rule. */
function acceptTooBig(family: 4 | 6, chain: string): string {
  return family === 4
    ? `iptables -I ${chain} -p icmp --icmp-type fragmentation-needed -j ACCEPT`
    : `ip6tables -I ${chain} -p ipv6-icmp --icmpv6-type packet-too-big -j ACCEPT`;
}

/** "filter/INPUT policy DROP", "filter/INPUT rule 3". */
function placeOf(w: Walk): string {
  const st = w.decidedBy;
  if (st?.kind !== 'hook') return w.reason ?? 'the firewall';
  const d = st.decidedBy;
  if (d === undefined) return `${st.hook}`;
  return `${d.table}/${d.chain}${d.rule ? ` rule ${d.rule.position}` : d.policy ? ` policy ${st.verdict === 'reject' ? 'REJECT' : 'DROP'}` : ''}`;
}

function signalsOf(family: 4 | 6, w: Walk): Finding['signals'] {
  const st = w.decidedBy;
  if (st?.kind !== 'hook') return [];
  const hook = st.hook === 'FORWARD' ? 'forward' : st.hook === 'OUTPUT' ? 'output' : 'input';
  const d = st.decidedBy;
  if (d === undefined || d.nft) return kernelSignals({ cause: 'netfilter-drop', hook });
  const rule = d.rule ? d.rule.origin.text.replace(/^\[\d+:\d+\]\s+/, '').trim() : undefined;
  return kernelSignals({ cause: 'netfilter-drop', hook, rule: { tool: family === 6 ? 'ip6tables' : 'iptables', table: d.table, chain: d.chain, ...(rule !== undefined && { rule }) } });
}

/** The built-in chain to put the accept in: where the walk was dropped (a Docker host's FORWARD: DOCKER-USER). */
function chainFor(s: HostSnapshot, family: 4 | 6, w: Walk): string {
  const st = w.decidedBy;
  const hook = st?.kind === 'hook' ? st.hook : 'INPUT';
  return hook === 'FORWARD' && dockerManaged(s, family) ? 'DOCKER-USER' : hook;
}

/**
 * A TCPMSS (or nft maxseg) rule that makes the peer's SYN-ACK announce an MSS that fits `mtu`:
 * this host's segments are sized by the MSS the peer announces, so the clamp must meet the
 * peer's packets on their way in (PREROUTING, INPUT); TCP then never needs the error.
 */
function clampCovers(s: HostSnapshot, family: 4 | 6, from: { dst: string; src?: string; iif?: string }, mtu: number): boolean {
  const syn = walkPacket(s, { ...from, proto: 'tcp', sport: 40000, dport: 443, tcpFlags: 0x02 });
  const next = replyTo(syn);
  const synAck = 'packet' in next ? walkPacket(s, next.packet) : undefined;
  const tables = family === 4 ? s.netfilter.v4 : s.netfilter.v6;
  for (const t of synAck?.trace ?? []) {
    if (t.matched !== true || t.rule === undefined) continue;
    const r = tables.find((x) => x.name === t.table)?.rules.find((x) => x.chain === t.chain && x.position === t.rule);
    const set = r?.target?.name === 'TCPMSS' ? r.target.options.find((o) => o.name === 'set-mss') : undefined;
    // --clamp-mss-to-pmtu clamps to the route's MTU, which is the too-large one here.
    if (set !== undefined && Number(set.args[0]) <= mssOf(mtu, family)) return true;
  }
  // nft: `tcp option maxseg size set N` in a native prerouting or input chain (the walk does not run native chains).
  return s.nft.some((t) => t.managedBy === 'native' && t.chains.some((c) => (c.hook === 'prerouting' || c.hook === 'input') && c.rules.some((r) => {
    const m = /maxseg size set (\d+)/.exec(r.text);
    return m !== null && Number(m[1]) <= mssOf(mtu, family);
  })));
}

/**
 * A ping from `from` walked out (`outcome`: this host's own, or forwarded), and the router's
 * too-big error about it walked back: that walk where this host stops it, else undefined.
 */
function routerErrorStopped(s: HostSnapshot, family: 4 | 6, from: { dst: string; src?: string; iif?: string }, outcome: 'sent' | 'forwarded', router: string): Walk | undefined {
  const request = walkPacket(s, { ...from, proto: family === 4 ? 'icmp' : 'icmpv6', icmpType: family === 4 ? 8 : 128, icmpCode: 0 });
  if (request.outcome !== outcome) return undefined;
  const tooBig = TOO_BIG[family];
  const error = icmpErrorAbout(request, { type: tooBig.type, code: tooBig.code, from: router, by: 'router' });
  if (!('packet' in error)) return undefined;
  const back = walkPacket(s, error.packet);
  return passed(back) || back.outcome === 'undecided' ? undefined : back;
}

interface PathMtu {
  mtu: number;
  /** How it is known, for the summary. */
  how: string;
  /** Where the figure comes from. */
  source: 'config' | 'assumed' | 'fleet';
}

/**
 * What the path beyond this host carries toward a target, or undefined where it carries what this
 * host sends (on-link, inside the VPC): the config's pathMtu, else the assumption beyond the VPC;
 * a smaller MTU the peer reported to the fleet for the device holding its address caps either.
 */
function pathMtuOf(ctx: HostContext, target: Peer & { subject?: string }, via: string | undefined, dev: InterfaceModel): PathMtu | undefined {
  const beyond = beyondHost(ctx, target, via, dev);
  const peer = target.reportedMtu;
  // On the peer's own link a smaller MTU drops frames without any error: not this check's case.
  if (peer === undefined || via === undefined) return beyond;
  if (beyond !== undefined && beyond.mtu <= peer.mtu) return beyond;
  const otherwise = beyond === undefined ? '' : beyond.source === 'config' ? `; below the pathMtu ${beyond.mtu} in the config` : `; below the ${beyond.mtu} assumed beyond the host`;
  return { mtu: peer.mtu, how: `${peer.mtu} (the mtu of ${target.name ?? target.address}'s ${peer.dev}, as it reported to the fleet${otherwise})`, source: 'fleet' };
}

function beyondHost(ctx: HostContext, target: Peer & { subject?: string }, via: string | undefined, dev: InterfaceModel): PathMtu | undefined {
  const configured = target.pathMtu ?? (target.subject !== undefined ? ctx.remotePathMtu?.[target.subject] : undefined);
  if (configured !== undefined) return { mtu: configured, how: `${configured} (pathMtu in the config)`, source: 'config' };
  // On the link itself, or through a tunnel of this host: the device's MTU is the path's.
  if (via === undefined || !dev.uplink) return undefined;
  const a = parseAddress(target.address);
  const vpc = ctx.snapshot.identity.cloud?.vpcCidrs ?? [];
  if (a !== null && vpc.some((c) => { const p = parsePrefix(c, a.family, true); return p !== null && prefixContains(p, a); })) return undefined;
  return { mtu: ASSUMED_PATH_MTU, how: `${ASSUMED_PATH_MTU} (assumed: a path beyond ${vpc.length > 0 ? 'the VPC' : 'this host\'s link'} is taken to carry 1500; set pathMtu for this peer or remote if it carries more)`, source: 'assumed' };
}

/** This host's own packets toward a peer or remote: larger than the path carries, and the error that says so is dropped here. */
function localSenderFindings(ctx: HostContext): Finding[] {
  const s = ctx.snapshot;
  const out: Finding[] = [];
  const nopmtu = noPmtuDisc(s);
  for (const target of peersAndRemotes(ctx.peers, ctx.remotes)) {
    const a = parseAddress(target.address);
    if (a === null) continue;
    const family = a.family;
    const r = routeFor(s, { dst: target.address });
    const send = sendMtu(s, r);
    if (send === undefined) continue;
    const path = pathMtuOf(ctx, target, r.via, send.dev);
    if (path === undefined || send.mtu <= path.mtu) continue;
    // Any mode: sockets default to IP_PMTUDISC_DONT, IPv4 leaves without DF and a router fragments it (measured for 1, 2, 3: ping and TCP).
    if (family === 4 && nopmtu !== 0) continue;
    // A locked route mtu: IPv4 sockets in the default mode send without DF by it, and routers fragment (measured: ping and TCP).
    if (family === 4 && mtuLocked(r)) continue;
    const back = routerErrorStopped(s, family, { dst: target.address }, 'sent', r.via ?? target.address);
    if (back === undefined || clampCovers(s, family, { dst: target.address }, path.mtu)) continue;
    const tooBig = TOO_BIG[family];
    const label = target.subject ?? peerLabel(target);
    const subject = `${target.subject ?? target.address} path MTU`;
    const where = placeOf(back);
    const chain = chainFor(s, family, back);
    const dest = target.subject ?? `${target.address}/${family === 4 ? 32 : 128}`;
    const advmss = routeAdvmss(r);
    const advmssWords = advmss !== undefined && advmss > mssOf(path.mtu, family)
      ? ` The route's advmss ${advmss} also makes this host announce MSS ${advmss}, so the peer's TCP segments toward this host (up to ${advmss + IP_HEADER[family] + 20} bytes) are larger than the path carries as well: they rely on the peer's own path MTU discovery.`
      : '';
    const routeFix = `ip ${family === 6 ? '-6 ' : ''}route replace ${dest}${r.via ? ` via ${r.via}` : ''} dev ${send.dev.name} mtu ${path.mtu}`;
    out.push({
      check: ID, severity: 'warning', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject), peers: [target.address],
      summary: `path MTU black hole toward ${label}: this host sends packets of up to ${send.mtu} bytes by ${send.dev.name}${send.byRoute ? ' (the route\'s mtu)' : ''}, the path beyond carries ${path.how}, and the ${tooBig.name} that would say so is dropped by ${where} — the largest packet that gets through is ${path.mtu} bytes (ping -s ${pingSize(path.mtu, family)}, TCP MSS ${mssOf(path.mtu, family)}); larger ones are lost without a word`,
      evidence: uniqueEvidence([...send.evidence, ...evidenceOf(r.route?.origin), ...(back.decidedBy ? stageEvidence(s, back.decidedBy) : [])]),
      why: `A router on the way that cannot forward a ${send.mtu}-byte packet with DF set onto a ${path.mtu}-byte link drops it and answers with ${tooBig.name}; this host then sends smaller (path MTU discovery)${family === 6 ? ' — IPv6 routers never fragment, so IPv6 cannot do without it' : ''}. That error arrives RELATED to the connection, and ${where} drops it: the sender never learns, and every packet above ${path.mtu} bytes — a large ping, a big DNS answer, the TCP segments of a bulk transfer to a peer that announces a large MSS — is lost while small ones and handshakes work.${advmssWords}`,
      fix: [
        acceptTooBig(family, chain),
        `# or send smaller toward it: ${routeFix} (TCP then advertises MSS ${mssOf(path.mtu, family)} too); persist where the network is configured`,
        `# or clamp TCP only: ${family === 6 ? 'ip6tables' : 'iptables'} -t mangle -A PREROUTING -i ${send.dev.name} -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss ${mssOf(path.mtu, family)} (the peer's SYN and SYN-ACK then announce what the path carries, and this host sends no larger)`,
      ],
      queries: [routeQuestion({ dst: target.address }, r)],
      signals: signalsOf(family, back),
    });
  }
  return out;
}

/**
 * Senders on a network this host routes for (a LAN, a VM or container network it forwards):
 * they send what their link carries, this host forwards it by a device that carries as much,
 * and the router beyond that cannot forward it answers them — through this host's FORWARD,
 * RELATED to their connection.
 */
function routedSenderFindings(ctx: HostContext): Finding[] {
  const s = ctx.snapshot;
  const out: Finding[] = [];
  const view = routerView(ctx);
  for (const net of view.routed) {
    if (!view.forwarding[net.family]) continue;
    const lan = interfaceByName(s, net.dev);
    if (lan?.mtu === undefined) continue;
    for (const target of peersAndRemotes(ctx.peers, ctx.remotes)) {
      const a = parseAddress(target.address);
      if (a === null || a.family !== net.family || prefixContains(net.prefix, a)) continue;
      const family = net.family;
      const r = routeFor(s, { dst: target.address, src: net.client, iif: net.dev });
      const send = sendMtu(s, r);
      if (send === undefined || send.dev.name === net.dev) continue;
      // A sender larger than the device out gets its error from this host itself (locally made, OUTPUT).
      if (lan.mtu > send.mtu) {
        const own = ownErrorFinding(ctx, net, lan, lan.mtu, send, target, r);
        if (own !== undefined) out.push(own);
        continue;
      }
      const size = lan.mtu;
      const path = pathMtuOf(ctx, target, r.via, send.dev);
      if (path === undefined || size <= path.mtu) continue;
      const from = { src: net.client, dst: target.address, iif: net.dev };
      const back = routerErrorStopped(s, family, from, 'forwarded', r.via ?? target.address);
      if (back === undefined || clampCovers(s, family, from, path.mtu)) continue;
      const tooBig = TOO_BIG[family];
      const label = target.subject ?? peerLabel(target);
      const subject = `${net.cidr} to ${target.subject ?? target.address} path MTU`;
      const where = placeOf(back);
      const tool = family === 6 ? 'ip6tables' : 'iptables';
      out.push({
        check: ID, severity: 'warning', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject), peers: [target.address],
        summary: `path MTU black hole for the senders on ${net.cidr} (${net.dev}, mtu ${lan.mtu}) toward ${label}: this host forwards their packets of up to ${size} bytes by ${send.dev.name}${send.byRoute ? ' (the route\'s mtu)' : ''}, the path beyond carries ${path.how}, and the ${tooBig.name} the router sends back to them is dropped by ${where} as it crosses this host — the largest packet that gets through is ${path.mtu} bytes (ping -s ${pingSize(path.mtu, family)}, TCP MSS ${mssOf(path.mtu, family)}); larger ones are lost without a word`,
        evidence: uniqueEvidence([...evidenceOf(lan.origin), ...net.evidence, ...send.evidence, ...evidenceOf(r.route?.origin), ...(back.decidedBy ? stageEvidence(s, back.decidedBy) : [])]),
        why: `This host routes for ${net.cidr} (${net.because}). Its senders send packets as large as their link, ${lan.mtu} bytes, with DF set; this host forwards them by ${send.dev.name}, which carries them, and a router beyond that cannot forward them onto a ${path.mtu}-byte link drops them and answers the sender with ${tooBig.name}. That error crosses this host's FORWARD chain RELATED to the sender's connection, and ${where} drops it: the senders never learn, and every packet above ${path.mtu} bytes is lost while small ones and handshakes work. Senders on this host itself are not affected by this chain.`,
        fix: [
          acceptTooBig(family, chainFor(s, family, back)),
          `# or clamp their TCP only: ${tool} -t mangle -A FORWARD -i ${send.dev.name} -o ${net.dev} -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss ${mssOf(path.mtu, family)} (the SYN-ACK then announces what the path carries)`,
          `# or give the senders on ${net.cidr} an MTU of ${path.mtu} (ip link set ${net.dev} mtu ${path.mtu} here, and the senders' own devices)`,
        ],
        queries: [routeQuestion({ dst: target.address, src: net.client, iif: net.dev }, r)],
        signals: signalsOf(family, back),
      });
    }
  }
  return out;
}

/**
 * A routed sender whose link is larger than the device this host forwards by: this host drops
 * the packet itself and sends the error, which leaves through OUTPUT, RELATED to the sender's
 * connection. Dropped there, this host's own devices prove the black hole: an error.
 */
function ownErrorFinding(ctx: HostContext, net: RoutedNetwork, lan: InterfaceModel, lanMtu: number, send: NonNullable<ReturnType<typeof sendMtu>>, target: Peer & { subject?: string }, r: RouteLookupResult): Finding | undefined {
  const s = ctx.snapshot;
  const family = net.family;
  const request = walkPacket(s, { src: net.client, dst: target.address, iif: net.dev, proto: family === 4 ? 'icmp' : 'icmpv6', icmpType: family === 4 ? 8 : 128, icmpCode: 0 });
  if (request.outcome !== 'forwarded' || request.connection === undefined) return undefined;
  const tooBig = TOO_BIG[family];
  const back = walkPacket(s, { dst: net.client, proto: family === 4 ? 'icmp' : 'icmpv6', icmpType: tooBig.type, icmpCode: tooBig.code, conntrack: { state: 'RELATED', reply: true, entry: request.connection } });
  if (passed(back) || back.outcome === 'undecided') return undefined;
  const where = placeOf(back);
  const subject = `${net.cidr} to ${target.subject ?? target.address} path MTU`;
  return {
    check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject), peers: [target.address],
    summary: `path MTU black hole for the senders on ${net.cidr} (${net.dev}, mtu ${lanMtu}) toward ${target.subject ?? peerLabel(target)}: this host forwards to it by ${send.dev.name}, which carries ${send.mtu} bytes${send.byRoute ? ' (the route\'s mtu)' : ''}, and the ${tooBig.name} it sends the senders itself is dropped by ${where} — the largest packet that gets through is ${send.mtu} bytes (ping -s ${pingSize(send.mtu, family)}, TCP MSS ${mssOf(send.mtu, family)}); larger ones are lost without a word`,
    evidence: uniqueEvidence([...evidenceOf(lan.origin), ...net.evidence, ...send.evidence, ...evidenceOf(r.route?.origin), ...(back.decidedBy ? stageEvidence(s, back.decidedBy) : [])]),
    why: `This host routes for ${net.cidr} (${net.because}); its senders send packets as large as their link, ${lanMtu} bytes, with DF set, and this host cannot forward one above ${send.mtu} bytes by ${send.dev.name}: it drops it and answers the sender with ${tooBig.name}. That error is this host's own packet — it leaves through OUTPUT, RELATED to the sender's connection — and ${where} drops it, so the senders never learn.`,
    fix: [
      acceptTooBig(family, 'OUTPUT'),
      `# or give the senders on ${net.cidr} an MTU of ${send.mtu} (ip link set ${net.dev} mtu ${send.mtu} here, and the senders' own devices)`,
    ],
    queries: [routeQuestion({ dst: target.address, src: net.client, iif: net.dev }, r)],
    signals: signalsOf(family, back),
  };
}

/** Senders on a bridge whose vxlan port carries less than its MTU says. */
function bridgedSenderFindings(ctx: HostContext): Finding[] {
  const s = ctx.snapshot;
  const out: Finding[] = [];
  const usable = (i: InterfaceModel): boolean => !i.noCarrier && i.state !== 'DOWN';
  for (const bridge of s.interfaces) {
    if (bridge.kind !== 'bridge' || !usable(bridge)) continue;
    const ports = s.interfaces.filter((i) => i.master === bridge.name && usable(i));
    for (const tunnel of ports.filter(isL2Tunnel)) {
      const cap = tunnelCapacity(s, tunnel);
      if (cap === undefined || tunnel.mtu === undefined) continue;
      const senders = ports.filter((p) => p !== tunnel && !isL2Tunnel(p) && p.mtu !== undefined);
      // Frames above the tunnel's own MTU the bridge drops as it sends them: no error at all.
      const tooBigForBridge = senders.filter((p) => p.mtu! > tunnel.mtu!);
      // Frames the tunnel takes but cannot carry: the vxlan driver answers "fragmentation needed".
      const needError = senders.filter((p) => p.mtu! <= tunnel.mtu! && p.mtu! > cap.mtu);
      const deviceEvidence = uniqueEvidence([...evidenceOf(tunnel.origin), ...cap.underlay.evidence, ...senders.flatMap((p) => evidenceOf(p.origin))]);
      const largest = Math.min(tunnel.mtu, cap.mtu);
      const capWords = `${tunnel.name} (${tunnel.kindText ?? tunnel.kind}) over ${cap.underlay.dev.name} carries ${cap.mtu} bytes (${cap.underlay.dev.name} mtu ${cap.underlay.dev.mtu} less ${cap.overhead.bytes}: ${cap.overhead.what})`;
      // The senders' own end decides what they send; the bridge's end must match for the bridge to take it.
      const senderFix = (ports: InterfaceModel[]): string[] => [
        `# give the senders on ${ports.map((p) => p.name).join(', ')} an MTU of ${largest} at their end: inside the container or VM ip link set eth0 mtu ${largest}; Docker: "mtu": ${largest} in /etc/docker/daemon.json or the network's com.docker.network.driver.mtu`,
        ...ports.map((p) => `ip link set ${p.name} mtu ${largest}`),
      ];
      if (tooBigForBridge.length > 0) {
        const names = tooBigForBridge.map((p) => p.name);
        const subject = `${bridge.name} ${tunnel.name} port MTU`;
        out.push({
          check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
          summary: `${bridge.name}'s port${names.length > 1 ? 's' : ''} ${names.join(', ')} take frames of up to ${Math.max(...tooBigForBridge.map((p) => p.mtu!))} bytes, but its port ${tunnel.name} has mtu ${tunnel.mtu}: the bridge drops larger frames toward ${tunnel.name} silently, no error goes back — the largest packet that gets through is ${largest} bytes`,
          evidence: deviceEvidence,
          why: `A Linux bridge does not answer: a frame with DF set longer than the MTU of the port it leaves by is dropped as it is sent (br_netfilter cannot fragment it), without an ICMP error, so the senders behind ${names.join(', ')} never learn to send smaller. ${capWords}.`,
          fix: senderFix(tooBigForBridge),
          signals: kernelSignals({ cause: 'bridge-frame-too-big' }),
        });
      }
      if (needError.length === 0 || tunnel.mtu <= cap.mtu) continue;
      const family = 4;
      const addrs = bridgeMembers(bridge, family);
      if (addrs === undefined) continue;
      // The driver's error carries the state of the packet it answers: NEW for a ping or a first
      // datagram, ESTABLISHED for a segment of an established TCP connection (measured).
      const blocked: { port: InterfaceModel; walk: Walk; established: boolean }[] = [];
      for (const port of needError) {
        const request = walkPacket(s, { src: addrs[0], dst: addrs[1], proto: 'icmp', icmpType: 8, icmpCode: 0, bridged: { bridge: bridge.name, inPort: port.name, outPort: tunnel.name } });
        if (request.outcome !== 'bridged') continue;
        const error = icmpErrorAbout(request, { ...TOO_BIG[4], from: addrs[1], by: 'vxlan' });
        if (!('packet' in error)) continue;
        for (const state of ['NEW', 'ESTABLISHED'] as const) {
          const back = walkPacket(s, { ...error.packet, conntrack: { ...error.packet.conntrack!, state } });
          if (back.outcome === 'dropped' || back.outcome === 'rejected') blocked.push({ port, walk: back, established: state === 'ESTABLISHED' });
        }
      }
      if (blocked.length === 0) continue;
      const first = blocked[0].walk;
      const where = placeOf(first);
      const names = [...new Set(blocked.map((b) => b.port.name))];
      const tcpToo = blocked.some((b) => b.established);
      const lost = tcpToo ? 'every larger packet — pings, datagrams and TCP segments alike — is lost' : 'larger pings and datagrams are lost (TCP of an established connection gets its error as ESTABLISHED, which passes here)';
      const subject = `${bridge.name} ${tunnel.name} MTU`;
      out.push({
        check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
        summary: `path MTU black hole on ${bridge.name}: ${tunnel.name} has mtu ${tunnel.mtu} but carries only ${cap.mtu} over ${cap.underlay.dev.name}, and the "fragmentation needed" the ${tunnel.kindText ?? tunnel.kind} driver sends back to the senders on ${names.join(', ')} is dropped by ${where} — the largest packet that gets through is ${cap.mtu} bytes (ping -s ${pingSize(cap.mtu, family)}, TCP MSS ${mssOf(cap.mtu, family)}); ${lost}`,
        evidence: uniqueEvidence([...deviceEvidence, ...(first.decidedBy ? stageEvidence(s, first.decidedBy) : [])]),
        why: `${capWords}. A frame from ${names.join(', ')} of up to ${tunnel.mtu} bytes enters ${tunnel.name}; one above ${cap.mtu} with DF set is dropped there and the driver answers the sender with ${TOO_BIG[4].name}, which crosses FORWARD (bridge-nf-call-iptables) from ${tunnel.name} to the sender's port. That error carries the conntrack state of the packet it answers — NEW for a ping or a first datagram, ESTABLISHED for a TCP segment, never RELATED — so a rule accepting RELATED does not let it through, and ${where} drops it: containers or VMs behind the bridge lose ${tcpToo ? 'every larger packet' : 'larger pings and datagrams'} without a word. Senders on this host itself learn the smaller MTU locally and are not hit.`,
        fix: [
          acceptTooBig(family, chainFor(s, family, first)),
          ...senderFix(blocked.map((b) => b.port)).map((line) => (line.startsWith('#') ? line.replace(/^# /, '# or ') : `# ${line}`)),
        ],
        signals: signalsOf(family, first),
      });
    }
  }
  return out;
}

/** The findings of mtu-black-hole for one host. */
export function mtuBlackHoleFindings(ctx: HostContext): Finding[] {
  return [...bridgedSenderFindings(ctx), ...localSenderFindings(ctx), ...routedSenderFindings(ctx)];
}

export const mtuBlackHole: Check = {
  id: ID,
  title: 'Path MTU black hole: packets larger than the path carries are lost without a word',
  severity: 'error',
  explain: `Path MTU discovery keeps packets no larger than the smallest link on the way: a router
(or a vxlan device) that cannot forward a packet with DF set drops it and answers with ICMP
"fragmentation needed" (IPv6: Packet Too Big), and the sender sends smaller. When that error is
dropped — a firewall that accepts ESTABLISHED but not RELATED, drops ICMP, or (for the vxlan
driver's error, which carries the state of the packet it answers, never RELATED) accepts only
RELATED,ESTABLISHED — pings and handshakes work while every larger packet is lost without a word.

The check knows the MTU of the devices a peer's traffic takes (the route's mtu, else the
device's; a locked route mtu sends IPv4 without DF, so routers fragment; a bridge's ports; a
vxlan port's 50 bytes (70 over IPv6) over the device below it)
and what the path beyond carries: the peer's or remote's pathMtu in the config, the device's own
MTU on its link or inside the VPC (cloud metadata), else 1500, which it names as an assumption;
a fleet peer's MTU on the device holding its address (the aggregator's context) caps a routed
path, and the finding says where its figure came from.
Senders behind this host on a network it routes for (a LAN, VMs, containers it forwards) send
what their link carries; the router beyond answers them through this host's FORWARD, RELATED to
their connection — or, where their link is larger than the device out, this host answers them
itself, through its OUTPUT. It walks the error back through the firewall with the state the kernel gives it (docs/walk.md),
and takes net.ipv4.ip_no_pmtu_disc (any non-zero value sends IPv4 without DF, so routers
fragment: measured for 1, 2 and 3) and MSS clamping (iptables TCPMSS --set-mss, nft maxseg) into account. It states the
largest packet that gets through, and names a route advmss above what the path carries (it
sizes what the peer sends).

Error: this host's own devices prove it — a bridge's vxlan port whose MTU is
above what the device below carries, with the driver's error dropped in FORWARD, a bridge
port that takes larger frames than its tunnel port's MTU (the bridge drops them silently), or a
routed network larger than the device out with this host's own error dropped in OUTPUT.
Warning: it rests on a path MTU beyond this host (assumed, configured or reported by the fleet).

Fix: accept the error before the state rules (iptables -I INPUT -p icmp --icmp-type
fragmentation-needed -j ACCEPT; FORWARD, or DOCKER-USER, for bridged or routed senders, OUTPUT
where this host answers them itself; ip6tables
--icmpv6-type packet-too-big), or send smaller (a route mtu toward the peer; the senders' MTU
behind a bridge), or clamp TCP's MSS.`,
  families: { host: mtuBlackHoleFindings },
};
