/**
 * traceroute-loop: the trace ends in a forwarding loop — one address or a cycle of addresses
 * answering hop after hop without reaching the destination.
 */
import { uniqueEvidence, type Evidence, type Finding } from '../model/finding.js';
import { vpnGatewayAt } from '../model/topology.js';
import type { TraceLoop } from '../trace/loop.js';
import { destinationOf, named, traceFinding } from './trace-words.js';
import type { Check, TraceContext } from './types.js';
import { cloudLoopAtGateway } from './vpn-selector-gap/cloud.js';

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

export const tracerouteLoop: Check = {
  id: ID,
  title: 'The path ends in a forwarding loop',
  severity: 'error',
  explain: `One address (or a cycle of addresses) answers hop after hop and the trace never reaches
the destination: the packet circles between routers until its TTL runs out ("Time to live
exceeded" from the same address). Silent hops ("*") inside the loop are allowed — a cloud VPC
router forwards without answering, so the gateway shows every other hop. One address must answer
at least three hops; in a cycle of two or more routers each must answer at least twice. One
router answering two consecutive hops and the path then moving on (or reaching the destination)
is not a loop: probes took equal-cost paths of unequal length (ECMP); hostcheck trace prints a
note and no finding.

When the topology file names a looping address as a VPN gateway's private address, the cause
is the second incident (vpn-selector-gap): the source is outside the IPsec connection's local
subnets, so the gateway does not encrypt the packet and routes it back by the VPC route that
points at itself. The why names the connection whose remote subnets hold the destination, says
whether the source is inside its local subnets, and quotes that VPC route.

Evidence: the first two rounds of the loop and its last answer. Subject: the destination.

Fix: for a VPN gateway, add the source's CIDR (its network as the VPC's route table reaches it,
else the narrowest vSwitch, VPC or named network of the topology that holds it, else the address
/32) to the connection's local subnets, or set them to 0.0.0.0/0, and make the peer's remote
subnets match (vpn-selector-gap's fix, with the aliyun vpc ModifyVpnConnectionAttribute line).
Otherwise look up the route for the destination on each looping router: usually a summary or
default route points back because the specific route is missing or down.`,
  families: { trace: loopInTrace },
};

/** The loop the trace ends in, explained as the second incident when a topology names a VPN gateway in it. */
function loopInTrace(ctx: TraceContext): Finding[] {
  const loop = ctx.loop;
  if (!loop) return [];
  const dst = destinationOf(ctx);
  const src = ctx.path.source;
  const gateways = ctx.topology ? loop.addresses.map((a) => vpnGatewayAt(ctx.topology!, a)).filter((g) => g !== undefined) : [];
  const where = loop.period === 1 ? `${named(ctx, loop.addresses[0])} answers hops ${loop.firstHop} to ${loop.lastHop}` : `between ${loop.addresses.map((a) => named(ctx, a)).join(' and ')} from hop ${loop.firstHop} to ${loop.lastHop}`;
  let why = genericWhy(ctx, loop, dst);
  let fix = genericFix(loop, dst);
  if (gateways.length > 0 && ctx.topology) ({ why, fix } = cloudLoopAtGateway(ctx.topology, gateways[0], src, ctx.path.destination, dst));
  return [traceFinding(ctx, ID, 'error', {
    summary: `Packets ${src ? `from ${src} ` : ''}to ${dst} loop: ${where}`,
    evidence: loopEvidence(loop),
    why,
    fix,
  })];
}
