/**
 * Measures which kernel drop counters and skb:kfree_skb drop reasons move for each cause
 * hostcheck names (the table in docs/kernel.md): per cause a lab, the watched host's drop
 * counters and netfilter rule counters read before and after real traffic, and the drop reasons
 * counted meanwhile (system-wide: other namespaces' drops show up too; run it on a quiet machine).
 *
 *   sudo unshare --mount sh -c 'mount -t tracefs nodev /sys/kernel/tracing && npx tsx scripts/measure-kernel-signals.ts [FILTER]'
 *
 * Prints one markdown row per cause. Network safety: traffic only between the lab's namespaces.
 */
import { parse as parseIptables } from '../parsers/iptables-save.js';
import { parse as parseCounters } from '../parsers/proc-net-counters.js';
import { counterDeltas, ruleCounters, type CounterSample } from '../src/collect/counters.js';
import { DropTracer } from '../src/collect/drop-reasons.js';
import { isDropCounter } from '../src/model/kernel.js';
import { meshWithEcs3, twoNic, TWO_NIC } from '../test/lab/check-topologies.js';
import { Lab, type Topology } from '../test/lab/lab.js';
import { secondIncident, SECOND_INCIDENT as si } from '../test/lab/second-incident-topology.js';
import { firstIncident, FIRST_INCIDENT as fi } from '../test/lab/topologies.js';

interface Cause {
  cause: string;
  topology: Topology;
  host: string;
  traffic: (lab: Lab) => Promise<unknown>;
}

