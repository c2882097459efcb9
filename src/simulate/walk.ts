/**
 * The packet walk: one packet through a host in the kernel's order, netfilter and routing
 * together, so a mark set in mangle reaches the fwmark rules, a DNAT changes the route, and a
 * MASQUERADE takes the address of the device the route chose.
 *
 * - locally generated: the socket's route lookup (picks the source), OUTPUT (raw, conntrack,
 *   mangle, nat, filter, security; a reroute after mangle when the mark, source or destination
 *   changed and after nat when the destination did, as ip_route_me_harder), POSTROUTING; a local
 *   destination then loops in through lo (PREROUTING, INPUT; no nat chains, NAT is set up);
 * - arriving: PREROUTING, the input route lookup with the mark and the translated destination
 *   (martian source, rp_filter as fib_validate_source does it, per-device forwarding), then
 *   INPUT for a local destination, or the TTL, FORWARD and POSTROUTING;
 * - bridged with bridge-nf-call-ip(6)tables=1: PREROUTING, FORWARD, POSTROUTING with the bridge
 *   as -i/-o and its ports as -m physdev; no routing.
 *
 * Replies and ICMP errors about a walked packet are walked with the connection it left
 * (`replyTo`, `icmpErrorAbout`): conntrack's NAT mapping rewrites them at the NAT priorities.
 * Pure: a snapshot and a packet in, the stages out. Documented in docs/walk.md.
 */
import type { Origin } from '../model/records.js';
import type { HostSnapshot } from '../model/snapshot.js';
import type { SysctlRecord } from '../model/sysctl.js';
import { parseAddress, type Address } from '../net/address.js';
import { stateWithoutEntry, type ConnectionEntry, type ConntrackContext } from './conntrack.js';
import { hostContext, type HostContext } from './host-context.js';
import { decisionPlace } from './netfilter-hooks.js';
import { NetfilterRun, type ChainEvaluator, type HookEntry, type HookResult, type NetfilterPacket, type PacketView } from './netfilter.js';
import type { EvaluateOptions } from './netfilter-types.js';
import { lookup, type RouteLookupResult, type RouteQuery } from './route-lookup.js';
import { effectiveRpFilter } from './rp-filter.js';
import type { Walk, WalkOutcome, WalkPacket, WalkPath, WalkStage } from './walk-types.js';

export type * from './walk-types.js';

export interface WalkOptions {
  /** Skip native nft chains instead of evaluating them. */
  ignoreNativeNft?: boolean;
  /** An evaluator for native nft base chains (default: the host's, src/simulate/nft-eval.ts). */
  nftEvaluator?: ChainEvaluator;
  /** Per-hook trace limit of the netfilter evaluator. */
  traceLimit?: number;
}

const DELIVERABLE = new Set(['unicast', 'local', 'broadcast', 'multicast', 'anycast']);

/** The sysctl key of a per-device setting (a dot in the device name is a slash there). */
export function confKey(family: 4 | 6, dev: string, name: string): string {
  return `net.ipv${family}.conf.${dev.replaceAll('.', '/')}.${name}`;
}

/** Walks `packet` through the host of `snapshot`. */
export function walkPacket(snapshot: HostSnapshot, packet: WalkPacket, opts: WalkOptions = {}): Walk {
  return new Walker(hostContext(snapshot), packet, opts).walk();
}

class Walker {
  private readonly stages: WalkStage[] = [];
  private readonly notes: string[] = [];
  private readonly family: 4 | 6;
  private readonly dst: Address | null;
  /** The route the packet follows now (for MASQUERADE and POSTROUTING). */
  private route: RouteLookupResult | undefined;
  private src: string | undefined;

  constructor(private readonly ctx: HostContext, private readonly packet: WalkPacket, private readonly opts: WalkOptions) {
    this.dst = parseAddress(packet.dst);
    this.family = this.dst?.family ?? 4;
    this.src = packet.src;
  }

