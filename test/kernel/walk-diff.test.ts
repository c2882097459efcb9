/**
 * The packet walk against the kernel: random setups (walk-gen.ts) of policy routing with fwmark
 * rules, rp_filter, forwarding and an iptables ruleset that marks, translates and filters are
 * loaded into a router namespace "r"; `hostcheck capture` takes its bundle. Per probe the peer
 * "s" writes a frame that arrives on one of r's links (or r's own socket sends one), and the
 * kernel's answer is read from what comes out: the frame s receives (which link, addresses and
 * ports after NAT), delivery to r (a counting rule at the end of security INPUT), and the
 * counters of every rule and policy on the hooks the walk crossed. walkPacket must agree on all
 * of them, and so must its reply: s answers a forwarded or sent packet from where it left (r's
 * conntrack translates it back), and r's own echo reply to a delivered ping is caught the same
 * way. An undecided walk is a disagreement. IPv6 setups (generateWalkSetup6: ip6tables, `ip -6`
 * rules and routes) run the same way on the same links after the IPv4 ones.
 *
 * HOSTCHECK_KERNEL_SETUPS (IPv4 setups, default 100), HOSTCHECK_KERNEL_SETUPS6 (IPv6 setups,
 * default half of the IPv4 ones), HOSTCHECK_KERNEL_SEED (default 1) and HOSTCHECK_KERNEL_PROBES
 * (probes per setup, default 12) choose the run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readBundle } from '../../src/collect/bundle.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import type { HostSnapshot } from '../../src/model/snapshot.js';
import { walkPacket, type Walk, type WalkPacket } from '../../src/simulate/walk.js';
import { icmpErrorAbout, replyTo } from '../../src/simulate/walk-reply.js';
import { describeLab, useLab } from '../lab/suite.js';
import { Agent, onPath, type SeenFrame } from './agent.js';
import { generateWalkSetup, generateWalkSetup6, OWN_ND_RULES, SOLICITED, WALK_LAB, WALK_LAB6, type WalkProbe, type WalkSetup } from './walk-gen.js';
import {
  compareOutcome, counters, deltas, describeSeen, describeWalk, frameOf, hooksOf, ICMP, isRequest, MAC, protoOf, renderSetup, sameCounts, show,
  TOPOLOGY, ttlOf, walkCounts, walkPacketOf, type Counts, type Seen,
} from './walk-lab.js';

const SETUPS = Number(process.env.HOSTCHECK_KERNEL_SETUPS ?? 100);
const SETUPS6 = Number(process.env.HOSTCHECK_KERNEL_SETUPS6 ?? Math.ceil(SETUPS / 2));
const FIRST_SEED = Number(process.env.HOSTCHECK_KERNEL_SEED ?? 1);
const PROBES = Number(process.env.HOSTCHECK_KERNEL_PROBES ?? 12);
/** How long a frame may take from the send to s's sniffer. */
const SETTLE_MS = 25;

/**
 * Bugs planted on purpose: the same kernel observations must show them as disagreements, or the
 * test could not catch them. Each walks a changed copy of the question.
 */
const PLANTED = {
  /** What issue 15 found: the mark never reaches the route lookup, so fwmark rules never match. */
  marksIgnored: (s: HostSnapshot): HostSnapshot => ({ ...s, rules: s.rules.map((r) => (r.fwmark !== undefined ? { ...r, fwmark: 0x7ead0000, fwmask: 0xffffffff } : r)) }),
  /** Replies walked as if conntrack kept no NAT mapping. */
  repliesNotTranslated: (p: WalkPacket): WalkPacket => (p.conntrack?.entry ? { ...p, conntrack: { ...p.conntrack, entry: { ...p.conntrack.entry, snat: false, dnat: false } } } : p),
};