const ping = (lab: Lab, from: string, to: string, extra: string[] = []) => lab.exec(from, ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', ...extra, to]);
/** A TCP listener on ecs3:8080 and one connection attempt from `from` (the SYN-ACK needs the reply route). */
async function tcp(lab: Lab, from: string): Promise<void> {
  const server = lab.exec('ecs3', ['timeout', '5', process.execPath, '-e', "require('net').createServer((s) => s.end()).listen(8080)"]);
  await new Promise((r) => setTimeout(r, 700));
  await lab.exec(from, ['curl', '-s', '--connect-timeout', '2', `http://${fi.ecs3}:8080/`]);
  await server;
}
const withXfrm = (policies: string[]): Topology => {
  const t = meshWithEcs3({});
  t.hosts.ecs3.xfrmPolicies = policies;
  return t;
};
const router = (edit: (t: Topology) => void): Topology => {
  const t = firstIncident({ docker0: false });
  edit(t);
  return t;
};

const CAUSES: Cause[] = [
  { cause: 'nothing (no traffic, 1 s)', topology: meshWithEcs3({}), host: 'ecs3', traffic: () => new Promise((r) => setTimeout(r, 1000)) },
  { cause: 'rp_filter strict, ping to the second NIC', topology: twoNic({ ecs4RpFilter: 1 }), host: 'ecs4', traffic: (lab) => ping(lab, 'client', TWO_NIC.ecs4eth1) },
  { cause: 'blackhole route for the replies, ping', topology: meshWithEcs3({ routes: ['blackhole 172.18.1.0/24'] }), host: 'ecs3', traffic: (lab) => ping(lab, 'ecs2', fi.ecs3) },
  { cause: 'blackhole route for the replies, TCP SYN', topology: meshWithEcs3({ routes: ['blackhole 172.18.1.0/24'] }), host: 'ecs3', traffic: (lab) => tcp(lab, 'ecs2') },
  { cause: 'prohibit rule for the replies, ping', topology: meshWithEcs3({ rules: [`to ${fi.ecs1} prohibit pref 100`] }), host: 'ecs3', traffic: (lab) => ping(lab, 'ecs1', fi.ecs3) },
  { cause: 'prohibit rule for the replies, TCP SYN', topology: meshWithEcs3({ rules: [`to ${fi.ecs1} prohibit pref 100`] }), host: 'ecs3', traffic: (lab) => tcp(lab, 'ecs1') },
  { cause: 'unreachable route for the replies, TCP SYN', topology: meshWithEcs3({ routes: ['unreachable 172.18.1.0/24'] }), host: 'ecs3', traffic: (lab) => tcp(lab, 'ecs2') },
  { cause: 'no route at all for the replies, TCP SYN', topology: (() => { const t = meshWithEcs3({}); t.hosts.ecs3.routes = []; return t; })(), host: 'ecs3', traffic: (lab) => tcp(lab, 'ecs1') },
  { cause: 'forwarding router: blackhole route', topology: router((t) => (t.hosts.router.routes = [`blackhole ${fi.ecs3}/32`])), host: 'router', traffic: (lab) => ping(lab, 'ecs1', fi.ecs3) },
  { cause: 'forwarding router: unreachable rule', topology: router((t) => (t.hosts.router.rules = [`to ${fi.ecs3} unreachable pref 100`])), host: 'router', traffic: (lab) => ping(lab, 'ecs1', fi.ecs3) },
  { cause: 'iptables INPUT DROP rule', topology: meshWithEcs3({ iptables: `*filter\n-A INPUT -s ${fi.ecs1}/32 -j DROP\nCOMMIT\n` }), host: 'ecs3', traffic: (lab) => ping(lab, 'ecs1', fi.ecs3) },
  { cause: 'iptables INPUT policy DROP', topology: meshWithEcs3({ iptables: '*filter\n:INPUT DROP [0:0]\nCOMMIT\n' }), host: 'ecs3', traffic: (lab) => ping(lab, 'ecs1', fi.ecs3) },
  { cause: 'iptables OUTPUT DROP (the replies)', topology: meshWithEcs3({ iptables: `*filter\n-A OUTPUT -d ${fi.ecs1}/32 -j DROP\nCOMMIT\n` }), host: 'ecs3', traffic: (lab) => ping(lab, 'ecs1', fi.ecs3) },
  { cause: 'xfrm policy dir out action block (the replies)', topology: withXfrm([`src ${fi.ecs3}/32 dst ${fi.ecs1}/32 dir out action block`]), host: 'ecs3', traffic: (lab) => ping(lab, 'ecs1', fi.ecs3) },
  { cause: 'xfrm policy dir in action block', topology: withXfrm([`src ${fi.ecs1}/32 dst ${fi.ecs3}/32 dir in action block`]), host: 'ecs3', traffic: (lab) => ping(lab, 'ecs1', fi.ecs3) },
  { cause: 'xfrm policy dir fwd action block (router)', topology: router((t) => (t.hosts.router.xfrmPolicies = [`src ${fi.ecs1}/32 dst ${fi.ecs3}/32 dir fwd action block`])), host: 'router', traffic: (lab) => ping(lab, 'ecs1', fi.ecs3) },
  { cause: 'xfrm tunnel policy without a state (the replies)', topology: withXfrm([`src ${fi.ecs3}/32 dst ${fi.ecs1}/32 dir out tmpl src ${fi.ecs3} dst 198.51.100.2 proto esp reqid 1 mode tunnel`]), host: 'ecs3', traffic: (lab) => ping(lab, 'ecs1', fi.ecs3) },
  { cause: 'docker0 (NO-CARRIER) captures the replies', topology: firstIncident(), host: 'ecs3', traffic: (lab) => ping(lab, 'ecs1', fi.ecs3) },
  { cause: 'replies leave by the other NIC (the router drops them)', topology: twoNic({ routerRpFilter: 1 }), host: 'ecs4', traffic: (lab) => ping(lab, 'client', TWO_NIC.ecs4eth1) },
  { cause: 'VPN selector gap: the loop (gateway)', topology: secondIncident(), host: 'gateway', traffic: (lab) => ping(lab, 'client', si.target, ['-I', si.looping]) },
];

/** The host's drop counters and netfilter rule counters now, read inside its namespace. */
async function sample(lab: Lab, host: string): Promise<CounterSample> {
  const files = ['/proc/net/netstat', '/proc/net/snmp', '/proc/net/snmp6', '/proc/net/xfrm_stat', '/proc/net/dev', '/proc/net/stat/nf_conntrack'];
  const counters = new Map<string, { value: number; device?: string }>();
  for (const f of files) {
    const r = await lab.exec(host, ['cat', f]);
    for (const c of parseCounters(r.stdout).records) if (isDropCounter(c.name)) counters.set(c.name, { value: c.value, device: c.device });
  }
  const v4 = parseIptables((await lab.exec(host, ['iptables-save', '-c'])).stdout).records;
  return { at: Date.now(), counters, rules: ruleCounters({ v4, v6: [] }, []), missing: [] };
}

const filter = process.argv[2];
const started = DropTracer.start();
if ('unavailable' in started) throw new Error(`drop reasons: ${started.unavailable}`);
const tracer = started.tracer;
console.log('| cause | host | drop counters that moved (this namespace) | drop reasons seen meanwhile (system-wide) |');
console.log('|---|---|---|---|');
try {
  for (const c of CAUSES) {
    if (filter && !c.cause.includes(filter)) continue;
    const lab = await Lab.create(c.topology);
    try {
      const before = await sample(lab, c.host);
      tracer.take();
      await c.traffic(lab);
      await new Promise((r) => setTimeout(r, 300));
      const drops = tracer.take().drops.filter((d) => d.count >= 2);
      // IPv6 neighbour discovery and MLD of fresh namespaces move Ip6InNoRoutes too: left out.
      const moved = counterDeltas(before, await sample(lab, c.host)).filter((d) => d.name !== 'Ip6InNoRoutes');
      console.log(`| ${c.cause} | ${c.host} | ${moved.map((d) => `${d.name} +${d.delta}`).join(', ') || 'none'} | ${drops.map((d) => `${d.reason} at ${d.location} ×${d.count}`).join(', ') || 'none'} |`);
    } finally {
      await lab.destroy();
    }
  }
} finally {
  tracer.stop();
}
