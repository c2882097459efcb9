/**
 * mtu-black-hole end to end (issue 16, part 1): real packets larger than the path carries are
 * lost while small ones pass, hostcheck inside the host names the black hole with the largest
 * packet that gets through, the kernel's counters confirm it, the printed fix is applied
 * literally, and then large packets (and a bulk TCP upload) flow; healthy variants stay silent.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/report/json.js';
import { applyPrintedFix, hostcheckReport } from './e2e-helpers.js';
import type { Lab } from './lab.js';
import { JUMBO, jumboRouter, jumboUplink, VXLAN, vxlanBridge } from './mtu-topologies.js';
import { describeLab, useLab } from './suite.js';

const ID = 'mtu-black-hole';
const peers = ['--peer', `${JUMBO.peer}=p`, '--peer', `${JUMBO.peer6}=p`];
const mtuFindings = (r: Report): Finding[] => r.findings.filter((f) => f.check === ID);

const work = mkdtempSync(join(tmpdir(), 'hc-mtu-e2e-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A TCP sink on port 5001 that answers the byte count it got; it exits by itself after 60 s. */
const SINK = `require('net').createServer((s) => { let n = 0; s.on('data', (d) => { n += d.length; }); s.on('end', () => s.end(String(n))); s.on('error', () => {}); }).listen(5001, '::'); setTimeout(() => process.exit(0), 60000);`;
/** Uploads BYTES to HOST:5001 and exits 0 when the sink counted them all, 2 when it stalls for 4 s. */
const UPLOAD = `const [host, bytes] = process.argv.slice(2); const s = require('net').connect(5001, host); let got = ''; s.on('connect', () => s.end(Buffer.alloc(Number(bytes)))); s.on('data', (d) => { got += d; }); s.on('end', () => process.exit(got === bytes ? 0 : 1)); s.on('error', () => process.exit(1)); setTimeout(() => process.exit(2), 4000);`;

/** Sends BYTES to whoever connects on port 5002; exits by itself after 60 s. */
const SOURCE = `const n = Number(process.argv[2]); require('net').createServer((s) => { s.on('error', () => {}); s.end(Buffer.alloc(n)); }).listen(5002, '::'); setTimeout(() => process.exit(0), 60000);`;
/** Downloads from HOST:5002 and exits 0 when BYTES arrived, 2 when it stalls for 4 s. */
const DOWNLOAD = `const [host, bytes] = process.argv.slice(2); const s = require('net').connect(5002, host); let n = 0; s.on('data', (d) => { n += d.length; }); s.on('end', () => process.exit(n === Number(bytes) ? 0 : 1)); s.on('error', () => process.exit(1)); setTimeout(() => process.exit(2), 4000);`;

async function startSource(lab: Lab, host: string, bytes = 300_000): Promise<void> {
  await startListener(lab, host, 'source.cjs', SOURCE, [String(bytes)], 5002);
}

async function download(lab: Lab, host: string, src: string, bytes = 300_000): Promise<number> {
  const file = join(work, 'download.cjs');
  writeFileSync(file, DOWNLOAD);
  return (await lab.exec(host, ['node', file, src, String(bytes)])).exitCode;
}

/** Starts `script` (written to `name`) with `args` in the background on `host` and waits until it listens on `port`. */
async function startListener(lab: Lab, host: string, name: string, script: string, args: string[], port: number): Promise<void> {
  const file = join(work, name);
  writeFileSync(file, script);
  await lab.exec(host, ['sh', '-c', `node ${file} ${args.join(' ')} >/dev/null 2>&1 &`], { check: true });
  // Node may take a while to start on a loaded machine: wait until the port listens (at most 10 s).
  await lab.exec(host, ['sh', '-c', `for i in $(seq 200); do ss -Hltn 'sport = :${port}' | grep -q . && exit 0; sleep 0.05; done; exit 1`], { check: true });
}

async function startSink(lab: Lab, host: string): Promise<void> {
  await startListener(lab, host, 'sink.cjs', SINK, [], 5001);
}