/**
 * The ICMPv6 RELATED case: r forwards fd00:10::/64 (on eth0) to 2001:db8:100::/48 (via eth1,
 * MASQUERADE) and lets in only RELATED (rule 1), ESTABLISHED (2) and new connections from eth0
 * (FORWARD 4); INVALID is dropped by rule 3 of INPUT and FORWARD.
 */
const RELATED6: WalkSetup = {
  seed: 0,
  family: 6,
  ipBatch: [`route add 2001:db8:100::/48 via ${WALK_LAB6.gateways[1]} dev eth1`, `route add fd00:10::/64 via ${WALK_LAB6.gateways[0]} dev eth0`],
  sysctls: { 'net.ipv6.conf.all.forwarding': '1', ...Object.fromEntries(WALK_LAB6.devs.flatMap((d) => [[`net.ipv6.conf.${d}.forwarding`, '1'], [`net.ipv6.conf.${d}.force_forwarding`, '0']])) },
  iptables: [
    '*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ...OWN_ND_RULES, 'COMMIT',
    '*mangle', ...['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'].map((c) => `:${c} ACCEPT [0:0]`), 'COMMIT',
    '*nat', ...['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'].map((c) => `:${c} ACCEPT [0:0]`), '-A POSTROUTING -s fd00:10::/64 -o eth1 -j MASQUERADE', 'COMMIT',
    '*filter', ':INPUT DROP [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]',
    ...['INPUT', 'FORWARD'].flatMap((c) => [`-A ${c} -m conntrack --ctstate RELATED -j ACCEPT`, `-A ${c} -m conntrack --ctstate ESTABLISHED -j ACCEPT`, `-A ${c} -m conntrack --ctstate INVALID -j DROP`]),
    '-A FORWARD -i eth0 -o eth1 -m conntrack --ctstate NEW -j ACCEPT', 'COMMIT',
    '*security', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', '-A INPUT -m comment --comment delivered', 'COMMIT', '',
  ].join('\n'),
  probes: [],
  features: [],
};

