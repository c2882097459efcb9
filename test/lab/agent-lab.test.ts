/**
 * The agent live in a lab namespace: `ip monitor` sees a route added inside the namespace and a
 * new report reaches the protocol peer within 2 s; SIGTERM stops it with exit 0. The peer listens
 * on a unix socket (ws+unix://): the namespace cannot reach the test's loopback, a socket file it can.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { describeLab, useLab } from './suite.js';
import { repoRoot } from '../helpers/samples.js';
import { AgentProtocolPeer, waitFor } from '../helpers/agent-protocol-peer.js';

const bin = join(repoRoot, 'bin', 'hostcheck');

describeLab('hostcheck agent in a namespace', () => {
  const lab = useLab({
    hosts: { a: { routes: ['default via 10.77.0.2 dev eth0'] }, b: {} },
    links: [{ a: { host: 'a', iface: 'eth0', addresses: ['10.77.0.1/24'] }, b: { host: 'b', iface: 'eth0', addresses: ['10.77.0.2/24'] } }],
  });
  const tmp = mkdtempSync(join(tmpdir(), 'hc-agent-lab-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('re-checks after a route change (debounced 750 ms) and reports it; SIGTERM stops it cleanly', async () => {
    writeFileSync(join(tmp, 'token'), 'agent-token-0123456789abcdef\n');
    const peer = await AgentProtocolPeer.start({ socketPath: join(tmp, 'peer.sock') });
    const child = execa('ip', ['netns', 'exec', lab().ns('a'), process.execPath, bin, 'agent', '--server', peer.url, '--name', 'lab-a', '--no-cloud', '--token-file', join(tmp, 'token'), '--state-dir', join(tmp, 'state')], { reject: false });
    let stdout = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    try {
      const first = await waitFor('first report', () => peer.reports[0], 20_000);
      expect(first.snapshot.identity.name).toBe('lab-a');
      expect((first.snapshot.routes ?? []).some((r) => r.dst === '10.123.0.0/24')).toBe(false);
      await waitFor('ip monitor running', () => stdout.includes('"welcomed"'));
      await new Promise((r) => setTimeout(r, 300));
      const changedAt = Date.now();
      await lab().exec('a', ['ip', 'route', 'add', '10.123.0.0/24', 'via', '10.77.0.2'], { check: true });
      const second = await waitFor('report with the new route', () => peer.reports.find((r) => (r.snapshot.routes ?? []).some((x) => x.dst === '10.123.0.0/24')), 5000);
      const latencyMs = Date.now() - changedAt;
      console.log(`[agent-lab] route change → report in ${latencyMs} ms`);
      expect(latencyMs).toBeLessThan(4000); // debounce is well inside 2 s; headroom for a loaded CI machine
      expect(second.seq).toBe(first.seq + 1);
      expect(stdout).toContain('"network change seen"');
    } finally {
      child.kill('SIGTERM');
      const result = await child;
      await peer.close();
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain('"agent stopped"');
    }
  });
});