async function upload(lab: Lab, host: string, dst: string, bytes = 300_000): Promise<number> {
  const file = join(work, 'upload.cjs');
  writeFileSync(file, UPLOAD);
  return (await lab.exec(host, ['node', file, dst, String(bytes)])).exitCode;
}

/** Replies to `count` pings of `size` bytes of payload (`doNotFragment`: ping -M do). */
async function pingReplies(lab: Lab, host: string, dst: string, size: number, opts: { count?: number; doNotFragment?: boolean } = {}): Promise<number> {
  const argv = ['ping', '-n', '-c', String(opts.count ?? 3), '-i', '0.2', '-W', '1', '-s', String(size), ...(opts.doNotFragment ? ['-M', 'do'] : []), dst];
  const r = await lab.exec(host, argv);
  return Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
}

/**
 * Large pings get through once both ends have learned the path MTU (the first ones teach it): all
 * of a later round. On a loaded machine one reply of a round can miss ping's 1 s wait, so a second
 * round may be asked for; a black hole answers none of either.
 */
async function largePingsFlow(lab: Lab, host: string, dst: string, size: number): Promise<number> {
  await pingReplies(lab, host, dst, size);
  const first = await pingReplies(lab, host, dst, size);
  return first === 3 ? first : Math.max(first, await pingReplies(lab, host, dst, size));
}

/** hostcheck --watch 3 while `traffic` runs: the report with the kernel's counters joined. */
async function watchedReport(lab: Lab, host: string, args: string[], traffic: () => Promise<unknown>): Promise<Report> {
  const [{ report }] = await Promise.all([hostcheckReport(lab, host, ['--watch', '3', ...args]), traffic()]);
  return report;
}

describeLab('e2e: mtu-black-hole, a jumbo uplink toward a 1500-byte path (issue 16 example, IPv4 and IPv6)', () => {
  const lab = useLab(jumboUplink());

  it('symptom, diagnosis with the largest packet, counters, printed fix, large packets and TCP flow', async () => {
    // Small packets pass, large ones vanish without an error; TCP's 8961-byte segments stall.
    expect(await pingReplies(lab(), 'h', JUMBO.peer, 1400, { count: 1, doNotFragment: true })).toBe(1);
    expect(await pingReplies(lab(), 'h', JUMBO.peer, 8000, { doNotFragment: true })).toBe(0);
    expect(await pingReplies(lab(), 'h', JUMBO.peer, 8000)).toBe(0);
    expect(await pingReplies(lab(), 'h', JUMBO.peer6, 1400, { count: 1 })).toBe(1);
    expect(await pingReplies(lab(), 'h', JUMBO.peer6, 8000)).toBe(0);
    await startSink(lab(), 'p');
    expect(await upload(lab(), 'h', JUMBO.peer, 1000)).toBe(0);
    expect(await upload(lab(), 'h', JUMBO.peer)).toBe(2);

    const report = await watchedReport(lab(), 'h', peers, () => Promise.all([pingReplies(lab(), 'h', JUMBO.peer, 8000, { count: 12 }), pingReplies(lab(), 'h', JUMBO.peer6, 8000, { count: 12 })]));
    const found = mtuFindings(report);
    expect(found.map((f) => f.subject).sort()).toEqual([`${JUMBO.peer} path MTU`, `${JUMBO.peer6} path MTU`].sort());
    for (const f of found) {
      expect(f.severity).toBe('warning');
      expect(f.summary).toContain('sends packets of up to 9001 bytes by eth0');
      expect(f.summary).toContain('1500 (assumed');
      expect(f.summary).toContain('filter/INPUT policy DROP');
      expect(f.kernel?.status, JSON.stringify(f.kernel)).toBe('confirmed');
      expect(f.kernel?.evidence.join('\n')).toMatch(/INPUT policy: \+\d+ packets/);
    }
    const v4 = found.find((f) => f.subject.startsWith(JUMBO.peer))!;
    expect(v4.summary).toContain('the largest packet that gets through is 1500 bytes (ping -s 1472, TCP MSS 1460)');
    expect(v4.evidence.map((e) => e.text.replace(/\[\d+:\d+\]/, '').trim())).toEqual([
      expect.stringContaining('eth0@if') as unknown as string, `default via ${JUMBO.gw} dev eth0`, ':INPUT DROP',
    ]);
    const v6 = found.find((f) => f.subject.startsWith(JUMBO.peer6))!;
    expect(v6.summary).toContain('ICMPv6 Packet Too Big');
    expect(v6.summary).toContain('(ping -s 1452, TCP MSS 1440)');
    expect(v6.evidence.some((e) => e.source === 'ip6tables-save' && e.text.startsWith(':INPUT DROP'))).toBe(true);

    // A path MTU from the config replaces the assumption.
    const config = join(work, 'config.json');
    writeFileSync(config, JSON.stringify({ peers: [{ address: JUMBO.peer, name: 'p', pathMtu: 1400 }], remotes: [{ cidr: '2001:db8:2::/64', pathMtu: 1280 }] }));
    const configured = mtuFindings((await hostcheckReport(lab(), 'h', ['--config', config])).report);
    expect(configured.map((f) => f.summary.match(/carries (\d+ \(pathMtu in the config\))/)?.[1]).sort()).toEqual(['1280 (pathMtu in the config)', '1400 (pathMtu in the config)']);

    for (const f of found) expect(await applyPrintedFix(lab(), 'h', f)).toEqual([expect.stringMatching(/^ip6?tables -I INPUT -p (icmp|ipv6-icmp) --icmp(v6)?-type (fragmentation-needed|packet-too-big) -j ACCEPT$/)]);
    // The first large packets teach the path MTU; the next ones are fragmented by the sender and pass.
    expect(await largePingsFlow(lab(), 'h', JUMBO.peer, 8000)).toBe(3);
    expect(await largePingsFlow(lab(), 'h', JUMBO.peer6, 8000)).toBe(3);
    expect(await upload(lab(), 'h', JUMBO.peer)).toBe(0);
    expect(mtuFindings((await hostcheckReport(lab(), 'h', peers)).report)).toEqual([]);
  });
});