  walk(): Walk {
    const p = this.packet;
    if (this.dst === null) return this.end('undecided', undefined, `destination ${p.dst} is not an address`, this.emptyView());
    if (p.src !== undefined && parseAddress(p.src)?.family !== this.family) return this.end('undecided', undefined, `source ${p.src} is not an IPv${this.family} address`, this.emptyView());
    if (p.bridged !== undefined) return this.bridged();
    if (p.iif !== undefined) return this.arriving();
    return this.local();
  }

  // ---- locally generated ------------------------------------------------------------------

  private local(): Walk {
    const p = this.packet;
    const q: RouteQuery = { dst: p.dst, src: p.src, oif: p.oif, mark: p.mark ?? 0, uid: p.uid, tos: p.tos, ipproto: ipprotoOf(p.proto), sport: p.sport, dport: p.dport };
    const first = this.lookup(q, 'socket');
    if (!DELIVERABLE.has(first.type)) {
      return this.end('unroutable', this.last(), `the socket's route lookup answers ${first.type}${first.route ? ` (${first.route.type} ${first.route.dst}${first.route.table !== 'main' ? ` table ${first.route.table}` : ''})` : first.rule ? ` (rule ${first.rule.priority})` : ''}: the application gets an error`, this.emptyView());
    }
    this.src ??= first.src;
    if (this.src === undefined) return this.end('undecided', this.last(), 'the route gives no source address', this.emptyView());
    this.route = first;
    const run = this.netfilter('output');
    this.conntrackStage();
    this.ipvs({ src: this.src, dst: p.dst, sport: p.sport, dport: p.dport, mark: p.mark ?? 0, ctmark: 0 });
    const outDev = first.dev;
    const reroutes: WalkStage[] = [];
    const output = this.hook(run, run.runHook('OUTPUT', { outIf: outDev }, {
      afterEntry: (entry, before) => this.rerouteIfChanged(entry, before, run.view(), reroutes),
    }), reroutes);
    if (output !== undefined) return output;
    const route = this.route;
    const post = this.hook(run, run.runHook('POSTROUTING', { outIf: route.dev }));
    if (post !== undefined) return post;
    if (route.type === 'local' || (route.dev === 'lo' && route.type !== 'multicast')) {
      // The packet loops back in through lo: PREROUTING and INPUT run, the nat chains do not.
      const pre = this.hook(run, run.runHook('PREROUTING', { inIf: 'lo' }, { skipNat: true }));
      if (pre !== undefined) return pre;
      const input = this.hook(run, run.runHook('INPUT', { inIf: 'lo' }, { skipNat: true }));
      if (input !== undefined) return input;
      return this.end('delivered', undefined, undefined, run.view(), run);
    }
    this.unseenOn(route.dev, 'egress');
    return this.end('sent', undefined, undefined, run.view(), run);
  }

  /** ip_route_me_harder after a mangle (or route-type) table changed the packet, or a nat table its destination. */
  private rerouteIfChanged(entry: HookEntry, before: PacketView, now: PacketView, stages: WalkStage[]): { verdict: 'drop' | 'undecided'; reason: string } | undefined {
    const mangle = entry.kind === 'iptables' ? entry.name === 'mangle' : entry.chain.type === 'route';
    const nat = entry.kind === 'iptables' ? entry.name === 'nat' : entry.chain.type === 'nat';
    const changed = mangle ? now.mark !== before.mark || now.src !== before.src || now.dst !== before.dst : nat ? now.dst !== before.dst : false;
    if (!changed) return undefined;
    if (now.dstUncertain) return { verdict: 'undecided', reason: 'the destination was translated to one of several addresses: the reroute cannot be followed' };
    const p = this.packet;
    const q: RouteQuery = { dst: now.dst, src: now.src, oif: p.oif, mark: now.mark, uid: p.uid, tos: p.tos, ipproto: ipprotoOf(p.proto), sport: now.sport, dport: now.dport };
    const r = lookup(this.ctx.fib, q, { trace: true });
    stages.push({ kind: 'route', why: 'reroute', query: q, result: r, decides: true });
    if (!DELIVERABLE.has(r.type)) {
      return { verdict: 'drop', reason: `rerouted after ${mangle ? `the ${entry.kind === 'iptables' ? 'mangle table' : `chain ${entry.chain.name}`} changed the ${now.mark !== before.mark ? 'mark' : 'addresses'}` : 'DNAT'}: the route lookup answers ${r.type}, so the packet is dropped` };
    }
    this.route = r;
    return undefined;
  }