describeLab('the packet walk agrees with the kernel', () => {
  const lab = useLab(TOPOLOGY);
  let dir = '';
  let r: Agent | undefined;
  let s: Agent | undefined;
  let id = 1;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hc-walk-diff-'));
  });
  afterAll(async () => {
    r?.close();
    s?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The agents in r and s (started once, s sniffing, r with permanent neighbour entries for s); undefined when a tool is missing. */
  async function agents(): Promise<{ r: Agent; s: Agent } | undefined> {
    const missing = ['python3', 'iptables-save', 'iptables-restore', 'ip6tables-save', 'ip6tables-restore'].filter((c) => !onPath(c));
    if (missing.length > 0) {
      if (process.env.CI === 'true') throw new Error(`the walk differential test needs ${missing.join(', ')} on PATH`);
      console.warn(`[walk-diff] skipped: ${missing.join(', ')} not on PATH`);
      return undefined;
    }
    if (r === undefined || s === undefined) {
      r = new Agent(lab().ns('r'));
      s = new Agent(lab().ns('s'));
      await s.request({ op: 'sniff', ifaces: [...WALK_LAB.devs] });
      const neighbours = WALK_LAB.devs.map((dev, i) => `neigh replace ${WALK_LAB.gateways[i]} lladdr ${MAC.s[i]} dev ${dev} nud permanent`);
      const neighbours6 = WALK_LAB6.devs.map((dev, i) => `neigh replace ${WALK_LAB6.gateways[i]} lladdr ${MAC.s[i]} dev ${dev} nud permanent`);
      await r.run(['ip', '-batch', '-'], `${[...neighbours, ...neighbours6].join('\n')}\n`);
    }
    return { r, s };
  }

  it(`IPv4: ${SETUPS} random setups × ${PROBES} probes (seeds ${FIRST_SEED}..${FIRST_SEED + SETUPS - 1})`, { timeout: 120_000 + SETUPS * PROBES * 600 }, async () => {
    const a = await agents();
    if (a !== undefined) await differential(a.r, a.s, 4, SETUPS);
  });

  it.skipIf(SETUPS6 === 0)(`IPv6: ${SETUPS6} random setups × ${PROBES} probes (seeds ${FIRST_SEED}..${FIRST_SEED + SETUPS6 - 1})`, { timeout: 120_000 + SETUPS6 * PROBES * 600 }, async () => {
    const a = await agents();
    if (a !== undefined) await differential(a.r, a.s, 6, SETUPS6);
  });

  it('ICMPv6 errors: RELATED when they quote a tracked flow (forwarded with MASQUERADE, and to r itself), INVALID when they quote none', { timeout: 120_000 }, async () => {
    const a = await agents();
    if (a === undefined) return;
    const { r, s } = a;
    const snapshot = await load(r, RELATED6);
    await r.flush();
    const read = async (): Promise<Counts> => counters(await r.run(['ip6tables-save', '-c']), 6);
    const [client, remote, router] = ['fd00:10::5', '2001:db8:100::7', WALK_LAB6.gateways[1]];
    const failures: string[] = [];
    /** Wrong answers planted per error: the same observations must refute each. */
    const planted = { tried: 0, refuted: 0 };
    let pid = 0x7000;
    /** A packet's walk, the frame it becomes at s, the conntrack state the walk must give it, and the kernel rule that counts that state. */
    interface Leg { walk: Walk; answer: (f: SeenFrame) => boolean; state: 'NEW' | 'RELATED' | 'INVALID'; stateRule?: string }
    /** Does `act`, then compares the kernel's counters, frames out and delivery with the legs' walks. */
    const step = async (name: string, act: () => Promise<unknown>, ...legs: Leg[]): Promise<void> => {
      const before = await read();
      await s.request({ op: 'take', ms: 0 });
      await act();
      const leaves = (w: Walk): boolean => w.outcome === 'sent' || w.outcome === 'forwarded';
      const frames = await framesUntil(s, (fs) => legs.every((l) => !leaves(l.walk) || fs.some(l.answer)));
      const after = await read();
      const delivered = (after.get('security/INPUT/1') ?? 0) > (before.get('security/INPUT/1') ?? 0);
      const walks = legs.map((l) => l.walk);
      const hooks = hooksOf(walks);
      const kernel = deltas(before, after, hooks);
      const expected = walkCounts(walks, hooks);
      const why: string[] = [];
      if (!sameCounts(kernel, expected)) why.push(`counters differ: kernel ${show(kernel)}; walk ${show(expected)}`);
      for (const l of legs) {
        const seen: Seen = { out: frames.find(l.answer), delivered };
        const outcome = compareOutcome(l.walk, seen);
        if (outcome !== '') why.push(`${outcome} (walk: ${describeWalk(l.walk)}; kernel: ${describeSeen(seen)})`);
        const ct = l.walk.stages.find((st) => st.kind === 'conntrack');
        if (ct?.kind !== 'conntrack' || ct.state !== l.state) why.push(`the walk's conntrack state is ${ct?.kind === 'conntrack' ? ct.state : 'missing'}, expected ${l.state}`);
        if (l.stateRule !== undefined && kernel.get(l.stateRule) !== 1) why.push(`the kernel's ${l.stateRule} (--ctstate ${l.state}) did not count the packet`);
        if (l.state === 'NEW') continue;
        // Planted: an error taken as no connection's (INVALID), or any error taken as RELATED.
        const { family: _family, ...packet } = l.walk.packet;
        const wrong = walkPacket(snapshot, l.state === 'RELATED' ? { ...packet, conntrack: undefined } : { ...packet, conntrack: { state: 'RELATED' } });
        const others = walks.map((w) => (w === l.walk ? wrong : w));
        planted.tried++;
        if (!sameCounts(kernel, walkCounts(others, hooksOf(others))) || compareOutcome(wrong, seen) !== '') planted.refuted++;
      }
      if (why.length > 0) failures.push(`${name}: ${why.join('; ')}`);
    };
    const errorFrame = (p: WalkPacket, about: Walk, type: number, code: number, id: number, rid: number): Record<string, unknown> => {
      const f = about.final;
      return { ...frameOf(p, rid, 0), icmpType: type, icmpCode: code, mtu: type === 2 ? 1400 : 0, inner: { src: f.src, dst: f.dst, proto: 17, sport: f.sport ?? 0, dport: f.dport ?? 0, id } };
    };
    const errorAnswer = (type: number, id: number, rid?: number) => (f: SeenFrame): boolean => f.proto === 58 && f.icmpType === type && f.innerId === id && (rid === undefined || f.id === rid);
    const fromClient = (id: number, dst: string, sport: number) => () => s.request({ op: 'send', iface: 'eth0', dstMac: MAC.r[0], srcMac: MAC.s[0], src: client, dst, proto: 17, sport, dport: 53, id, ttl: 64 });

    // A flow forwarded from eth0 to eth1 (MASQUERADE), then the next router's errors about it.
    const flowId = ++pid;
    const flow = walkPacket(snapshot, { src: client, dst: remote, iif: 'eth0', proto: 'udp', sport: 40000, dport: 53 });
    await step('the flow', fromClient(flowId, remote, 40000), { walk: flow, answer: (f) => f.proto === 17 && f.id === flowId, state: 'NEW', stateRule: 'filter/FORWARD/4' });
    for (const [type, code, what] of [[1, 4, 'port unreachable'], [2, 0, 'packet too big']] as const) {
      const next = icmpErrorAbout(flow, { type, code, from: router, by: 'router' });
      if (!('packet' in next)) { failures.push(`${what}: hostcheck has no error to walk: ${next.none}`); continue; }
      const rid = ++pid;
      await step(`${what} about the forwarded flow`, () => s.request(errorFrame(next.packet, flow, type, code, flowId, rid)), { walk: walkPacket(snapshot, next.packet), answer: errorAnswer(type, flowId, rid), state: 'RELATED', stateRule: 'filter/FORWARD/1' });
    }
    // A flow to s's own address: s's kernel itself answers port unreachable (a kernel-made error, quoting the packet as it arrived).
    await s.run(['ip6tables-restore'], `*raw\n:PREROUTING DROP [0:0]\n:OUTPUT DROP [0:0]\n-A PREROUTING -i eth1 -d ${router} -p udp -j ACCEPT\n-A OUTPUT -o eth1 -p ipv6-icmp -m icmp6 --icmpv6-type 1 -j ACCEPT\nCOMMIT\n`);
    await s.run(['ip', 'neigh', 'replace', WALK_LAB6.rAddr[1], 'lladdr', MAC.r[1], 'dev', 'eth1', 'nud', 'permanent']);
    try {
      const toSId = ++pid;
      const toS = walkPacket(snapshot, { src: client, dst: router, iif: 'eth0', proto: 'udp', sport: 40100, dport: 53 });
      const made = icmpErrorAbout(toS, { type: 1, code: 4, from: router, by: 'router' });
      if ('packet' in made) {
        await step("port unreachable made by s's kernel", fromClient(toSId, router, 40100),
          { walk: toS, answer: (f) => f.proto === 17 && f.id === toSId, state: 'NEW', stateRule: 'filter/FORWARD/4' },
          { walk: walkPacket(snapshot, made.packet), answer: (f) => f.iface === 'eth0' && errorAnswer(1, toSId)(f), state: 'RELATED', stateRule: 'filter/FORWARD/1' });
      } else failures.push(`port unreachable made by s's kernel: hostcheck has no error to walk: ${made.none}`);
    } finally {
      await s.run(['ip6tables-restore'], TOPOLOGY.hosts.s.ip6tables!);
      await s.run(['ip', 'neigh', 'del', WALK_LAB6.rAddr[1], 'dev', 'eth1']);
    }
    // r's own flow out of eth1, and a packet too big about it: RELATED in INPUT, delivered.
    const ownTtl = ttlOf(++pid);
    const own = walkPacket(snapshot, { src: WALK_LAB6.rAddr[1], dst: remote, proto: 'udp', sport: 41000, dport: 53 });
    await step("r's own flow", () => r.request({ op: 'local', proto: 17, dst: remote, src: WALK_LAB6.rAddr[1], sport: 41000, dport: 53, ttl: ownTtl }), { walk: own, answer: (f) => f.proto === 17 && f.ttl === ownTtl, state: 'NEW' });
    const ownError = icmpErrorAbout(own, { type: 2, code: 0, from: router, by: 'router' });
    if ('packet' in ownError) {
      const rid = ++pid;
      await step("packet too big about r's own flow", () => s.request(errorFrame(ownError.packet, own, 2, 0, 0, rid)), { walk: walkPacket(snapshot, ownError.packet), answer: errorAnswer(2, 0, rid), state: 'RELATED', stateRule: 'filter/INPUT/1' });
    } else failures.push(`packet too big about r's own flow: hostcheck has no error to walk: ${ownError.none}`);
    await r.request({ op: 'close' });
    // Errors quoting flows that never passed r: INVALID, dropped by rule 3.
    const ghost: Walk = { ...flow, final: { ...flow.final, sport: 40999 } };
    for (const [dst, to, rule] of [[client, 'forwarded', 'filter/FORWARD/3'], [WALK_LAB6.rAddr[1], 'to r', 'filter/INPUT/3']] as const) {
      const packet: WalkPacket = { src: router, dst, iif: 'eth1', proto: 'icmpv6', icmpType: 1, icmpCode: 4 };
      const rid = ++pid;
      await step(`port unreachable about no flow (${to})`, () => s.request(errorFrame(packet, ghost, 1, 4, flowId, rid)), { walk: walkPacket(snapshot, packet), answer: errorAnswer(1, flowId, rid), state: 'INVALID', stateRule: rule });
    }
    console.log(`[walk-diff icmpv6] planted wrong states refuted by the kernel: ${planted.refuted} of ${planted.tried}`);
    expect(failures, failures.join('\n')).toEqual([]);
    expect(planted.refuted, 'every planted wrong state must disagree with the kernel').toBe(planted.tried);
    expect(planted.tried).toBe(6);
  });

  /** Loads `setup` into r and takes its bundle. */
  async function load(r: Agent, setup: WalkSetup): Promise<HostSnapshot> {
    const v6 = setup.family === 6;
    const flush = ['route flush table 100', 'route flush table 101', 'route flush table 102', 'route flush table main proto boot', 'rule flush', 'rule add from all lookup main pref 32766', ...(v6 ? [] : ['rule add from all lookup default pref 32767'])];
    await r.run(['ip', ...(v6 ? ['-6'] : []), '-batch', '-'], `${[...flush, ...setup.ipBatch].join('\n')}\n`);
    await r.run(['sysctl', '-q', '-w', ...Object.entries(setup.sysctls).map(([k, v]) => `${k}=${v}`)]);
    await r.run([v6 ? 'ip6tables-restore' : 'iptables-restore'], setup.iptables);
    const out = join(dir, `b${setup.family}-${setup.seed}`);
    const c = await lab().hostcheck('r', ['capture', '--out', out]);
    if (c.exitCode !== 0 && c.exitCode !== 3) throw new Error(`capture failed (${c.exitCode}): ${c.stderr}`);
    const snapshot = buildSnapshot(await readBundle(out));
    await rm(out, { recursive: true, force: true });
    return snapshot;
  }

  /** Frames s read; on a loaded machine a frame the walk expects gets up to half a second more. */
  async function framesUntil(s: Agent, enough: (frames: SeenFrame[]) => boolean): Promise<SeenFrame[]> {
    const frames = (await s.request({ op: 'take', ms: SETTLE_MS })).frames ?? [];
    for (let i = 0; i < 20 && !enough(frames); i++) frames.push(...((await s.request({ op: 'take', ms: SETTLE_MS })).frames ?? []));
    return frames;
  }

  /** `setups` random setups of `family`: every probe's walk against the kernel. */
  async function differential(r: Agent, s: Agent, family: 4 | 6, setups: number): Promise<void> {
    const tag = family === 4 ? '[walk-diff]' : '[walk-diff v6]';
    const L = family === 4 ? WALK_LAB : WALK_LAB6;
    const icmp = ICMP[family];
    const started = Date.now();
    const failures: string[] = [];
    const coverage = new Map<string, number>();
    const count = (f: string): void => void coverage.set(f, (coverage.get(f) ?? 0) + 1);
    let probes = 0;
    let replies = 0;
    const caught = { marksIgnored: 0, repliesNotTranslated: 0 };
    /** Time spent loading setups and capturing their bundles. */
    let loadMs = 0;
    for (let k = 0; k < setups; k++) {
      const seed = FIRST_SEED + k;
      const setup = family === 4 ? generateWalkSetup(seed, PROBES) : generateWalkSetup6(seed, PROBES);
      const loading = Date.now();
      const snapshot = await load(r, setup).catch((e: Error) => {
        throw new Error(`seed ${seed}: loading the setup failed: ${e.message}\n${renderSetup(setup)}`, { cause: e });
      });
      loadMs += Date.now() - loading;
      for (const f of setup.features) count(`setup: ${f}`);
      const buggy = PLANTED.marksIgnored(snapshot);
      let last: Counts | undefined;
      const readCounters = async (): Promise<Counts> => counters(await r.run([family === 4 ? 'iptables-save' : 'ip6tables-save', '-c']), family);
      for (const [index, probe] of setup.probes.entries()) {
        probes++;
        const pid = (id++ & 0x3fff) + 1;
        await r.flush();
        const before = last ?? await readCounters();
        await s.request({ op: 'take', ms: 0 });
        const packet = walkPacketOf(probe, family);
        const walk = walkPacket(snapshot, packet);
        const sendReply = await send(probe, pid);
        const leaves = (w: Walk | undefined): boolean => w !== undefined && (w.outcome === 'sent' || w.outcome === 'forwarded');
        const isEcho = (f: SeenFrame): boolean => f.proto === icmp.proto && f.icmpType === icmp.reply && f.icmpId === pid;
        // r answers a delivered ping itself: wait for that echo reply too when the walk expects it out.
        const echoNext = walk.outcome === 'delivered' && probe.kind === 'arrive' && probe.proto === 'icmp' ? replyTo(walk) : undefined;
        const echoWalk = echoNext !== undefined && 'packet' in echoNext ? walkPacket(snapshot, echoNext.packet) : undefined;
        const frames = await framesUntil(s, (fs) => (!leaves(walk) || fs.some((f) => isRequest(f, probe, pid, family))) && (!leaves(echoWalk) || fs.some(isEcho)));
        const afterRequest = await readCounters();
        last = afterRequest;
        const requestSeen: Seen = { out: frames.find((f) => isRequest(f, probe, pid, family)), delivered: (afterRequest.get('security/INPUT/1') ?? 0) > (before.get('security/INPUT/1') ?? 0) };
        let why = compareOutcome(walk, requestSeen);
        if (compareOutcome(walkPacket(buggy, packet), requestSeen) !== '') caught.marksIgnored++;
        if (why === '' && walk.outcome === 'unroutable' && sendReply === 0) why = 'walk says the socket gets an error, the kernel sent it without one';
        // A local packet to a local address loops through lo; what r answers loops too: no counters.
        const loop = probe.kind === 'local' && walk.stages.some((st) => st.kind === 'route' && st.result.type === 'local');
        const kernelEcho = walk.outcome === 'delivered' && probe.kind === 'arrive' && probe.proto === 'icmp' && probe.reply;
        let replyWalk: Walk | undefined;
        if (why === '' && kernelEcho) {
          // r answered the ping itself: its echo reply is the reply to compare.
          if (echoWalk !== undefined) {
            replyWalk = echoWalk;
            const replyWhy = compareOutcome(replyWalk, { out: frames.find(isEcho), delivered: false });
            if (replyWhy !== '') why = `reply: ${replyWhy}`;
            replies++;
          }
        }
        if (why === '' && !loop) {
          const hooks = hooksOf(replyWalk ? [walk, replyWalk] : [walk]);
          const kernel = deltas(before, afterRequest, hooks);
          const expected = walkCounts(replyWalk ? [walk, replyWalk] : [walk], hooks);
          if (!sameCounts(kernel, expected)) why = `counters differ: kernel ${show(kernel)}; walk ${show(expected)}`;
        }
        if (why === '' && probe.reply && !kernelEcho && (walk.outcome === 'forwarded' || walk.outcome === 'sent')) {
          // The answer from beyond r: the reply itself, or the next router's ICMP error about the packet.
          const gateway = L.gateways[L.devs.indexOf(walk.outDev as (typeof L.devs)[number])];
          const next = probe.error && gateway !== undefined ? icmpErrorAbout(walk, { ...probe.error, from: gateway, by: 'router' }) : replyTo(walk);
          if ('packet' in next && next.packet.iif !== undefined) {
            replies++;
            replyWalk = walkPacket(snapshot, next.packet);
            const rid = (pid | 0x4000) & 0xffff;
            const f = walk.final;
            const tooBig = family === 4 ? probe.error?.code === 4 : probe.error?.type === 2;
            const frame = probe.error
              ? { ...frameOf(next.packet, rid, pid), icmpType: probe.error.type, icmpCode: probe.error.code, mtu: tooBig ? 1400 : 0, inner: { src: f.src, dst: f.dst, proto: protoOf(probe.proto, family), sport: f.sport ?? 0, dport: f.dport ?? 0, icmpId: pid, id: pid } }
              : frameOf(next.packet, rid, pid);
            await s.request(frame);
            const answer = (x: SeenFrame): boolean => (probe.error ? x.proto === icmp.proto && x.icmpType === probe.error.type && x.innerId === pid && x.id === rid : x.id === rid && !(x.proto === icmp.proto && x.innerId !== undefined));
            const replyFrames = await framesUntil(s, (fs) => fs.some(answer) || !(replyWalk!.outcome === 'sent' || replyWalk!.outcome === 'forwarded'));
            const afterReply = await readCounters();
            last = afterReply;
            const seen: Seen = { out: replyFrames.find(answer), delivered: (afterReply.get('security/INPUT/1') ?? 0) > (afterRequest.get('security/INPUT/1') ?? 0) };
            const replyWhy = compareOutcome(replyWalk, seen);
            if (replyWhy !== '') why = `${probe.error ? 'ICMP error' : 'reply'}: ${replyWhy}`;
            else {
              const hooks = hooksOf([replyWalk]);
              const kernel = deltas(afterRequest, afterReply, hooks);
              const expected = walkCounts([replyWalk], hooks);
              if (!sameCounts(kernel, expected)) why = `${probe.error ? 'ICMP error' : 'reply'} counters differ: kernel ${show(kernel)}; walk ${show(expected)}`;
            }
            if (!probe.error && compareOutcome(walkPacket(snapshot, PLANTED.repliesNotTranslated(next.packet)), seen) !== '') caught.repliesNotTranslated++;
            if (probe.error) count(`ICMP error ${tooBig ? (family === 4 ? 'fragmentation needed' : 'packet too big') : 'port unreachable'} (RELATED) ${replyWalk.outcome}`);
          }
        }
        await r.request({ op: 'close' });
        if (why === '') {
          count(`${walk.path} ${walk.outcome}`);
          if (probe.icmpType === 135) count(`neighbour solicitation ${walk.outcome}`);
          for (const st of walk.stages) {
            if (st.kind === 'route' && st.why === 'reroute') count('reroute');
            if (st.kind === 'route' && st.query.mark && st.result.rule?.fwmark !== undefined) count('route by fwmark rule');
            if (st.kind === 'rp-filter') count(st.pass ? 'rp_filter passed' : 'rp_filter dropped');
            if (st.kind === 'forwarding' && !st.on) count('forwarding off');
            if (st.kind === 'hook') for (const c of st.changes) count(c.what.startsWith('mark') ? 'mark changed' : c.what.startsWith('connection mark') ? 'ctmark changed' : c.what.startsWith('source') ? 'SNAT applied' : 'DNAT applied');
          }
          if (replyWalk) count(`reply ${replyWalk.outcome}`);
          if (replyWalk?.stages.some((st) => st.kind === 'hook' && st.after.dst !== st.before.dst)) count('reply de-NATed');
          continue;
        }
        const text = [
          `seed ${seed} (IPv${family}) probe ${index}: ${why}`,
          `probe: ${JSON.stringify(probe)}`,
          `walk: ${describeWalk(walk)}`,
          `kernel: ${describeSeen(requestSeen)}${frames.length ? `; frames: ${frames.map((f) => `${f.iface} ${f.src}→${f.dst} p${f.proto} id ${f.id}${f.icmpType !== undefined ? ` icmp ${f.icmpType}` : ''}`).join(', ')}` : ''}`,
          failures.length < 3 ? renderSetup(setup) : '',
        ].join('\n');
        failures.push(text);
      }
    }

    async function send(probe: WalkProbe, pid: number): Promise<number | undefined> {
      const proto = protoOf(probe.proto, family);
      if (probe.kind === 'arrive') {
        const i = L.devs.indexOf(probe.iif as (typeof L.devs)[number]);
        await s.request({
          op: 'send', iface: probe.iif, dstMac: probe.dst === SOLICITED.addr ? SOLICITED.mac : MAC.r[i], srcMac: MAC.s[i], src: probe.src, dst: probe.dst, proto,
          sport: probe.sport ?? 0, dport: probe.dport ?? 0, flags: 0x02, icmpType: probe.icmpType ?? icmp.echo, icmpCode: 0, icmpId: pid, id: pid, ttl: probe.ttl ?? 64,
          ...(probe.target !== undefined && { target: probe.target }),
        });
        return undefined;
      }
      const reply = await r.request({ op: 'local', proto, dst: probe.dst, src: probe.src, sport: probe.sport, dport: probe.dport, mark: probe.mark, icmpId: pid, ttl: ttlOf(pid) });
      return reply.errno;
    }

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const lines = [...coverage].sort((x, y) => x[0].localeCompare(y[0])).map(([f, n]) => `  ${f.padEnd(34)} ${String(n).padStart(6)}`);
    console.log(`${tag} ${setups} setups, ${probes} probes, ${replies} replies, ${failures.length} disagreements, ${seconds} s (loading and capturing ${(loadMs / 1000).toFixed(1)} s)\n`
      + `${tag} planted bugs caught: marks ignored by routing ${caught.marksIgnored}, replies not translated back ${caught.repliesNotTranslated}\n${tag} coverage:\n${lines.join('\n')}`);
    expect(failures, failures.join('\n\n')).toEqual([]);
    // A CI-size run must catch both planted bugs on the same observations.
    if (setups >= 50) {
      expect(caught.marksIgnored, 'planted bug: marks ignored by routing').toBeGreaterThan(0);
      expect(caught.repliesNotTranslated, 'planted bug: replies not translated back').toBeGreaterThan(0);
    }
  }
});
