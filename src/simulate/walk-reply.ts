/**
 * The packets that follow a walked one through conntrack: its reply, and an ICMP error about it.
 * Each is a WalkPacket carrying the connection the first walk left, so walking it applies the
 * reverse NAT mapping and the ESTABLISHED/RELATED state the kernel gives.
 */
import { icmpReplyType } from './conntrack.js';
import type { Walk, WalkPacket } from './walk-types.js';

/** Why a walk has no reply to follow, or the reply packet as it enters the host. */
export function replyTo(walk: Walk): { packet: WalkPacket } | { none: string } {
  const passed = walk.outcome === 'delivered' || walk.outcome === 'sent' || walk.outcome === 'forwarded' || walk.outcome === 'bridged';
  if (!passed) return { none: `the packet is ${walk.outcome}` };
  const c = walk.connection;
  const p = walk.packet;
  const family = p.family;
  let reply: WalkPacket;
  if (c === undefined) {
    // Not tracked (NOTRACK): the reply is a packet of no connection, with no NAT to undo.
    if (!walk.final.untracked) return { none: 'the packet starts no connection conntrack keeps' };
    const f = walk.final;
    reply = { src: f.dst, dst: f.src, proto: p.proto, ...(f.dport !== undefined && { sport: f.dport }), ...(f.sport !== undefined && { dport: f.sport }) };
  } else {
    if (c.uncertain !== undefined) return { none: c.uncertain };
    reply = { src: c.reply.src, dst: c.reply.dst, proto: p.proto, conntrack: { state: 'ESTABLISHED', reply: true, entry: c } };
    if (c.reply.sport !== undefined) reply.sport = c.reply.sport;
    if (c.reply.dport !== undefined) reply.dport = c.reply.dport;
  }
  const icmp = p.proto === 'icmp' || p.proto === 'icmpv6' || p.proto === 1 || p.proto === 58;
  if (icmp) {
    const type = icmpReplyType(family, p.icmpType);
    if (type === undefined) return { none: `ICMP type ${p.icmpType ?? '?'} gets no reply` };
    reply.icmpType = type;
    reply.icmpCode = 0;
  }
  if (p.proto === 'tcp' || p.proto === 6) reply.tcpFlags = ((p.tcpFlags ?? 0x02) & 0x02) !== 0 ? 0x12 : 0x10;
  switch (walk.outcome) {
    case 'delivered':
      // A local socket answers; a reply to a packet that looped in through lo goes back the same way.
      break;
    case 'sent':
    case 'forwarded':
      if (walk.outDev === undefined) return { none: 'the device the packet left by is not known' };
      reply.iif = walk.outDev;
      break;
    case 'bridged': {
      const b = p.bridged!;
      if (b.outPort === undefined) return { none: 'the bridge port the packet left by is not known' };
      reply.bridged = { bridge: b.bridge, inPort: b.outPort, outPort: b.inPort };
      break;
    }
    default:
      return { none: `the packet is ${walk.outcome}` };
  }
  return { packet: reply };
}

/**
 * An ICMP error about a walked packet (fragmentation needed, host unreachable ...). From a
 * `router` on the way it arrives by the device the packet left by and conntrack calls it RELATED
 * (its outer header is translated like a reply). From the `vxlan` driver answering a bridged
 * sender it carries the state of the packet it answers, never RELATED (KERNEL-NOTES).
 */
export function icmpErrorAbout(walk: Walk, error: { type: number; code: number; from: string; by: 'router' | 'vxlan' }): { packet: WalkPacket } | { none: string } {
  const c = walk.connection;
  if (c === undefined) return { none: `the packet is ${walk.outcome}` };
  const p = walk.packet;
  const proto = p.family === 4 ? 'icmp' : 'icmpv6';
  if (error.by === 'vxlan') {
    const b = p.bridged;
    if (b?.outPort === undefined) return { none: 'the vxlan case needs a bridged packet and the vxlan port it left by' };
    const state = p.conntrack?.state ?? 'NEW';
    return {
      packet: {
        src: error.from, dst: p.src, proto, icmpType: error.type, icmpCode: error.code,
        bridged: { bridge: b.bridge, inPort: b.outPort, outPort: b.inPort },
        conntrack: { state, ...(p.conntrack?.reply !== undefined && { reply: p.conntrack.reply }), entry: c },
      },
    };
  }
  const base: WalkPacket = { src: error.from, dst: c.reply.dst, proto, icmpType: error.type, icmpCode: error.code, conntrack: { state: 'RELATED', reply: true, entry: { ...c, reply: { ...c.reply, src: error.from } } } };
  if (walk.outcome === 'sent' || walk.outcome === 'forwarded') {
    if (walk.outDev === undefined) return { none: 'the device the packet left by is not known' };
    return { packet: { ...base, iif: walk.outDev } };
  }
  if (walk.outcome === 'bridged') {
    const b = p.bridged!;
    if (b.outPort === undefined) return { none: 'the bridge port the packet left by is not known' };
    return { packet: { ...base, bridged: { bridge: b.bridge, inPort: b.outPort, outPort: b.inPort } } };
  }
  return { none: `an error about a ${walk.outcome} packet comes from this host itself` };
}