  // ---- arriving on an interface -----------------------------------------------------------

  private arriving(): Walk {
    const p = this.packet;
    const iif = p.iif!;
    const run = this.netfilter('forward');
    this.conntrackStage();
    this.unseenOn(iif, 'ingress');
    const pre = this.hook(run, run.runHook('PREROUTING', { inIf: iif }));
    if (pre !== undefined) return pre;
    const now = run.view();
    if (now.dstUncertain) return this.end('undecided', this.last(), 'the destination was translated to one of several addresses: the route cannot be followed', now, run);
    const q: RouteQuery = { dst: now.dst, src: now.src, iif, mark: now.mark, tos: p.tos, ipproto: ipprotoOf(p.proto), sport: now.sport, dport: now.dport };
    const r = this.lookup(q, 'input');
    // A multicast destination is taken as a group this host joined (all-nodes, solicited-node): delivered here.
    const local = r.type === 'local' || r.type === 'broadcast' || r.type === 'multicast';
    if (r.type === 'multicast') this.notes.push(`${now.dst} is multicast: delivered here as a group this host joined`);
    if (!local) {
      const fwd = this.forwarding(iif);
      if (fwd !== undefined) return this.end('dropped', fwd, `forwarding is off on ${iif}: the kernel drops packets it would have to route`, now, run);
      if (!DELIVERABLE.has(r.type)) {
        const silent = r.type === 'blackhole';
        return this.end(silent ? 'dropped' : 'rejected', this.stageOf('route'), `the route lookup answers ${r.type}${silent ? ' (dropped silently)' : ` (${ICMP_OF[r.type] ?? 'an ICMP error'} to the sender)`}`, now, run);
      }
      if (r.type !== 'unicast') return this.end('undecided', this.stageOf('route'), `a forwarded ${r.type} packet is not simulated`, now, run);
    }
    const martian = this.martianSource(now.src, iif);
    if (martian !== undefined) return this.end('dropped', martian, `the source ${now.src} is an address of this host (a martian source)`, now, run);
    const rp = this.reversePath(now, iif, local ? undefined : r.dev);
    if (rp !== undefined) return this.end('dropped', rp, rp.kind === 'rp-filter' ? `rp_filter=${rp.mode} on ${iif}: the route back to ${now.src} ${rp.reverse.dev && DELIVERABLE.has(rp.reverse.type) ? `leaves by ${rp.reverse.dev}` : `does not exist (${rp.reverse.type})`}` : '', now, run);
    if (local) {
      this.ipvs(now);
      const input = this.hook(run, run.runHook('INPUT', { inIf: iif }));
      if (input !== undefined) return input;
      return this.end('delivered', undefined, undefined, run.view(), run);
    }
    this.route = r;
    const ttl = p.ttl ?? 64;
    if (ttl <= 1) {
      this.stages.push({ kind: 'ttl', ttl, decides: true });
      return this.end('rejected', this.last(), `TTL ${ttl} runs out here ("Time to live exceeded" to the sender)`, now, run);
    }
    const forward = this.hook(run, run.runHook('FORWARD', { inIf: iif, outIf: r.dev }));
    if (forward !== undefined) return forward;
    const post = this.hook(run, run.runHook('POSTROUTING', { inIf: iif, outIf: r.dev }));
    if (post !== undefined) return post;
    this.unseenOn(r.dev, 'egress');
    return this.end('forwarded', undefined, undefined, run.view(), run);
  }

  /** The forwarding stage when it stops the packet (undefined when forwarding is on). */
  private forwarding(iif: string): WalkStage | undefined {
    const { on, evidence } = forwardingOn(this.ctx, this.family, iif);
    const stage: WalkStage = { kind: 'forwarding', dev: iif, on: on === true, evidence, decides: on !== true };
    this.stages.push(stage);
    if (on === undefined) this.notes.push(`the forwarding settings of ${iif} were not collected: the kernel's default (off) is assumed`);
    return on === true ? undefined : stage;
  }

