/**
 * The packets the datapath checks walk for a host, and their walks, made once per check context:
 * this host reaching each peer (and remote network) and each peer reaching this host, ICMP echo
 * and every --port, each with its reply. The forwarding checks add the flows of the networks a
 * router routes for (forward-flows.ts).
 */
import type { Peer } from '../../model/config.js';
import { memo, memoKey } from '../../model/memo.js';
import { parseAddress } from '../../net/address.js';
import { hostContext } from '../../simulate/host-context.js';
import { lookup } from '../../simulate/route-lookup.js';
import { walkPacket, type Walk, type WalkPacket } from '../../simulate/walk.js';
import { replyTo } from '../../simulate/walk-reply.js';
import type { HostContext } from '../types.js';
import { firstHost, peerLabel } from '../view.js';

/** One packet a check cares about, with what it is for people. */
export interface Flow {
  /** `out`: this host to the peer; `in`: the peer to this host. */
  direction: 'out' | 'in';
  /** The other end: a peer or a remote network's first host. */
  peer: Peer;
  /** "ICMP echo", "TCP 443". */
  what: string;
  /** Subject suffix: "icmp", "tcp/443". */
  service: string;
  packet: WalkPacket;
  request: Walk;
  /** The reply's walk, when the request got through and has one. */
  reply?: Walk;
}

const FLOWS = memoKey<HostContext, Flow[]>('datapath peer flows');

/** The packets of this host's conversations with its peers and remote networks, walked. */
export function peerFlows(ctx: HostContext): Flow[] {
  return memo(ctx, FLOWS, buildPeerFlows);
}

function buildPeerFlows(ctx: HostContext): Flow[] {
  const flows: Flow[] = [];
  const targets: Peer[] = [...ctx.peers];
  for (const r of ctx.remotes) {
    const h = firstHost(r);
    if (h !== undefined) targets.push({ address: h, name: `remote ${r}` });
  }
  const fib = hostContext(ctx.snapshot).fib;
  for (const peer of targets) {
    const addr = parseAddress(peer.address);
    if (addr === null) continue;
    const family = addr.family;
    for (const service of services(ctx.ports, family)) {
      const out = withReply(ctx, { dst: peer.address, ...service.packet }, 'out', peer, service);
      flows.push(out);
      // The peer's packet arrives where the route to it leaves and is addressed to the source this host would use.
      const back = lookup(fib, { dst: peer.address });
      if (back.dev === undefined || back.src === undefined || back.type !== 'unicast') continue;
      flows.push(withReply(ctx, { src: peer.address, dst: back.src, iif: back.dev, ...service.packet }, 'in', peer, service));
    }
  }
  return flows;
}

interface Service {
  what: string;
  service: string;
  packet: Omit<WalkPacket, 'dst' | 'src' | 'iif'>;
}

/** ICMP echo and each --port, as packets of `family`. */
export function services(ports: readonly string[], family: 4 | 6): Service[] {
  const out: Service[] = [{ what: 'ICMP echo', service: family === 4 ? 'icmp' : 'icmpv6', packet: { proto: family === 4 ? 'icmp' : 'icmpv6', icmpType: family === 4 ? 8 : 128, icmpCode: 0 } }];
  for (const port of ports) {
    const [proto, n] = port.split('/');
    if (proto !== 'tcp' && proto !== 'udp') continue;
    out.push({ what: `${proto.toUpperCase()} ${n}`, service: port, packet: { proto, sport: 40000, dport: Number(n), ...(proto === 'tcp' && { tcpFlags: 0x02 }) } });
  }
  return out;
}

function withReply(ctx: HostContext, packet: WalkPacket, direction: Flow['direction'], peer: Peer, service: Service): Flow {
  const request = walkPacket(ctx.snapshot, packet);
  const flow: Flow = { direction, peer, what: service.what, service: service.service, packet, request };
  const next = replyTo(request);
  if ('packet' in next) flow.reply = walkPacket(ctx.snapshot, next.packet);
  return flow;
}

/** "ICMP echo from ecs2 172.18.1.22" / "the reply to ..." for a walk of a flow. */
export function flowLabel(f: Flow, reply: boolean): string {
  const towards = f.direction === 'out' ? `to ${peerLabel(f.peer)}` : `from ${peerLabel(f.peer)}`;
  if (!reply) return `${f.what} ${towards}`;
  return `the reply to ${f.what} ${towards}`;
}

/** True when a walk got its packet through. */
export function passed(w: Walk): boolean {
  return w.outcome === 'delivered' || w.outcome === 'sent' || w.outcome === 'forwarded' || w.outcome === 'bridged';
}
