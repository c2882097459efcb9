/** `hostcheck agent` as a process: JSON log lines on stdout, SIGTERM stops it with exit 0, usage errors exit 2. */
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { openBundles } from '../../src/collect/bundle-open.js';
import { repoRoot } from '../helpers/samples.js';
import { AgentProtocolPeer, waitFor } from '../helpers/agent-protocol-peer.js';

const bin = join(repoRoot, 'bin', 'hostcheck');
const ecs3 = join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3');
const tmp = mkdtempSync(join(tmpdir(), 'hc-agent-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
writeFileSync(join(tmp, 'token'), 'agent-token-0123456789abcdef\n');

const parseLines = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('hostcheck agent (process)', () => {
  it('reports, logs each acknowledged (host, seq) as JSON, and stops cleanly on SIGTERM', async () => {
    const peer = await AgentProtocolPeer.start({ ackDelayMs: 20 });
    try {
      const child = execa(bin, ['agent', '--bundle', ecs3, '--server', peer.url, '--token-file', join(tmp, 'token'), '--state-dir', join(tmp, 'state'), '--interval', '0.2'], { reject: false });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      await waitFor('an ack log line', () => stdout.includes('"report acknowledged"'), 15_000);
      await waitFor('a heartbeat', () => peer.count('heartbeat') > 0);
      child.kill('SIGTERM');
      const result = await child;
      expect(result.exitCode).toBe(0);
      const lines = parseLines(result.stdout);
      expect(lines.find((l) => l.msg === 'report acknowledged')).toMatchObject({ host: 'ecs3', seq: 1, level: 30 });
      expect(lines.at(-1)).toMatchObject({ msg: 'agent stopped', reason: 'SIGTERM', host: 'ecs3', reports: 1 });
      expect(peer.reports[0].findings.length).toBeGreaterThan(0);
    } finally {
      await peer.close();
    }
  });

  it('turns the compilers back on for a host with more than 50,000 routes (V8 tuned through build/, the agent run from dist/esm)', async () => {
    const big = join(tmp, 'ecs3-big');
    cpSync(ecs3, big, { recursive: true });
    const routes = Array.from({ length: 60_000 }, (_, i) => ({ dst: `10.${i >> 8}.${i & 255}.0/24`, gateway: '172.31.15.253', dev: 'eth0', protocol: 'static', flags: [] }));
    appendFileSync(join(big, 'ip-route-v4.txt'), routes.map((r) => `${r.dst} via ${r.gateway} dev eth0 proto static \n`).join(''));
    const json = join(big, 'ip-route-v4.json');
    writeFileSync(json, JSON.stringify([...(JSON.parse(readFileSync(json, 'utf8')) as object[]), ...routes]));
    const peer = await AgentProtocolPeer.start({ ackDelayMs: 20 });
    try {
      const child = execa(bin, ['agent', '--bundle', big, '--server', peer.url, '--token-file', join(tmp, 'token'), '--state-dir', join(tmp, 'state-big'), '--interval', '60'], { reject: false });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      await waitFor('an ack log line', () => stdout.includes('"report acknowledged"'), 60_000);
      child.kill('SIGTERM');
      const lines = parseLines((await child).stdout);
      expect(lines.find((l) => l.msg === 'big route table: optimizing compiler on')).toMatchObject({ routes: expect.any(Number) as number });
      expect(lines.find((l) => l.msg === 'big route table: optimizing compiler on')!.routes).toBeGreaterThan(60_000);
    } finally {
      await peer.close();
    }
  });

  it('--bundle reads what hostcheck --bundle reads: a real sosreport archive, --host picks a namespace', async () => {
    const sos = join(repoRoot, 'fixtures', 'bundles', 'sos-4.0', 'first-incident.tar.xz');
    const ecs1 = (await openBundles(sos)).map((b) => b.meta.layout?.netns ?? '').find((n) => n.endsWith('-ecs1'))!;
    const peer = await AgentProtocolPeer.start({ ackDelayMs: 20 });
    try {
      const child = execa(bin, ['agent', '--bundle', sos, '--host', ecs1, '--server', peer.url, '--token-file', join(tmp, 'token'), '--state-dir', join(tmp, 'state-sos'), '--interval', '0.2'], { reject: false });
      await waitFor('a report', () => peer.reports.length > 0, 15_000);
      child.kill('SIGTERM');
      expect((await child).exitCode).toBe(0);
      const report = peer.reports[0] as unknown as { snapshot: { identity: { name: string }; sources: { name: string; file?: string }[] } };
      expect(report.snapshot.identity.name.endsWith(`:${ecs1}`)).toBe(true);
      expect(report.snapshot.sources.find((s) => s.name === 'iptables-save')?.file).toBe(`sos_commands/networking/ip_netns_exec_${ecs1}_iptables-save`);
    } finally {
      await peer.close();
    }
    const unknown = await execa(bin, ['agent', '--bundle', sos, '--host', 'nowhere', '--server', peer.url], { reject: false });
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/holds no host "nowhere"; its hosts: /);
    const hostAlone = await execa(bin, ['agent', '--host', 'x', '--server', peer.url], { reject: false });
    expect(hostAlone.exitCode).toBe(2);
    expect(hostAlone.stderr).toContain('--host picks a host of a --bundle');
  });

  it('exits 2 naming the problem: no server, a bad config field, no credential', async () => {
    const noServer = await execa(bin, ['agent', '--bundle', ecs3], { reject: false });
    expect(noServer.exitCode).toBe(2);
    expect(noServer.stderr).toContain('no server: give --server URL');
    writeFileSync(join(tmp, 'bad.json'), JSON.stringify({ server: 'http://x', interval: -1 }));
    const bad = await execa(bin, ['agent', '--config', join(tmp, 'bad.json')], { reject: false });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('server: must be a ws://, wss:// or ws+unix:/// URL');
    expect(bad.stderr).toContain('interval: must be at least 0.1 seconds');
    const noToken = await execa(bin, ['agent', '--bundle', ecs3, '--server', 'ws://127.0.0.1:9', '--token-file', join(tmp, 'absent'), '--state-dir', join(tmp, 'state2')], { reject: false });
    expect(noToken.exitCode).toBe(2);
    expect(noToken.stderr).toContain('no credential');
  });
});