  /** A source that is an address of this host arriving from outside is dropped (fib_validate_source), unless accept_local. */
  private martianSource(src: string, iif: string): WalkStage | undefined {
    if (iif === 'lo') return undefined;
    const own = this.ctx.localAddresses[this.family].some((a) => a.cidr.split('/')[0] === src);
    if (!own) return undefined;
    if (this.family === 6) return undefined;
    const acceptLocal = this.sysctl(confKey(4, iif, 'accept_local'));
    if (acceptLocal?.value.trim() === '1') return undefined;
    const stage: WalkStage = { kind: 'martian', what: `source ${src} is this host's own address`, decides: true };
    this.stages.push(stage);
    return stage;
  }

  /** fib_validate_source's reverse-path check under rp_filter (IPv4 only); the stage when it drops. */
  private reversePath(now: PacketView, iif: string, oif: string | undefined): WalkStage | undefined {
    if (this.family !== 4) return undefined;
    const records = this.ctx.snapshot.sysctls;
    const mode = effectiveRpFilter(records, iif);
    if (!mode) return undefined;
    const evidence = [confKey(4, 'all', 'rp_filter'), confKey(4, iif, 'rp_filter')].map((k) => this.sysctl(k)).filter((x): x is SysctlRecord => x !== undefined);
    const validMark = this.sysctl(confKey(4, iif, 'src_valid_mark'))?.value.trim() === '1' || this.sysctl(confKey(4, 'all', 'src_valid_mark'))?.value.trim() === '1';
    const p = this.packet;
    // The reverse lookup: from the destination to the source, entering from the route's output device (lo for local delivery).
    const q: RouteQuery = { dst: now.src, src: now.dst, iif: oif ?? 'lo', mark: validMark ? now.mark : 0, tos: p.tos, ipproto: ipprotoOf(p.proto), sport: now.dport, dport: now.sport };
    const reverse = lookup(this.ctx.fib, q, { trace: true });
    let pass: boolean;
    if (!DELIVERABLE.has(reverse.type)) pass = false;
    else if (reverse.type !== 'unicast' && reverse.type !== 'local') pass = false;
    else if (mode === 2) pass = true;
    else pass = (reverse.nexthops ?? []).some((n) => n.dev === iif) || reverse.dev === iif;
    const stage: WalkStage = { kind: 'rp-filter', dev: iif, mode, pass, reverse, evidence, decides: !pass };
    this.stages.push(stage);
    return pass ? undefined : stage;
  }

  // ---- bridged ------------------------------------------------------------------------------

  private bridged(): Walk {
    const p = this.packet;
    const b = p.bridged!;
    const key = this.family === 4 ? 'net.bridge.bridge-nf-call-iptables' : 'net.bridge.bridge-nf-call-ip6tables';
    const record = this.sysctl(key);
    const on = record?.value.trim() === '1';
    this.stages.push({ kind: 'bridge-nf', on, evidence: record ? [record] : [], decides: on });
    if (!on) {
      if (record === undefined) this.notes.push(`${key} was not collected (br_netfilter not loaded): bridged packets meet no ${this.family === 4 ? 'iptables' : 'ip6tables'} rules`);
      return this.end('bridged', undefined, undefined, { src: p.src ?? '', dst: p.dst, mark: p.mark ?? 0, ctmark: 0 });
    }
    if (p.src === undefined) return this.end('undecided', undefined, 'a bridged packet needs a source address', this.emptyView());
    const run = this.netfilter('bridge');
    this.conntrackStage();
    this.unseenOn(b.inPort, 'ingress');
    const pre = this.hook(run, run.runHook('PREROUTING', { inIf: b.bridge, physdev: { in: b.inPort } }));
    if (pre !== undefined) return pre;
    const now = run.view();
    if (now.dst !== p.dst || now.dstUncertain) return this.end('undecided', this.last(), 'DNAT on a bridged packet makes br_netfilter route it: not simulated', now, run);
    const physdev = b.outPort !== undefined ? { in: b.inPort, out: b.outPort } : undefined;
    if (physdev === undefined) this.notes.push('the bridge port the packet leaves by is not given: -m physdev --physdev-out is undecided');
    const forward = this.hook(run, run.runHook('FORWARD', { inIf: b.bridge, outIf: b.bridge, ...(physdev ? { physdev } : {}) }));
    if (forward !== undefined) return forward;
    const post = this.hook(run, run.runHook('POSTROUTING', { outIf: b.bridge, ...(physdev ? { physdev } : {}) }));
    if (post !== undefined) return post;
    if (b.outPort !== undefined) this.unseenOn(b.outPort, 'egress');
    return this.end('bridged', undefined, undefined, run.view(), run);
  }

