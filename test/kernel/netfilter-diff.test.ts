/**
 * The netfilter evaluator against the kernel. Random rulesets (netfilter-gen.ts) are loaded with
 * iptables-restore (and ipset restore) into a receiver namespace; a sender namespace writes raw
 * frames (any source, ports, TCP flags, ICMP type) on one of two veth links. Per packet the
 * receiver's conntrack table is flushed, then `iptables-save -c` counters before and after are
 * compared with the evaluator's trace on the saved ruleset: every rule's and every
 * PREROUTING/INPUT policy's packet count, and delivery (the security table's INPUT counter
 * rule, which only packets that passed filter INPUT reach) against an `accept` verdict. An
 * `undecided` verdict is a disagreement. A failure prints the ruleset shrunk to the rules that
 * still disagree, the ipsets and the packet.
 *
 * HOSTCHECK_KERNEL_SETUPS (rulesets, default 50), HOSTCHECK_KERNEL_SEED (first seed, default 1)
 * and HOSTCHECK_KERNEL_PACKETS (packets per ruleset, default 60) run more.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { expect, it } from 'vitest';
import { parse as parseIpset } from '../../parsers/ipset.js';
import { parse as parseIptables } from '../../parsers/iptables-save.js';
import { evaluatePacket, type NetfilterPacket, type NetfilterResult, type NetfilterRuleset } from '../../src/simulate/netfilter.js';
import type { Topology } from '../lab/topology.js';
import { describeLab, useLab } from '../lab/suite.js';
import { generateCase, LAB, type GeneratedCase, type GeneratedRule } from './netfilter-gen.js';

const SETUPS = Number(process.env.HOSTCHECK_KERNEL_SETUPS ?? 50);
const FIRST_SEED = Number(process.env.HOSTCHECK_KERNEL_SEED ?? 1);
const PACKETS = Number(process.env.HOSTCHECK_KERNEL_PACKETS ?? 60);

const MAC = { txEth0: '02:00:00:0a:00:01', txEth1: '02:00:00:0a:00:02', rxEth0: '02:00:00:0b:00:01', rxEth1: '02:00:00:0b:00:02' };

const topology: Topology = {
  hosts: {
    tx: {},
    rx: {
      addresses: ['10.9.0.1/32 dev lo', '10.9.0.2/32 dev lo', '10.1.0.2/24 dev eth0'],
      routes: ['default via 10.1.0.100'],
    },
  },
  links: [
    { a: { host: 'tx', iface: 'eth0', addresses: ['10.1.0.100/24'], mac: MAC.txEth0 }, b: { host: 'rx', iface: 'eth0', addresses: ['10.1.0.1/24'], mac: MAC.rxEth0 } },
    { a: { host: 'tx', iface: 'eth1', addresses: ['10.2.0.100/24'], mac: MAC.txEth1 }, b: { host: 'rx', iface: 'eth1', addresses: ['10.2.0.1/24'], mac: MAC.rxEth1 } },
  ],
};

/**
 * A line-per-request agent inside a namespace: `send` writes one Ethernet frame (IPv4 with
 * correct checksums) on an interface, `flush` empties the conntrack table over ctnetlink,
 * `run` runs a command. Python because Node has no packet or netlink sockets.
 */
