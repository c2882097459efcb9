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
 * way. An undecided walk is a disagreement.
 *
 * HOSTCHECK_KERNEL_SETUPS (default 100), HOSTCHECK_KERNEL_SEED (default 1) and
 * HOSTCHECK_KERNEL_PROBES (probes per setup, default 12) choose the run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readBundle } from '../../src/collect/bundle.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import { parse as parseIptables } from '../../parsers/iptables-save.js';
import type { HostSnapshot } from '../../src/model/snapshot.js';
import { walkPacket, type Walk, type WalkPacket } from '../../src/simulate/walk.js';
import { icmpErrorAbout, replyTo } from '../../src/simulate/walk-reply.js';
import { describeLab, useLab } from '../lab/suite.js';
import type { Topology } from '../lab/topology.js';
import { Agent, onPath, type SeenFrame } from './agent.js';
import { generateWalkSetup, WALK_LAB, type WalkProbe, type WalkSetup } from './walk-gen.js';

const SETUPS = Number(process.env.HOSTCHECK_KERNEL_SETUPS ?? 100);
const FIRST_SEED = Number(process.env.HOSTCHECK_KERNEL_SEED ?? 1);
const PROBES = Number(process.env.HOSTCHECK_KERNEL_PROBES ?? 12);
/** How long a frame may take from the send to s's sniffer. */
const SETTLE_MS = 25;

const MAC = {
  r: ['02:00:00:0c:00:00', '02:00:00:0c:00:01', '02:00:00:0c:00:02'],
  s: ['02:00:00:0d:00:00', '02:00:00:0d:00:01', '02:00:00:0d:00:02'],
};

const TOPOLOGY: Topology = {
  hosts: {
    // No ICMP redirects: one for a packet forwarded back out of its own link would count in POSTROUTING.
    r: {
      router: true, addresses: [`${WALK_LAB.loopback}/32 dev lo`],
      sysctls: Object.fromEntries(['all', 'default', ...WALK_LAB.devs].map((d) => [`net.ipv4.conf.${d}.send_redirects`, 0])),
    },
    // s only sends and listens: it drops everything it receives before its own stack answers.
    s: { iptables: '*raw\n:PREROUTING DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n' },
  },
  links: WALK_LAB.devs.map((dev, i) => ({
    a: { host: 'r', iface: dev, addresses: [`${WALK_LAB.rAddr[i]}/24`], mac: MAC.r[i] },
    b: { host: 's', iface: dev, addresses: [`${WALK_LAB.gateways[i]}/24`], mac: MAC.s[i] },
  })),
};

/** Packet counters per rule (`table/chain/position`) and policy (`table/chain/policy`). */
type Counts = Map<string, number>;

function counters(saveText: string): Counts {
  const out: Counts = new Map();
  for (const table of parseIptables(saveText).records) {
    for (const c of table.chains) if (c.builtin) out.set(`${table.name}/${c.name}/policy`, c.counters?.packets ?? 0);
    for (const r of table.rules) out.set(`${table.name}/${r.chain}/${r.position}`, r.counters?.packets ?? 0);
  }
  return out;
}

/** Non-zero deltas on the chains of `hooks`. */
function deltas(before: Counts, after: Counts, hooks: Set<string>): Counts {
  const out: Counts = new Map();
  for (const [k, v] of after) {
    const chain = k.split('/')[1];
    if (!hooks.has(chain)) continue;
    const d = v - (before.get(k) ?? 0);
    if (d !== 0) out.set(k, d);
  }
  return out;
}

function walkCounts(walks: Walk[], hooks: Set<string>): Counts {
  const out: Counts = new Map();
  for (const w of walks) {
    for (const t of w.trace) {
      if (t.matched !== true || !hooks.has(t.hook)) continue;
      const key = t.policy !== undefined ? `${t.table}/${t.chain}/policy` : `${t.table}/${t.chain}/${t.rule}`;
      out.set(key, (out.get(key) ?? 0) + 1);
    }
  }
  return out;
}