describeLab('e2e: mtu-black-hole stays silent when RELATED is accepted', () => {
  const lab = useLab(jumboUplink({ related: true }));
  it('the router\'s error comes in: large packets and TCP flow, no finding', async () => {
    expect(await largePingsFlow(lab(), 'h', JUMBO.peer, 8000)).toBe(3);
    expect(await largePingsFlow(lab(), 'h', JUMBO.peer6, 8000)).toBe(3);
    await startSink(lab(), 'p');
    expect(await upload(lab(), 'h', JUMBO.peer)).toBe(0);
    expect(mtuFindings((await hostcheckReport(lab(), 'h', peers)).report)).toEqual([]);
  });
});

describeLab('e2e: mtu-black-hole, containers on a bridge over vxlan', () => {
  const lab = useLab(vxlanBridge());

  it('symptom, the error with the devices that prove it, counters, printed fix, large packets flow', async () => {
    expect(await pingReplies(lab(), 'c', VXLAN.remote, 1422, { count: 1 })).toBe(1);
    expect(await pingReplies(lab(), 'c', VXLAN.remote, 1460)).toBe(0);
    // IPv6 from the container is not answered with Packet Too Big here: the vxlan driver sends it
    // on and the outer IPv4 packet is fragmented, so large IPv6 pings pass (and the check says nothing of IPv6).
    expect(await largePingsFlow(lab(), 'c', VXLAN.remote6, 1460)).toBe(3);
    // The host itself learns the smaller MTU locally, whatever the firewall does.
    expect((await lab().exec('v', ['ip', 'link', 'show', 'vxlan0'])).stdout).toContain('mtu 1500');

    const report = await watchedReport(lab(), 'v', [], () => pingReplies(lab(), 'c', VXLAN.remote, 1460, { count: 12 }));
    const found = mtuFindings(report);
    expect(found.map((f) => f.subject)).toEqual(['br0 vxlan0 MTU']);
    const f = found[0];
    expect(f.severity).toBe('error');
    expect(f.summary).toContain('vxlan0 has mtu 1500 but carries only 1450 over eth0');
    expect(f.summary).toContain('senders on c0 is dropped by filter/FORWARD policy DROP');
    expect(f.summary).toContain('the largest packet that gets through is 1450 bytes (ping -s 1422, TCP MSS 1410); larger pings and datagrams are lost (TCP of an established connection gets its error as ESTABLISHED, which passes here)');
    expect(f.why).toContain('never RELATED');
    expect(f.evidence.map((e) => e.text.split(':')[1]?.trim())).toEqual(expect.arrayContaining(['vxlan0', 'eth0@if2', 'c0@if2']));
    expect(f.kernel?.status, JSON.stringify(f.kernel)).toBe('confirmed');
    expect(f.kernel?.evidence.join('\n')).toMatch(/FORWARD policy: \+\d+ packets/);

    // TCP's error is ESTABLISHED, which the state rule accepts: a bulk upload gets through, and
    // teaches the container the path MTU; forgotten, large pings are lost again.
    await startSink(lab(), 'w');
    expect(await upload(lab(), 'c', VXLAN.remote)).toBe(0);
    await lab().applyFix('c', 'ip route flush cache');
    expect(await pingReplies(lab(), 'c', VXLAN.remote, 1460)).toBe(0);

    expect(await applyPrintedFix(lab(), 'v', f)).toEqual(['iptables -I FORWARD -p icmp --icmp-type fragmentation-needed -j ACCEPT']);
    expect(await largePingsFlow(lab(), 'c', VXLAN.remote, 1460)).toBe(3);
    expect(mtuFindings((await hostcheckReport(lab(), 'v', [])).report)).toEqual([]);
  });
});