const AGENT = String.raw`
import json, socket, struct, subprocess, sys, time
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
socks = {}
def mac(s): return bytes(int(x, 16) for x in s.split(':'))
def send(p):
    iface = p['iface']
    if iface not in socks:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((iface, 0))
        socks[iface] = s
    src = socket.inet_aton(p['src']); dst = socket.inet_aton(p['dst']); proto = p['proto']
    if proto == 6:
        hdr = struct.pack('!HHIIBBHHH', p['sport'], p['dport'], 1000, 0, 5 << 4, p['flags'], 65535, 0, 0)
        c = csum(src + dst + struct.pack('!BBH', 0, 6, len(hdr)) + hdr)
        l4 = hdr[:16] + struct.pack('!H', c) + hdr[18:]
    elif proto == 17:
        payload = b'hostcheck'
        hdr = struct.pack('!HHHH', p['sport'], p['dport'], 8 + len(payload), 0)
        c = csum(src + dst + struct.pack('!BBH', 0, 17, len(hdr) + len(payload)) + hdr + payload) or 0xffff
        l4 = hdr[:6] + struct.pack('!H', c) + payload
    elif proto == 1:
        body = struct.pack('!BBHHH', p['icmpType'], p['icmpCode'], 0, p['id'], 1) + b'hostcheck'
        l4 = body[:2] + struct.pack('!H', csum(body)) + body[4:]
    else:
        l4 = b'hostcheck'
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), p['id'], 0x4000, 64, proto, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    socks[iface].send(mac(p['dstMac']) + mac(p['srcMac']) + b'\x08\x00' + ip + l4)
def flush():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
    s.bind((0, 0))
    s.send(struct.pack('=IHHII', 20, (1 << 8) | 2, 1 | 4, 1, 0) + struct.pack('=BBH', 2, 0, 0))
    err = struct.unpack('=i', s.recv(4096)[16:20])[0]
    s.close()
    if err != 0: raise Exception('conntrack flush failed: %d' % err)
for line in sys.stdin:
    req = json.loads(line)
    try:
        if req['op'] == 'send':
            send(req); time.sleep(0.002); out = {'ok': True}
        elif req['op'] == 'flush':
            flush(); out = {'ok': True}
        else:
            r = subprocess.run(req['argv'], input=req.get('input', ''), capture_output=True, text=True)
            out = {'ok': r.returncode == 0, 'stdout': r.stdout, 'stderr': r.stderr}
    except Exception as e:
        out = {'ok': False, 'stderr': repr(e)}
    print(json.dumps(out), flush=True)
`;

interface AgentReply {
  ok: boolean;
  stdout?: string;
  stderr?: string;
}

class Agent {
  private readonly proc: ChildProcessWithoutNullStreams;
  private buffer = '';
  private readonly waiting: ((reply: AgentReply) => void)[] = [];

  constructor(namespace: string) {
    this.proc = spawn('ip', ['netns', 'exec', namespace, 'python3', '-u', '-c', AGENT]);
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        this.waiting.shift()?.(JSON.parse(line) as AgentReply);
      }
    });
  }

  request(message: Record<string, unknown>): Promise<AgentReply> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.proc.stdin.write(`${JSON.stringify(message)}\n`);
    });
  }

  async run(argv: string[], input = ''): Promise<string> {
    const reply = await this.request({ op: 'run', argv, input });
    if (!reply.ok) throw new Error(`${argv.join(' ')} failed: ${reply.stderr}`);
    return reply.stdout ?? '';
  }

  close(): void {
    this.proc.stdin.end();
  }
}

/** Packet counters of every rule (`table/chain/position`) and every chain's policy (`table/chain`). */
interface Counters {
  rules: Map<string, number>;
  policies: Map<string, number>;
}

function counters(saveText: string): Counters {
  const out: Counters = { rules: new Map(), policies: new Map() };
  for (const table of parseIptables(saveText).records) {
    for (const c of table.chains) out.policies.set(`${table.name}/${c.name}`, c.counters?.packets ?? 0);
    for (const r of table.rules) out.rules.set(`${table.name}/${r.chain}/${r.position}`, r.counters?.packets ?? 0);
  }
  return out;
}

/** What the kernel counted for one packet: non-zero deltas only. */
function kernelCounts(before: Counters, after: Counters): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after.rules) if (v !== (before.rules.get(k) ?? 0)) out.set(k, v - (before.rules.get(k) ?? 0));
  for (const [k, v] of after.policies) {
    const chain = k.slice(k.indexOf('/') + 1);
    if ((chain === 'PREROUTING' || chain === 'INPUT') && v !== (before.policies.get(k) ?? 0)) out.set(`${k}/policy`, v - (before.policies.get(k) ?? 0));
  }
  return out;
}