function hooksOf(walks: Walk[]): Set<string> {
  return new Set(walks.flatMap((w) => w.stages.flatMap((s) => (s.kind === 'hook' ? [s.hook] : []))));
}

const show = (m: Counts): string => [...m].sort().map(([k, v]) => (v === 1 ? k : `${k}×${v}`)).join(', ') || '(none)';

function sameCounts(a: Counts, b: Counts): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

const PROTO = { tcp: 6, udp: 17, icmp: 1 } as const;

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

/** What the kernel did with one packet. */
interface Seen {
  /** The frame s received, if the packet came out of r. */
  out?: SeenFrame;
  delivered: boolean;
}

function describeSeen(k: Seen): string {
  if (k.out) return `out ${k.out.iface} ${k.out.src}${k.out.sport !== undefined ? `:${k.out.sport}` : ''} → ${k.out.dst}${k.out.dport !== undefined ? `:${k.out.dport}` : ''}`;
  return k.delivered ? 'delivered' : 'nothing came out, not delivered';
}

function describeWalk(w: Walk): string {
  const f = w.final;
  const head = w.outcome === 'sent' || w.outcome === 'forwarded' ? `${w.outcome} ${w.outDev} ${f.src}${f.sport !== undefined ? `:${f.sport}` : ''} → ${f.dst}${f.dport !== undefined ? `:${f.dport}` : ''}` : w.outcome;
  return `${head}${w.reason ? ` (${w.reason})` : ''}`;
}

/** Agreement of one walk with what the kernel did: an empty string, or why not. */
function compareOutcome(w: Walk, k: Seen): string {
  if (w.outcome === 'undecided') return `walk undecided: ${w.reason}`;
  if (w.outcome === 'sent' || w.outcome === 'forwarded') {
    if (!k.out) return `walk says ${describeWalk(w)}, kernel: ${describeSeen(k)}`;
    const f = w.final;
    if (k.out.iface !== w.outDev || k.out.src !== f.src || k.out.dst !== f.dst || (f.sport !== undefined && k.out.sport !== f.sport) || (f.dport !== undefined && k.out.dport !== f.dport)) {
      return `walk says ${describeWalk(w)}, kernel: ${describeSeen(k)}`;
    }
    return '';
  }
  if (w.outcome === 'delivered') return k.delivered && !k.out ? '' : `walk says delivered, kernel: ${describeSeen(k)}`;
  return !k.out && !k.delivered ? '' : `walk says ${describeWalk(w)}, kernel: ${describeSeen(k)}`;
}

