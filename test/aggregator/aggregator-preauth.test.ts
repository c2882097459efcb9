/**
 * Before a hello is accepted a connection is a stranger: few are let in (per server and per
 * source address) and each may send only a small message. Real `hostcheck serve` process, real
 * TCP on loopback: 100 clients announcing 15 MiB frames while a good agent keeps reporting.
 * (The bench's `preauth` section does the same with 1,000 clients and times the good agent's acks.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/aggregator/server.js';
import { sourceAddress } from '../../src/aggregator/ws-server.js';
import { hostileClients } from '../helpers/hostile-clients.js';
import { repoRoot } from '../helpers/samples.js';
import { waitFor } from '../helpers/agent-protocol-peer.js';
import { hello, reportOf, tempDir, TestAgent, tinySnapshot } from '../helpers/aggregator-client.js';

const tmp = tempDir();
afterAll(() => tmp.remove());

/** `hostcheck serve` in a child process; resolves with its port once it listens. */
async function serve(args: string[]): Promise<{ child: ChildProcess; port: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'hostcheck'), 'serve', '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
  const deadline = Date.now() + 20_000;
  let m: RegExpExecArray | null;
  while (!(m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  return { child, port: Number(m[1]), stop };
}

const vmHwmMB = (pid: number): number => Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024 / 1e6;

describe('aggregator before authentication', () => {
  it('100 clients announcing 15 MiB frames are refused at the door or cut at 64 KiB; the server stays under 300 MB and a good agent stays connected and acknowledged', async () => {
    const server = await serve(['--db', join(tmp.dir, 'preauth.db'), '--max-unauthenticated', '32', '--max-unauthenticated-per-address', '8']);
    try {
      const url = `ws://127.0.0.1:${server.port}/agent`;
      const good = await TestAgent.connect(url, 'good', 'good-token-0123456789abcdef');
      let goodClosed = false;
      void good.closed.then(() => (goodClosed = true));
      await good.report(tinySnapshot('good', '10.5.0.1'));
      const attack = hostileClients({ port: server.port, clients: 100, addresses: 10 });
      await waitFor('the attack under way', () => attack.stats.refused > 0 && attack.stats.cut > 32, 30_000);
      // The good agent reports during the attack; every report is acknowledged (times: the bench's preauth section).
      let acked = 0;
      for (; acked < 20; acked++) await good.report(tinySnapshot('good', `10.5.${acked}.1`));
      // Two more seconds of attack: time enough for an uncapped server to buffer gigabytes.
      await new Promise((r) => setTimeout(r, 2000));
      await good.report(tinySnapshot('good', '10.5.99.1'));
      const stats = await attack.stop();
      const peakMB = vmHwmMB(server.child.pid!);
      console.log(`[preauth] ${JSON.stringify(stats)}, ${acked} reports acknowledged during the attack, server VmHWM ${peakMB.toFixed(1)} MB`);
      expect(goodClosed).toBe(false);
      expect(stats.refused).toBeGreaterThan(0);
      expect(stats.cut).toBeGreaterThan(0);
      expect(peakMB).toBeLessThan(300);
      const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      expect(metrics).toMatch(/hostcheck_rejected_messages_total\{reason="preauth_limit"\} [1-9]/);
      expect(metrics).toMatch(/hostcheck_rejected_messages_total\{reason="preauth_too_large"\} [1-9]/);
      good.close();
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('after the hello, messages up to --max-payload are read again (deflated too); before it a deflated 1 MiB is cut', async () => {
    const s = await startServer({ listen: '127.0.0.1:0', db: join(tmp.dir, 'raise.db'), maxPayload: 1024 * 1024 });
    try {
      const url = `ws://127.0.0.1:${s.tcp!.port}/agent`;
      // A message that deflates to ~1 KiB but inflates to 1 MiB: the inflater stops it before the hello.
      const bomb = new WebSocket(url, { perMessageDeflate: true });
      await new Promise((r) => bomb.once('open', r));
      bomb.send(JSON.stringify({ ...hello('bomb', 'bomb-token-0123456789abcdef'), pad: ' '.repeat(1024 * 1024 - 200) }));
      const code = await new Promise<number>((r) => bomb.once('close', (c) => r(c)));
      expect(code).toBe(1009);
      // After its hello an agent sends a 600 KiB report (deflated on the wire) and it is acknowledged.
      const a = await TestAgent.connect(url, 'big', 'big-token-0123456789abcdef');
      const r = reportOf(1, tinySnapshot('big', '10.6.0.1'));
      (r.snapshot as Record<string, unknown>).pad = 'x'.repeat(600 * 1024);
      a.send(r);
      expect((await a.next('ack')).seq).toBe(1);
      a.close();
    } finally {
      await s.close();
    }
  });

  it('an address that keeps losing connections before their hello is shut for a moment; others are not', async () => {
    const s = await startServer({ listen: '127.0.0.1:0', db: join(tmp.dir, 'rate.db'), preAuthRate: 5 });
    try {
      // A client that says something other than hello: upgraded (101), then cut (hello_expected).
      const attempt = (localAddress: string) => new Promise<'upgraded' | 'dropped'>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${s.tcp!.port}/agent`, { localAddress });
        ws.on('open', () => { ws.send('{"type":"heartbeat","at":"now"}'); resolve('upgraded'); });
        ws.on('error', () => resolve('dropped'));
        ws.on('close', () => resolve('dropped'));
      });
      const outcomes: string[] = [];
      const started = performance.now();
      for (let i = 0; i < 40; i++) {
        outcomes.push(await attempt('127.0.0.5'));
        await new Promise((r) => setTimeout(r, 10));
      }
      const seconds = (performance.now() - started) / 1000;
      const upgraded = outcomes.filter((o) => o === 'upgraded').length;
      // A burst of 20 (4 × the rate), then 5 a second; the rest dropped on accept.
      expect(upgraded).toBeGreaterThanOrEqual(20);
      expect(upgraded).toBeLessThanOrEqual(Math.min(40, 21 + Math.ceil(5 * seconds)));
      if (seconds < 3) expect(outcomes).toContain('dropped');
      expect(await attempt('127.0.0.6')).toBe('upgraded');
      const metrics = await s.aggregator.metrics.text();
      expect(metrics).toMatch(/hostcheck_rejected_messages_total\{reason="preauth_limit"\} [1-9]/);
    } finally {
      await s.close();
    }
  });

  it('counts the agent behind a trusted proxy by the address the proxy forwards', () => {
    const req = (peer: string, xff?: string) => ({ socket: { remoteAddress: peer }, headers: xff ? { 'x-forwarded-for': xff } : {} }) as unknown as IncomingMessage;
    const trusted = new Set(['10.0.0.9']);
    expect(sourceAddress(req('::ffff:192.0.2.7'), trusted)).toBe('192.0.2.7');
    expect(sourceAddress(req('10.0.0.9', '198.51.100.1, 203.0.113.5'), trusted)).toBe('203.0.113.5');
    // Anyone else's X-Forwarded-For is ignored: it could name any address.
    expect(sourceAddress(req('192.0.2.7', '203.0.113.5'), trusted)).toBe('192.0.2.7');
    expect(sourceAddress({ socket: {}, headers: {} } as unknown as IncomingMessage, trusted)).toBeUndefined();
  });
});