  // ---- what hostcheck does not evaluate -----------------------------------------------------

  /** XDP (ingress) and tc filters on `dev`: they run before PREROUTING / after POSTROUTING and can drop or redirect. */
  private unseenOn(dev: string | undefined, direction: 'ingress' | 'egress'): void {
    if (dev === undefined) return;
    const s = this.ctx.snapshot;
    const what: string[] = [];
    const origins: Origin[] = [];
    const link = s.interfaces.find((i) => i.name === dev);
    if (direction === 'ingress' && link?.xdp !== undefined) {
      const progs = link.xdp.programs.map((x) => `${x.name ?? 'program'}${x.id !== undefined ? ` (id ${x.id})` : ''}`).join(', ') || 'a program';
      what.push(`XDP (${link.xdp.mode}) ${progs} on ${dev}`);
      origins.push(link.xdp.origin);
    }
    for (const f of s.tcFilters ?? []) {
      if (f.dev !== dev || f.direction !== direction) continue;
      // A filter whose every action passes cannot change the verdict; a BPF program can do anything.
      if (f.kind !== 'bpf' && f.actions.length > 0 && f.actions.every((a) => a === 'pass')) continue;
      const name = f.program ? `${f.program.object ?? f.program.name ?? 'BPF program'}${f.program.id !== undefined ? ` (id ${f.program.id})` : ''}` : f.kind;
      what.push(`tc ${direction} ${f.kind === 'bpf' ? `BPF ${name}` : `${name} filter${f.actions.length ? ` (${f.actions.join(', ')})` : ''}`} on ${dev}`);
      origins.push(f.origin);
    }
    if (what.length > 0) this.stages.push({ kind: 'unseen', where: `${direction} of ${dev}`, what, origins, decides: true });
  }

  /** An IPVS virtual service for the packet's destination takes it over (LOCAL_IN, LOCAL_OUT). */
  private ipvs(now: PacketView): void {
    const p = this.packet;
    const proto = p.proto === 'tcp' || p.proto === 6 ? 'TCP' : p.proto === 'udp' || p.proto === 17 ? 'UDP' : p.proto === 132 ? 'SCTP' : undefined;
    const hits = (this.ctx.snapshot.ipvs ?? []).filter((v) => (v.protocol === 'FWM' ? v.mark === now.mark : v.protocol === proto && v.address === now.dst && v.port === now.dport));
    if (hits.length === 0) return;
    const what = hits.map((v) => `IPVS virtual service ${v.protocol} ${v.protocol === 'FWM' ? `mark ${v.mark}` : `${v.address}:${v.port}`} (${v.scheduler}, ${v.reals.length} real server${v.reals.length === 1 ? '' : 's'})`);
    this.stages.push({ kind: 'unseen', where: 'IPVS', what, origins: hits.map((v) => v.origin), decides: true });
  }

  // ---- shared -------------------------------------------------------------------------------