describeLab('the packet walk agrees with the kernel', () => {
  const lab = useLab(TOPOLOGY);
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hc-walk-diff-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`${SETUPS} random setups × ${PROBES} probes (seeds ${FIRST_SEED}..${FIRST_SEED + SETUPS - 1})`, { timeout: 120_000 + SETUPS * PROBES * 600 }, async () => {
    const missing = ['python3', 'iptables-save', 'iptables-restore'].filter((c) => !onPath(c));
    if (missing.length > 0) {
      if (process.env.CI === 'true') throw new Error(`the walk differential test needs ${missing.join(', ')} on PATH`);
      console.warn(`[walk-diff] skipped: ${missing.join(', ')} not on PATH`);
      return;
    }
    const r = new Agent(lab().ns('r'));
    const s = new Agent(lab().ns('s'));
    const started = Date.now();
    const failures: string[] = [];
    const coverage = new Map<string, number>();
    const count = (f: string): void => void coverage.set(f, (coverage.get(f) ?? 0) + 1);
    let probes = 0;
    let replies = 0;
    const caught = { marksIgnored: 0, repliesNotTranslated: 0 };
    let id = 1;
    try {
      await s.request({ op: 'sniff', ifaces: [...WALK_LAB.devs] });
      const neighbours = WALK_LAB.devs.map((dev, i) => `neigh replace ${WALK_LAB.gateways[i]} lladdr ${MAC.s[i]} dev ${dev} nud permanent`);
      await r.run(['ip', '-batch', '-'], `${neighbours.join('\n')}\n`);
      for (let k = 0; k < SETUPS; k++) {
        const seed = FIRST_SEED + k;
        const setup = generateWalkSetup(seed, PROBES);
        const snapshot = await load(setup).catch((e: Error) => {
          throw new Error(`seed ${seed}: loading the setup failed: ${e.message}\n${renderSetup(setup)}`, { cause: e });
        });
        for (const f of setup.features) count(`setup: ${f}`);
        const buggy = PLANTED.marksIgnored(snapshot);
        let last: Counts | undefined;
        const readCounters = async (): Promise<Counts> => counters(await r.run(['iptables-save', '-c']));
        for (const [index, probe] of setup.probes.entries()) {
          probes++;
          const pid = (id++ & 0x3fff) + 1;
          await r.flush();
          const before = last ?? await readCounters();
          await s.request({ op: 'take', ms: 0 });
          const packet = walkPacketOf(probe, pid);
          const walk = walkPacket(snapshot, packet);
          const sendReply = await send(probe, pid);
          const leaves = (w: Walk | undefined): boolean => w !== undefined && (w.outcome === 'sent' || w.outcome === 'forwarded');
          // r answers a delivered ping itself: wait for that echo reply too when the walk expects it out.
          const echoNext = walk.outcome === 'delivered' && probe.kind === 'arrive' && probe.proto === 'icmp' ? replyTo(walk) : undefined;
          const echoWalk = echoNext !== undefined && 'packet' in echoNext ? walkPacket(snapshot, echoNext.packet) : undefined;
          const frames = await framesUntil((fs) => (!leaves(walk) || fs.some((f) => isRequest(f, probe, pid))) && (!leaves(echoWalk) || fs.some((f) => f.proto === 1 && f.icmpType === 0 && f.icmpId === pid)));
          const afterRequest = await readCounters();
          last = afterRequest;
          const requestSeen: Seen = { out: frames.find((f) => isRequest(f, probe, pid)), delivered: (afterRequest.get('security/INPUT/1') ?? 0) > (before.get('security/INPUT/1') ?? 0) };
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
              const echo = frames.find((f) => f.proto === 1 && f.icmpType === 0 && f.icmpId === pid);
              const replyWhy = compareOutcome(replyWalk, { out: echo, delivered: false });
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
            const gateway = WALK_LAB.gateways[WALK_LAB.devs.indexOf(walk.outDev as (typeof WALK_LAB.devs)[number])];
            const next = probe.error && gateway !== undefined ? icmpErrorAbout(walk, { ...probe.error, from: gateway, by: 'router' }) : replyTo(walk);
            if ('packet' in next && next.packet.iif !== undefined) {
              replies++;
              replyWalk = walkPacket(snapshot, next.packet);
              const rid = (pid | 0x4000) & 0xffff;
              const f = walk.final;
              const frame = probe.error
                ? { ...frameOf(next.packet, rid, pid), icmpType: probe.error.type, icmpCode: probe.error.code, mtu: probe.error.code === 4 ? 1400 : 0, inner: { src: f.src, dst: f.dst, proto: PROTO[probe.proto], sport: f.sport ?? 0, dport: f.dport ?? 0, icmpId: pid, id: pid } }
                : frameOf(next.packet, rid, pid);
              await s.request(frame);
              const answer = (x: SeenFrame): boolean => (probe.error ? x.proto === 1 && x.icmpType === probe.error.type && x.innerId === pid && x.id === rid : x.id === rid && !(x.proto === 1 && x.innerId !== undefined));
              const replyFrames = await framesUntil((fs) => fs.some(answer) || !(replyWalk!.outcome === 'sent' || replyWalk!.outcome === 'forwarded'));
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
              if (probe.error) count(`ICMP error ${probe.error.code === 4 ? 'fragmentation needed' : 'port unreachable'} (RELATED) ${replyWalk.outcome}`);
            }
          }
          await r.request({ op: 'close' });
          if (why === '') {
            count(`${walk.path} ${walk.outcome}`);
            for (const st of walk.stages) {
              if (st.kind === 'route' && st.why === 'reroute') count('reroute');
              if (st.kind === 'route' && st.query.mark && st.result.rule?.fwmark !== undefined) count('route by fwmark rule');
              if (st.kind === 'rp-filter') count(st.pass ? 'rp_filter passed' : 'rp_filter dropped');
              if (st.kind === 'hook') for (const c of st.changes) count(c.what.startsWith('mark') ? 'mark changed' : c.what.startsWith('connection mark') ? 'ctmark changed' : c.what.startsWith('source') ? 'SNAT applied' : 'DNAT applied');
            }
            if (replyWalk) count(`reply ${replyWalk.outcome}`);
            if (replyWalk?.stages.some((st) => st.kind === 'hook' && st.after.dst !== st.before.dst)) count('reply de-NATed');
            continue;
          }
          const text = [
            `seed ${seed} probe ${index}: ${why}`,
            `probe: ${JSON.stringify(probe)}`,
            `walk: ${describeWalk(walk)}`,
            `kernel: ${describeSeen(requestSeen)}${frames.length ? `; frames: ${frames.map((f) => `${f.iface} ${f.src}→${f.dst} p${f.proto} id ${f.id}${f.icmpType !== undefined ? ` icmp ${f.icmpType}` : ''}`).join(', ')}` : ''}`,
            failures.length < 3 ? renderSetup(setup) : '',
          ].join('\n');
          failures.push(text);
        }
      }
    } finally {
      r.close();
      s.close();
    }

    async function load(setup: WalkSetup): Promise<HostSnapshot> {
      const flush = ['route flush table 100', 'route flush table 101', 'route flush table 102', 'route flush table main proto boot', 'rule flush', 'rule add from all lookup main pref 32766', 'rule add from all lookup default pref 32767'];
      await r.run(['ip', '-batch', '-'], `${[...flush, ...setup.ipBatch].join('\n')}\n`);
      await r.run(['sysctl', '-q', '-w', ...Object.entries(setup.sysctls).map(([k, v]) => `${k}=${v}`)]);
      await r.run(['iptables-restore'], setup.iptables);
      const out = join(dir, `b${setup.seed}`);
      const c = await lab().hostcheck('r', ['capture', '--out', out]);
      if (c.exitCode !== 0 && c.exitCode !== 3) throw new Error(`capture failed (${c.exitCode}): ${c.stderr}`);
      const snapshot = buildSnapshot(await readBundle(out));
      await rm(out, { recursive: true, force: true });
      return snapshot;
    }

    /** Frames s read; on a loaded machine a frame the walk expects gets up to half a second more. */
    async function framesUntil(enough: (frames: SeenFrame[]) => boolean): Promise<SeenFrame[]> {
      const frames = (await s.request({ op: 'take', ms: SETTLE_MS })).frames ?? [];
      for (let i = 0; i < 20 && !enough(frames); i++) frames.push(...((await s.request({ op: 'take', ms: SETTLE_MS })).frames ?? []));
      return frames;
    }

    async function send(probe: WalkProbe, pid: number): Promise<number | undefined> {
      if (probe.kind === 'arrive') {
        const i = WALK_LAB.devs.indexOf(probe.iif as (typeof WALK_LAB.devs)[number]);
        await s.request({
          op: 'send', iface: probe.iif, dstMac: MAC.r[i], srcMac: MAC.s[i], src: probe.src, dst: probe.dst, proto: PROTO[probe.proto],
          sport: probe.sport ?? 0, dport: probe.dport ?? 0, flags: 0x02, icmpType: 8, icmpCode: 0, icmpId: pid, id: pid, ttl: probe.ttl ?? 64,
        });
        return undefined;
      }
      const reply = await r.request({ op: 'local', proto: PROTO[probe.proto], dst: probe.dst, src: probe.src, sport: probe.sport, dport: probe.dport, mark: probe.mark, icmpId: pid, ttl: ttlOf(pid) });
      return reply.errno;
    }

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const lines = [...coverage].sort((a, b) => a[0].localeCompare(b[0])).map(([f, n]) => `  ${f.padEnd(34)} ${String(n).padStart(6)}`);
    console.log(`[walk-diff] ${SETUPS} setups, ${probes} probes, ${replies} replies, ${failures.length} disagreements, ${seconds} s\n`
      + `[walk-diff] planted bugs caught: marks ignored by routing ${caught.marksIgnored}, replies not translated back ${caught.repliesNotTranslated}\n[walk-diff] coverage:\n${lines.join('\n')}`);
    expect(failures, failures.join('\n\n')).toEqual([]);
    // A CI-size run must catch both planted bugs on the same observations.
    if (SETUPS >= 50) {
      expect(caught.marksIgnored, 'planted bug: marks ignored by routing').toBeGreaterThan(0);
      expect(caught.repliesNotTranslated, 'planted bug: replies not translated back').toBeGreaterThan(0);
    }
  });
});

