/**
 * traceroute-loop: the trace ends in a forwarding loop — one address or a cycle of addresses
 * answering hop after hop without reaching the destination.
 */
import { findingKey, uniqueEvidence, type Evidence } from '../model/finding.js';
import { vpnGatewayAt } from '../model/topology.js';
import type { TraceLoop } from './loop.js';
import { destinationOf, named, type TraceCheck, type TraceContext } from './types.js';
import { selectorGap, selectorGapFix, selectorGapWhy } from './vpn-selector.js';

const ID = 'traceroute-loop';

/** The first two rounds of the loop and its last answer: enough to prove it without 30 lines. */
function loopEvidence(loop: TraceLoop): Evidence[] {
  const answered = loop.hops.filter((h) => h.responders.length > 0);
  return uniqueEvidence([...answered.slice(0, Math.max(3, 2 * loop.period)), answered[answered.length - 1]].map((h) => h.evidence));
}

function genericWhy(ctx: TraceContext, loop: TraceLoop, dst: string): string {
  if (loop.period === 1) {
    return `Every pass of the packet meets ${loop.addresses.join(' and ')} again one hop later: that router's route for ${dst} leads back to itself, through a device that does not answer traceroute (a cloud VPC router, a tunnel). Typical: a VPN gateway that did not encrypt the packet — its source is outside the connection's local subnets — and routed it again by the VPC route that points at the gateway.`;
  }
  const [a, b] = loop.addresses;
  return `The routers ${loop.addresses.map((x) => named(ctx, x)).join(', ')} forward packets for ${dst} to each other: ${a}'s route for ${dst} points at ${b}, and ${b}'s (directly or through the others) points back. Each pass costs a hop until the TTL runs out, so nothing arrives and each router answers every ${loop.period}th hop.`;
}

function genericFix(loop: TraceLoop, dst: string): string[] {
  if (loop.period === 1) {
    return [
      `On ${loop.addresses[0]} look up the route for ${dst} ("ip route get ${dst}"; for a cloud gateway, the VPC route table and the gateway's connections): it leads back to ${loop.addresses[0]}.`,
      `If ${loop.addresses[0]} is a VPN gateway: add the source's CIDR to the IPsec connection's local subnets (or 0.0.0.0/0) and match the peer's remote subnets. Name it in a topology file (--topology) for a precise fix.`,
    ];
  }
  return [
    `On each looping router (${loop.addresses.join(', ')}) look up the route for ${dst}: "ip route get ${dst}" on Linux, the route table in a cloud console. Each one's next hop is the next router of the loop.`,
    `Correct the one that is wrong: usually a summary or default route points back toward the source because the specific route for ${dst} is missing, withdrawn or down (a tunnel, a leased line).`,
  ];
}

export const tracerouteLoop: TraceCheck = {
  id: ID,
  title: 'The path ends in a forwarding loop',
  severity: 'error',
  explain: `One address (or a cycle of addresses) answers hop after hop and the trace never reaches
the destination: the packet circles between routers until its TTL runs out ("Time to live
exceeded" from the same address). One router answering two consecutive hops and then the path
moving on is not a loop: probes took equal-cost paths of unequal length (ECMP).

When the topology file names the looping address as a VPN gateway's private address, the cause
is the second incident: the source is outside the IPsec connection's local subnets, so the
gateway does not encrypt the packet and routes it back by the VPC route that points at itself.

Fix: for a VPN gateway, add the source's CIDR to the connection's local subnets (or set them to
0.0.0.0/0) and make the peer's remote subnets match; otherwise correct the route for the
destination on the looping routers.`,
  run(ctx) {
    const loop = ctx.loop;
    if (!loop) return [];
    const dst = destinationOf(ctx);
    const src = ctx.path.source;
    const gateways = ctx.topology ? loop.addresses.map((a) => vpnGatewayAt(ctx.topology!, a)).filter((g) => g !== undefined) : [];
    const where = loop.period === 1 ? `${named(ctx, loop.addresses[0])} answers hops ${loop.firstHop} to ${loop.lastHop}` : `between ${loop.addresses.map((a) => named(ctx, a)).join(' and ')} from hop ${loop.firstHop} to ${loop.lastHop}`;
    let why = genericWhy(ctx, loop, dst);
    let fix = genericFix(loop, dst);
    if (gateways.length > 0 && ctx.topology) {
      const gap = selectorGap(ctx.topology, gateways[0], src, ctx.path.destination);
      why = selectorGapWhy(gap, src, dst);
      fix = selectorGapFix(gap);
    }
    return [{
      check: ID,
      severity: 'error',
      host: ctx.host,
      subject: dst,
      key: findingKey(ID, ctx.host, dst),
      summary: `Packets ${src ? `from ${src} ` : ''}to ${dst} loop: ${where}`,
      evidence: loopEvidence(loop),
      why,
      fix,
      ...(ctx.path.destination !== undefined && { peers: [ctx.path.destination] }),
    }];
  },
};