describeLab('e2e: mtu-black-hole stays silent when the vxlan\'s error is accepted before the state rules', () => {
  const lab = useLab(vxlanBridge({ icmpAccepted: true }));
  it('large packets from the container flow after the first, no finding', async () => {
    expect(await largePingsFlow(lab(), 'c', VXLAN.remote, 1460)).toBe(3);
    expect(mtuFindings((await hostcheckReport(lab(), 'v', [])).report)).toEqual([]);
  });
});

describeLab('e2e: mtu-black-hole, a bridge port that takes larger frames than the vxlan port', () => {
  const lab = useLab(vxlanBridge({ vxlanMtu: 1450 }));

  it('the bridge drops them without a word; the senders\' MTU at both ends fixes it', async () => {
    expect(await pingReplies(lab(), 'c', VXLAN.remote, 1422, { count: 1 })).toBe(1);
    expect(await pingReplies(lab(), 'c', VXLAN.remote, 1460)).toBe(0);
    const found = mtuFindings(await watchedReport(lab(), 'v', [], () => pingReplies(lab(), 'c', VXLAN.remote, 1460, { count: 12 })));
    expect(found.map((f) => f.subject)).toEqual(['br0 vxlan0 port MTU']);
    const f = found[0];
    expect(f.severity).toBe('error');
    expect(f.summary).toContain("br0's port c0 take frames of up to 1500 bytes, but its port vxlan0 has mtu 1450");
    expect(f.summary).toContain('the largest packet that gets through is 1450 bytes');
    expect(f.fix[0]).toContain('inside the container or VM ip link set eth0 mtu 1450');
    // br_netfilter tries to fragment the frame for the smaller port and cannot (DF).
    expect(f.kernel?.status, JSON.stringify(f.kernel)).toBe('confirmed');
    expect(f.kernel?.evidence.join('\n')).toMatch(/IpFragFails \+\d+/);
    // The senders' end (here the container's eth0) first, then the printed command on the host.
    await lab().applyFix('c', 'ip link set eth0 mtu 1450');
    expect(await applyPrintedFix(lab(), 'v', f)).toEqual(['ip link set c0 mtu 1450']);
    expect(await largePingsFlow(lab(), 'c', VXLAN.remote, 1460)).toBe(3);
    expect(mtuFindings((await hostcheckReport(lab(), 'v', [])).report)).toEqual([]);
  });
});