/** Local probes are told apart by their TTL (the IP id is the kernel's). */
function ttlOf(pid: number): number {
  return 200 + (pid % 50);
}

function walkPacketOf(probe: WalkProbe, pid: number): WalkPacket {
  const p: WalkPacket = { dst: probe.dst, proto: probe.proto };
  if (probe.src !== undefined) p.src = probe.src;
  if (probe.iif !== undefined) p.iif = probe.iif;
  if (probe.sport !== undefined) p.sport = probe.sport;
  if (probe.dport !== undefined) p.dport = probe.dport;
  if (probe.ttl !== undefined) p.ttl = probe.ttl;
  if (probe.mark !== undefined) p.mark = probe.mark;
  if (probe.proto === 'icmp') {
    p.icmpType = 8;
    p.icmpCode = 0;
  }
  void pid;
  return p;
}

/** The frame s sees when r sends the probe on: the same IP id (arriving) or TTL (local), never an ICMP error. */
function isRequest(f: SeenFrame, probe: WalkProbe, pid: number): boolean {
  if (f.proto !== PROTO[probe.proto]) return false;
  if (probe.proto === 'icmp' && f.icmpType !== 8) return false;
  if (probe.kind === 'arrive') return f.id === pid && f.ttl === (probe.ttl ?? 64) - 1;
  return f.ttl === ttlOf(pid);
}

/** The frame s writes for a reply walk's packet (arriving on r's `iif`). */
function frameOf(p: WalkPacket, rid: number, icmpId: number): Record<string, unknown> {
  const i = WALK_LAB.devs.indexOf(p.iif as (typeof WALK_LAB.devs)[number]);
  return {
    op: 'send', iface: p.iif, dstMac: MAC.r[i], srcMac: MAC.s[i], src: p.src, dst: p.dst, proto: PROTO[p.proto as 'tcp' | 'udp' | 'icmp'],
    sport: p.sport ?? 0, dport: p.dport ?? 0, flags: p.tcpFlags ?? 0x12, ack: 1001, icmpType: p.icmpType ?? 0, icmpCode: 0, icmpId: icmpId, id: rid, ttl: 64,
  };
}

function renderSetup(setup: WalkSetup): string {
  return [
    `ip -batch:\n  ${setup.ipBatch.join('\n  ')}`,
    `sysctl: ${Object.entries(setup.sysctls).filter(([, v]) => v !== '0' || true).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    `iptables-restore:\n${setup.iptables}`,
  ].join('\n');
}