  private netfilter(path: EvaluateOptions['path']): NetfilterRun {
    const p = this.packet;
    const ct = this.conntrack();
    const nf: NetfilterPacket = {
      family: this.family, src: this.src!, dst: p.dst, proto: p.proto,
      tcpFlags: p.tcpFlags ?? 0x02, mark: p.mark ?? 0, ctmark: ct.entry?.ctmark ?? 0,
      ctstate: ct.state, physdev: p.bridged ? { in: p.bridged.inPort } : null,
    };
    if (p.sport !== undefined) nf.sport = p.sport;
    if (p.dport !== undefined) nf.dport = p.dport;
    if (p.icmpType !== undefined) nf.icmpType = p.icmpType;
    if (p.icmpCode !== undefined) nf.icmpCode = p.icmpCode;
    if (ct.reply) nf.ctReply = true;
    if (ct.unknown !== undefined) nf.ctUnknown = ct.unknown;
    const entry = ct.entry;
    if (entry !== undefined && ct.state !== 'NEW') {
      nf.ctOrig = entry.orig;
      nf.ctNat = natMapping(entry, ct.reply ?? false);
    }
    const opts: EvaluateOptions = {
      path,
      localAddresses: this.ctx.localAddresses[this.family],
      ignoreNativeNft: this.opts.ignoreNativeNft,
      traceLimit: this.opts.traceLimit,
      // Toward the packet's destination as it is now (after a DNAT): the kernel asks with the
      // header's daddr (IPv4: the route's nexthop for it, nf_nat_masquerade_ipv4/ipv6).
      masqueradeSource: (dev, nexthop) => {
        const via = this.route?.via;
        return this.ctx.fib.sources.choose(this.family, dev, via, parseAddress(nexthop) ?? this.dst!);
      },
    };
    opts.nftEvaluator = this.opts.nftEvaluator ?? this.ctx.nft;
    return new NetfilterRun(this.ctx.ruleset[this.family], nf, opts);
  }

  private ct: ConntrackContext | undefined;

  private conntrack(): ConntrackContext {
    if (this.ct !== undefined) return this.ct;
    const p = this.packet;
    this.ct = p.conntrack ?? { state: stateWithoutEntry({ family: this.family, proto: p.proto, tcpFlags: p.tcpFlags, icmpType: p.icmpType }) };
    return this.ct;
  }

  private conntrackStage(): void {
    const ct = this.conntrack();
    const why = ct.unknown !== undefined ? ct.unknown
      : ct.entry !== undefined ? `${ct.reply ? 'the reply direction of' : 'a later packet of'} ${ct.entry.orig.src} → ${ct.entry.orig.dst}${ct.state === 'RELATED' ? ' (an ICMP error about it)' : ''}`
        : this.packet.conntrack !== undefined ? 'as given' : 'no connection known: the state conntrack gives such a packet';
    this.stages.push({ kind: 'conntrack', state: ct.unknown !== undefined ? `unknown (${ct.state} assumed)` : ct.state, why, decides: ct.state === 'INVALID' || ct.unknown !== undefined });
  }

  private lookup(q: RouteQuery, why: 'socket' | 'input'): RouteLookupResult {
    const r = lookup(this.ctx.fib, q, { trace: true });
    this.stages.push({ kind: 'route', why, query: q, result: r, decides: true });
    return r;
  }