/** The command of a `# or ...: COMMAND (...)` alternative in a finding's fix. */
function alternative(f: Finding, what: string): string {
  const line = f.fix.find((l) => l.startsWith(`# or ${what}`));
  const m = line === undefined ? null : /^# or [^:]+: (.+?)(?: \(|;|$)/.exec(line);
  if (m === null) throw new Error(`no "${what}" alternative in ${JSON.stringify(f.fix)}`);
  return m[1];
}

describeLab('e2e: mtu-black-hole, the printed alternatives: a route mtu, MSS clamping', () => {
  const lab = useLab(jumboUplink());

  it('clamping the peer\'s SYN-ACK makes TCP flow, a route mtu large pings; both silence the finding', async () => {
    const found = mtuFindings((await hostcheckReport(lab(), 'h', peers)).report);
    const v4 = found.find((f) => f.subject === `${JUMBO.peer} path MTU`)!;
    const v6 = found.find((f) => f.subject === `${JUMBO.peer6} path MTU`)!;
    await startSink(lab(), 'p');

    // Clamping: TCP flows at once; pings stay lost (the error is still dropped), and the IPv4 finding goes.
    const clamp = alternative(v4, 'clamp TCP');
    expect(clamp).toBe('iptables -t mangle -A PREROUTING -i eth0 -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1460');
    await lab().applyFix('h', clamp);
    expect(await upload(lab(), 'h', JUMBO.peer)).toBe(0);
    expect(await pingReplies(lab(), 'h', JUMBO.peer, 8000)).toBe(0);
    expect(mtuFindings((await hostcheckReport(lab(), 'h', peers)).report).map((f) => f.subject)).toEqual([`${JUMBO.peer6} path MTU`]);

    // A route mtu: this host fragments large pings itself from the first one on (the peer's first large reply teaches the peer).
    for (const f of [v4, v6]) {
      const route = alternative(f, 'send smaller');
      expect(route).toMatch(/^ip (-6 )?route replace \S+ via \S+ dev eth0 mtu 1500$/);
      await lab().applyFix('h', route);
    }
    expect(await largePingsFlow(lab(), 'h', JUMBO.peer, 8000)).toBe(3);
    expect(await largePingsFlow(lab(), 'h', JUMBO.peer6, 8000)).toBe(3);
    expect(mtuFindings((await hostcheckReport(lab(), 'h', peers)).report)).toEqual([]);
  });
});

describeLab('e2e: mtu-black-hole, route metrics: a locked mtu, advmss', () => {
  const lab = useLab(jumboUplink());

  it('mtu lock sends IPv4 without DF (routers fragment, silent); advmss sizes what the peer sends, not what this host sends', async () => {
    const route = `ip route replace ${JUMBO.peer} via ${JUMBO.gw} dev eth0`;
    await startSink(lab(), 'p');
    // A locked route mtu: IPv4 leaves without DF, r fragments it onto the 1500-byte link; ping -M do still sets DF.
    await lab().applyFix('h', `${route} mtu lock 9001`);
    expect(await pingReplies(lab(), 'h', JUMBO.peer, 8000)).toBe(3);
    expect(await pingReplies(lab(), 'h', JUMBO.peer, 8000, { doNotFragment: true })).toBe(0);
    expect(await upload(lab(), 'h', JUMBO.peer)).toBe(0);
    expect(mtuFindings((await hostcheckReport(lab(), 'h', peers)).report).map((f) => f.subject)).toEqual([`${JUMBO.peer6} path MTU`]);

    // advmss alone: h still sends 8961-byte segments, lost as before, and the finding names the advmss.
    await lab().applyFix('h', `${route} advmss 8961`);
    expect(await upload(lab(), 'h', JUMBO.peer)).toBe(2);
    const f = mtuFindings((await hostcheckReport(lab(), 'h', peers)).report).find((x) => x.subject === `${JUMBO.peer} path MTU`);
    expect(f?.why).toContain("The route's advmss 8961 also makes this host announce MSS 8961");

    // A route mtu 1500 with advmss 8961: h sends no more than 1500 (upload flows, silent), but
    // announces 8961, so p's segments toward h are 9001 bytes: p learns the path from r2 (p's
    // route cache shows mtu 1500 after the download); with the route's own advmss (1460) it never has to.
    await startSource(lab(), 'p');
    await lab().applyFix('h', `${route} mtu 1500 advmss 8961`);
    expect(await upload(lab(), 'h', JUMBO.peer)).toBe(0);
    expect(await pingReplies(lab(), 'h', JUMBO.peer, 8000)).toBe(3);
    expect(await download(lab(), 'h', JUMBO.peer)).toBe(0);
    expect((await lab().exec('p', ['ip', 'route', 'get', JUMBO.host])).stdout).toMatch(/mtu 1500/);
    expect(mtuFindings((await hostcheckReport(lab(), 'h', peers)).report).map((f) => f.subject)).toEqual([`${JUMBO.peer6} path MTU`]);
    await lab().applyFix('p', 'ip route flush cache');
    await lab().applyFix('h', `${route} mtu 1500`);
    expect(await download(lab(), 'h', JUMBO.peer)).toBe(0);
    expect((await lab().exec('p', ['ip', 'route', 'get', JUMBO.host])).stdout).not.toMatch(/mtu 1500/);
  });
});