/** The same counts as the evaluator's trace predicts them. */
function evaluatorCounts(result: NetfilterResult): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of result.trace) {
    if (t.matched !== true) continue;
    const key = t.policy !== undefined ? `${t.table}/${t.chain}/policy` : `${t.table}/${t.chain}/${t.rule}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

function sameCounts(a: Map<string, number>, b: Map<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

const show = (m: Map<string, number>): string => [...m].map(([k, v]) => (v === 1 ? k : `${k}×${v}`)).join(', ') || '(none)';

function frameOf(packet: NetfilterPacket, id: number): Record<string, unknown> {
  const broadcast = packet.dst.endsWith('.255');
  const proto = packet.proto === 'tcp' ? 6 : packet.proto === 'udp' ? 17 : packet.proto === 'icmp' ? 1 : packet.proto;
  return {
    op: 'send',
    iface: packet.inIf,
    dstMac: broadcast ? 'ff:ff:ff:ff:ff:ff' : packet.inIf === 'eth0' ? MAC.rxEth0 : MAC.rxEth1,
    srcMac: packet.inIf === 'eth0' ? MAC.txEth0 : MAC.txEth1,
    src: packet.src,
    dst: packet.dst,
    proto,
    sport: packet.sport ?? 0,
    dport: packet.dport ?? 0,
    flags: packet.tcpFlags ?? 2,
    icmpType: packet.icmpType ?? 8,
    icmpCode: packet.icmpCode ?? 0,
    id,
  };
}

interface Outcome {
  agree: boolean;
  kernel: Map<string, number>;
  delivered: boolean;
  result: NetfilterResult;
  why: string;
}

describeLab('netfilter evaluator agrees with the kernel', () => {
  const lab = useLab(topology);

  it(`${SETUPS} random rulesets × ${PACKETS} packets (seeds ${FIRST_SEED}..${FIRST_SEED + SETUPS - 1})`, { timeout: 120_000 + SETUPS * PACKETS * 200 }, async () => {
    const missing = ['python3', 'ipset', 'iptables-save', 'iptables-restore'].filter((c) => !onPath(c));
    if (missing.length > 0) {
      if (process.env.CI === 'true') throw new Error(`the differential test needs ${missing.join(', ')} on PATH`);
      console.warn(`[netfilter-diff] skipped: ${missing.join(', ')} not on PATH`);
      return;
    }
    const rx = new Agent(lab().ns('rx'));
    const tx = new Agent(lab().ns('tx'));
    const started = Date.now();
    const coverage = new Map<string, { rules: number; hit: number }>();
    const failures: string[] = [];
    let packets = 0;
    let frameId = 1;
    /** The counters after the last packet: the next packet's "before" while the ruleset stays. */
    let last: Counters | undefined;
    try {
      const load = async (rules: string, ipsets: string): Promise<NetfilterRuleset> => {
        await rx.run(['iptables-restore'], EMPTY_RULESET);
        await rx.run(['ipset', 'destroy']);
        if (ipsets !== '') await rx.run(['ipset', 'restore'], ipsets);
        await rx.run(['iptables-restore'], rules);
        last = undefined;
        const saved = await rx.run(['iptables-save']);
        return { tables: parseIptables(saved).records, ipsets: parseIpset(await rx.run(['ipset', 'save'])).records };
      };
      /** Sends one packet and compares the kernel's counter deltas with the evaluator's trace. */
      const probe = async (ruleset: NetfilterRuleset, packet: NetfilterPacket, generated: NetfilterRuleset): Promise<Outcome> => {
        const before = last ?? counters(await rx.run(['iptables-save', '-c']));
        const flushed = await rx.request({ op: 'flush' });
        if (!flushed.ok) throw new Error(flushed.stderr);
        const sent = await tx.request(frameOf(packet, frameId++ & 0xffff));
        if (!sent.ok) throw new Error(`sending failed: ${sent.stderr}`);
        last = counters(await rx.run(['iptables-save', '-c']));
        const kernel = kernelCounts(before, last);
        const opts = { path: 'input' as const, localAddresses: LAB.rxAddresses, traceLimit: 100_000 };
        const result = evaluatePacket(ruleset, packet, opts);
        const fromGenerated = evaluatePacket(generated, packet, opts);
        const expected = evaluatorCounts(result);
        const delivered = kernel.get('security/INPUT/1') === 1;
        let why = '';
        if (result.verdict === 'undecided') why = `evaluator undecided: ${result.reason}`;
        else if (delivered !== (result.verdict === 'accept')) why = `kernel ${delivered ? 'delivered' : 'did not deliver'}, evaluator says ${result.verdict}`;
        else if (!sameCounts(kernel, expected)) why = 'counters differ';
        else if (fromGenerated.verdict !== result.verdict || !sameCounts(evaluatorCounts(fromGenerated), expected)) why = `the generated text evaluates differently from the saved one (${fromGenerated.verdict}: ${fromGenerated.reason ?? show(evaluatorCounts(fromGenerated))})`;
        return { agree: why === '', kernel, delivered, result, why };
      };

      for (let s = 0; s < SETUPS; s++) {
        const seed = FIRST_SEED + s;
        const gen = generateCase(seed, PACKETS);
        const ruleset = await load(gen.rules, gen.ipsets).catch((error: Error) => {
          throw new Error(`seed ${seed}: loading the ruleset failed: ${error.message}\n${gen.rules}\n${gen.ipsets}`, { cause: error });
        });
        const generated: NetfilterRuleset = { tables: parseIptables(gen.rules).records, ipsets: parseIpset(gen.ipsets).records };
        const hitRules = new Set<string>();
        for (const [index, packet] of gen.packets.entries()) {
          packets++;
          const outcome = await probe(ruleset, packet, generated);
          for (const k of outcome.kernel.keys()) hitRules.add(k);
          if (outcome.agree) continue;
          if (failures.length < 3) failures.push(await reproduce(gen, index, packet, outcome, load, probe));
          else failures.push(`seed ${seed} packet ${index}: ${outcome.why}`);
        }
        for (const rule of gen.ruleList) {
          const hit = hitRules.has(`${rule.table}/${rule.chain}/${rule.position}`);
          for (const f of new Set(rule.features)) {
            const c = coverage.get(f) ?? { rules: 0, hit: 0 };
            c.rules++;
            if (hit) c.hit++;
            coverage.set(f, c);
          }
        }
      }
    } finally {
      rx.close();
      tx.close();
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const lines = [...coverage].sort((a, b) => a[0].localeCompare(b[0])).map(([f, c]) => `  ${f.padEnd(26)} ${String(c.rules).padStart(5)} rules, ${String(c.hit).padStart(5)} matched a packet`);
    console.log(`[netfilter-diff] ${SETUPS} rulesets, ${packets} packets, ${failures.length} disagreements, ${seconds} s\n[netfilter-diff] coverage by feature:\n${lines.join('\n')}`);
    expect(failures, failures.join('\n\n')).toEqual([]);
  });
});

const EMPTY_RULESET = ['raw', 'mangle', 'nat', 'filter', 'security'].map((t) => `*${t}\nCOMMIT\n`).join('');

type Load = (rules: string, ipsets: string) => Promise<NetfilterRuleset>;
type Probe = (ruleset: NetfilterRuleset, packet: NetfilterPacket, generated: NetfilterRuleset) => Promise<Outcome>;

/** Shrinks the ruleset to the rules the disagreement needs (one rule out at a time) and prints it. */
async function reproduce(gen: GeneratedCase, index: number, packet: NetfilterPacket, first: Outcome, load: Load, probe: Probe): Promise<string> {
  let rules: GeneratedRule[] = gen.ruleList;
  let outcome = first;
  for (let i = rules.length - 1; i >= 0; i--) {
    const fewer = rules.filter((_, j) => j !== i);
    const text = gen.render(fewer);
    const attempt = await probe(await load(text, gen.ipsets), packet, { tables: parseIptables(text).records, ipsets: parseIpset(gen.ipsets).records });
    if (!attempt.agree) {
      rules = fewer;
      outcome = attempt;
    }
  }
  const ruleset = gen.render(rules);
  await load(gen.rules, gen.ipsets);
  return [
    `seed ${gen.seed} packet ${index}: ${outcome.why}`,
    `packet: ${JSON.stringify(packet)}`,
    `kernel:    delivered=${outcome.delivered} ${show(outcome.kernel)}`,
    `evaluator: ${outcome.result.verdict} ${show(evaluatorCounts(outcome.result))}${outcome.result.reason ? ` (${outcome.result.reason})` : ''}`,
    `ruleset (shrunk from ${gen.ruleList.length} to ${rules.length} rules):\n${ruleset}`,
    gen.ipsets ? `ipsets:\n${gen.ipsets}` : 'ipsets: none',
  ].join('\n');
}

function onPath(command: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // Not here.
    }
  }
  return false;
}