  /** Records a hook; a Walk when the hook ended the packet. `after` stages (reroutes) follow it. */
  private hook(run: NetfilterRun, r: HookResult, after: WalkStage[] = []): Walk | undefined {
    const prev = this.stages.filter((s) => s.kind === 'hook').pop();
    const before = prev?.kind === 'hook' ? prev.after : this.initialView();
    const afterView = run.view();
    const changed = before.mark !== afterView.mark || before.ctmark !== afterView.ctmark || before.src !== afterView.src || before.dst !== afterView.dst || before.sport !== afterView.sport || before.dport !== afterView.dport;
    const nat = run.natRecords().filter((n) => n.hook === r.hook);
    const seen = new Set(this.stages.flatMap((s) => (s.kind === 'hook' ? s.changes : [])));
    const changes = run.packetChanges().filter((c) => !seen.has(c));
    const ruled = r.decisions.some((d) => d.rule !== undefined || (d.policy && d.verdict !== 'accept'));
    const stage: WalkStage = { kind: 'hook', hook: r.hook, verdict: r.verdict, decisions: r.decisions, changes, before, after: afterView, nat, decides: r.verdict !== 'accept' || changed || ruled };
    if (r.decidedBy !== undefined) stage.decidedBy = r.decidedBy;
    if (r.reason !== undefined) stage.reason = r.reason;
    if (r.rejectWith !== undefined) stage.rejectWith = r.rejectWith;
    this.stages.push(stage, ...after);
    if (r.verdict === 'accept') return undefined;
    const outcome: WalkOutcome = r.verdict === 'drop' ? 'dropped' : r.verdict === 'reject' ? 'rejected' : 'undecided';
    const decider = r.decidedBy === undefined && after.length > 0 ? after[after.length - 1] : stage;
    const where = r.decidedBy ? `${decisionPlace(r.decidedBy)} on ${r.hook}` : r.hook;
    const reason = r.decidedBy === undefined ? r.reason ?? where : `${where} ${r.verdict === 'drop' ? 'drops' : r.verdict === 'reject' ? `rejects (${r.rejectWith})` : 'cannot be decided'}${r.verdict === 'undecided' && r.reason ? `: ${r.reason}` : ''}`;
    return this.end(outcome, decider, reason, afterView, run);
  }

  private initialView(): PacketView {
    const p = this.packet;
    const v: PacketView = { src: this.src ?? '', dst: p.dst, mark: p.mark ?? 0, ctmark: this.conntrack().entry?.ctmark ?? 0 };
    if (p.sport !== undefined) v.sport = p.sport;
    if (p.dport !== undefined) v.dport = p.dport;
    return v;
  }

  private emptyView(): PacketView {
    return { src: this.src ?? this.packet.src ?? '', dst: this.packet.dst, mark: this.packet.mark ?? 0, ctmark: 0 };
  }

  private last(): WalkStage | undefined {
    return this.stages[this.stages.length - 1];
  }

  private stageOf(kind: WalkStage['kind']): WalkStage | undefined {
    for (let i = this.stages.length - 1; i >= 0; i--) if (this.stages[i].kind === kind) return this.stages[i];
    return undefined;
  }

  private sysctl(key: string): SysctlRecord | undefined {
    return this.ctx.sysctls.get(key);
  }

  private end(outcome: WalkOutcome, decidedBy: WalkStage | undefined, reason: string | undefined, final: PacketView, run?: NetfilterRun): Walk {
    const p = this.packet;
    const path: WalkPath = p.bridged ? 'bridge' : p.iif === undefined ? 'output' : this.stages.some((s) => s.kind === 'hook' && s.hook === 'INPUT') || outcome === 'delivered' ? 'input' : this.route !== undefined || this.stages.some((s) => s.kind === 'forwarding') ? 'forward' : 'input';
    const walk: Walk = {
      path, outcome, stages: this.stages, final, notes: this.notes, trace: run?.result().trace ?? [],
      packet: { ...p, src: this.src ?? p.src ?? '', family: this.family },
    };
    if (decidedBy !== undefined) walk.decidedBy = decidedBy;
    if (reason !== undefined) walk.reason = reason;
    const unseen = this.stages.filter((s): s is Extract<WalkStage, { kind: 'unseen' }> => s.kind === 'unseen');
    if (unseen.length > 0 && outcome !== 'undecided' && outcome !== 'unroutable') {
      walk.outcomeWithoutUnseen = outcome;
      walk.outcome = 'undecided';
      walk.decidedBy = unseen[0];
      walk.reason = `${reason ?? outcome} by the rulesets and routes, but ${unseen.flatMap((s) => s.what).join('; ')} can change that (hostcheck does not evaluate tc, XDP or IPVS)`;
    }
    if ((outcome === 'sent' || outcome === 'forwarded') && this.route !== undefined) {
      if (this.route.dev !== undefined) walk.outDev = this.route.dev;
      if (this.route.via !== undefined) walk.via = this.route.via;
    }
    if (run !== undefined) {
      for (const n of run.result().notes ?? []) if (!n.startsWith('NAT changed the destination before routing')) this.notes.push(n);
      if (outcome === 'delivered' || outcome === 'sent' || outcome === 'forwarded' || outcome === 'bridged') walk.connection = this.connectionAfter(final);
    }
    return walk;
  }