/**
 * The router h's findings for the LAN's senders while c sends large pings (both families): one per
 * family, with `words`, the largest packet 1500 bytes, and the kernel's `hook` policy counter moving.
 */
async function routedFindings(lab: Lab, expected: { severity: Finding['severity']; hook: string; words: string[] }): Promise<Finding[]> {
  const report = await watchedReport(lab, 'h', peers, () => Promise.all([pingReplies(lab, 'c', JUMBO.peer, 8000, { count: 12 }), pingReplies(lab, 'c', JUMBO.peer6, 8000, { count: 12 })]));
  const found = mtuFindings(report);
  expect(found.map((f) => f.subject).sort()).toEqual([`${JUMBO.lan} to ${JUMBO.peer} path MTU`, `${JUMBO.lan6} to ${JUMBO.peer6} path MTU`].sort());
  for (const f of found) {
    expect(f.severity).toBe(expected.severity);
    for (const w of ['(lan0, mtu 9001)', ...expected.words]) expect(f.summary).toContain(w);
    expect(f.kernel?.status, JSON.stringify(f.kernel)).toBe('confirmed');
    expect(f.kernel?.evidence.join('\n')).toMatch(new RegExp(`${expected.hook} policy: \\+\\d+ packets`));
  }
  expect(found.find((f) => f.subject.includes(`${JUMBO.peer} `))?.summary).toContain('the largest packet that gets through is 1500 bytes (ping -s 1472, TCP MSS 1460)');
  return found;
}

describeLab('e2e: mtu-black-hole, routed senders behind the host (FORWARD accepts ESTABLISHED, not RELATED)', () => {
  const lab = useLab(jumboRouter());

  it('symptom on the LAN, the finding on the router, the printed fix, large packets and TCP flow', async () => {
    expect(await pingReplies(lab(), 'c', JUMBO.peer, 1400, { count: 1, doNotFragment: true })).toBe(1);
    expect(await pingReplies(lab(), 'c', JUMBO.peer, 8000)).toBe(0);
    expect(await pingReplies(lab(), 'c', JUMBO.peer6, 1400, { count: 1 })).toBe(1);
    expect(await pingReplies(lab(), 'c', JUMBO.peer6, 8000)).toBe(0);
    await startSink(lab(), 'p');
    expect(await upload(lab(), 'c', JUMBO.peer, 1000)).toBe(0);
    expect(await upload(lab(), 'c', JUMBO.peer)).toBe(2);
    // The router itself learns: its own large pings pass (INPUT accepts the error).
    expect(await largePingsFlow(lab(), 'h', JUMBO.peer, 8000)).toBe(3);

    const found = await routedFindings(lab(), { severity: 'warning', hook: 'FORWARD', words: ['forwards their packets of up to 9001 bytes by eth0', 'is dropped by filter/FORWARD policy DROP as it crosses this host'] });

    // The printed TCP clamp on the SYN-ACK going to the LAN: the upload passes at once, large pings stay lost, the IPv4 finding goes.
    const clamp = alternative(found.find((f) => f.subject.includes(`${JUMBO.peer} `))!, 'clamp their TCP');
    expect(clamp).toBe('iptables -t mangle -A FORWARD -i eth0 -o lan0 -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1460');
    await lab().applyFix('h', clamp);
    expect(await upload(lab(), 'c', JUMBO.peer)).toBe(0);
    expect(await pingReplies(lab(), 'c', JUMBO.peer, 8000)).toBe(0);
    expect(mtuFindings((await hostcheckReport(lab(), 'h', peers)).report).map((f) => f.subject)).toEqual([`${JUMBO.lan6} to ${JUMBO.peer6} path MTU`]);

    for (const f of found) expect(await applyPrintedFix(lab(), 'h', f)).toEqual([expect.stringMatching(/^ip6?tables -I FORWARD -p (icmp|ipv6-icmp) --icmp(v6)?-type (fragmentation-needed|packet-too-big) -j ACCEPT$/)]);
    expect(await largePingsFlow(lab(), 'c', JUMBO.peer, 8000)).toBe(3);
    expect(await largePingsFlow(lab(), 'c', JUMBO.peer6, 8000)).toBe(3);
    expect(await upload(lab(), 'c', JUMBO.peer)).toBe(0);
    expect(mtuFindings((await hostcheckReport(lab(), 'h', peers)).report)).toEqual([]);
  });
});

describeLab('e2e: mtu-black-hole, routed senders behind a host whose FORWARD accepts RELATED', () => {
  const lab = useLab(jumboRouter({ related: true }));
  it('the router\'s error reaches the LAN: large packets and TCP flow, no finding', async () => {
    expect(await largePingsFlow(lab(), 'c', JUMBO.peer, 8000)).toBe(3);
    expect(await largePingsFlow(lab(), 'c', JUMBO.peer6, 8000)).toBe(3);
    await startSink(lab(), 'p');
    expect(await upload(lab(), 'c', JUMBO.peer)).toBe(0);
    expect(mtuFindings((await hostcheckReport(lab(), 'h', peers)).report)).toEqual([]);
  });
});

describeLab('e2e: mtu-black-hole, routed senders larger than the router\'s uplink, the router\'s own error dropped in OUTPUT', () => {
  const lab = useLab(jumboRouter({ outputEstablished: true }));

  it('symptom on the LAN, an error finding on the router, the printed OUTPUT accept, large packets and TCP flow', async () => {
    expect(await pingReplies(lab(), 'c', JUMBO.peer, 1400, { count: 1, doNotFragment: true })).toBe(1);
    expect(await pingReplies(lab(), 'c', JUMBO.peer, 8000)).toBe(0);
    expect(await pingReplies(lab(), 'c', JUMBO.peer6, 8000)).toBe(0);
    await startSink(lab(), 'p');
    expect(await upload(lab(), 'c', JUMBO.peer)).toBe(2);

    const found = await routedFindings(lab(), { severity: 'error', hook: 'OUTPUT', words: ['by eth0, which carries 1500 bytes', 'it sends the senders itself is dropped by filter/OUTPUT policy DROP'] });

    for (const f of found) expect(await applyPrintedFix(lab(), 'h', f)).toEqual([expect.stringMatching(/^ip6?tables -I OUTPUT -p (icmp|ipv6-icmp) --icmp(v6)?-type (fragmentation-needed|packet-too-big) -j ACCEPT$/)]);
    expect(await largePingsFlow(lab(), 'c', JUMBO.peer, 8000)).toBe(3);
    expect(await largePingsFlow(lab(), 'c', JUMBO.peer6, 8000)).toBe(3);
    expect(await upload(lab(), 'c', JUMBO.peer)).toBe(0);
    expect(mtuFindings((await hostcheckReport(lab(), 'h', peers)).report)).toEqual([]);
  });
});