  /** The conntrack entry after the walk: the first packet's tuple and its translated reply. */
  private connectionAfter(final: PacketView): ConnectionEntry | undefined {
    const ct = this.conntrack();
    if (final.untracked) return undefined;
    if (ct.entry !== undefined && ct.state !== 'NEW') return { ...ct.entry, ctmark: final.ctmark };
    if (ct.state !== 'NEW') return undefined;
    const p = this.packet;
    const orig = { src: this.src!, dst: p.dst, ...(p.sport !== undefined && { sport: p.sport }), ...(p.dport !== undefined && { dport: p.dport }) };
    const reply = { src: final.dst, dst: final.src, ...(final.dport !== undefined && { sport: final.dport }), ...(final.sport !== undefined && { dport: final.sport }) };
    const entry: ConnectionEntry = {
      orig, reply, ctmark: final.ctmark,
      snat: final.src !== orig.src || final.sport !== orig.sport,
      dnat: final.dst !== orig.dst || final.dport !== orig.dport,
    };
    if (final.srcUncertain || final.dstUncertain) entry.uncertain = `the ${final.srcUncertain ? 'source' : 'destination'} was translated to an address hostcheck cannot tell`;
    return entry;
  }
}

/** ICMP error each failing route type sends back to a forwarded packet's sender. */
const ICMP_OF: Record<string, string> = {
  unreachable: 'ICMP host unreachable',
  prohibit: 'ICMP communication administratively prohibited',
  none: 'ICMP network unreachable',
};

function ipprotoOf(proto: WalkPacket['proto']): number | string {
  return proto === 'icmpv6' ? 58 : proto;
}

/** The mapping conntrack applies to a non-first packet of a translated connection, by direction. */
function natMapping(e: ConnectionEntry, reply: boolean): NetfilterPacket['ctNat'] | undefined {
  const out: NonNullable<NetfilterPacket['ctNat']> = {};
  if (reply) {
    // The reply undoes SNAT at the destination-NAT hook and DNAT at the source-NAT hook.
    if (e.snat) out.dst = { addr: e.orig.src, ...(e.orig.sport !== undefined && { port: e.orig.sport }) };
    if (e.dnat) out.src = { addr: e.orig.dst, ...(e.orig.dport !== undefined && { port: e.orig.dport }) };
  } else {
    if (e.dnat) out.dst = { addr: e.reply.src, ...(e.reply.sport !== undefined && { port: e.reply.sport }) };
    if (e.snat) out.src = { addr: e.reply.dst, ...(e.reply.dport !== undefined && { port: e.reply.dport }) };
  }
  return out.dst === undefined && out.src === undefined ? undefined : out;
}

/**
 * Whether the kernel forwards packets arriving on `dev`: IPv4 reads the device's own
 * net.ipv4.conf.DEV.forwarding (net.ipv4.ip_forward sets every device's); IPv6 the all setting,
 * or the device's force_forwarding (a device's own IPv6 `forwarding` does not gate forwarding:
 * measured on 6.18, ip6_forward).
 */
export function forwardingOn(ctx: HostContext, family: 4 | 6, dev: string): { on: boolean | undefined; evidence: SysctlRecord[] } {
  if (family === 6) {
    const force = ctx.sysctls.get(confKey(6, dev, 'force_forwarding'));
    if (force?.value.trim() === '1') return { on: true, evidence: [force] };
  }
  const keys = family === 4 ? [confKey(4, dev, 'forwarding'), 'net.ipv4.ip_forward', confKey(4, 'all', 'forwarding')] : [confKey(6, 'all', 'forwarding')];
  for (const key of keys) {
    const r = ctx.sysctls.get(key);
    if (r !== undefined) return { on: r.value.trim() !== '0', evidence: [r] };
  }
  return { on: undefined, evidence: [] };
}
