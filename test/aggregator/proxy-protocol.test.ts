/**
 * `serve --proxy-protocol`: the PROXY header (v1 and v2) parsed without throwing, and a real
 * server that takes each connection's client address from it — for the API's loopback rule,
 * the per-address limits before a hello, and over TLS; a connection without a header, or from a
 * peer that is not a trusted proxy, is closed. Last, a real HAProxy (Debian's haproxy, mode tcp,
 * send-proxy-v2) in front of a real `hostcheck serve` process: an agent reports through it and
 * the server sees the agent's own loopback address, not HAProxy's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { parseProxyHeader } from '../../src/aggregator/proxy-protocol.js';
import { startServer, type RunningServer } from '../../src/aggregator/server.js';
import { hello, reportOf, tempDir, tinySnapshot } from '../helpers/aggregator-client.js';
import { repoRoot } from '../helpers/samples.js';

const tmp = tempDir();
afterAll(() => tmp.remove());

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A v2 header: PROXY command, TCP over IPv4 or IPv6, source and destination, plus `tlv` bytes. */
function v2(src: string, srcPort: number, tlv = Buffer.alloc(0), command = 1): Buffer {
  const six = src.includes(':');
  const addr = six ? Buffer.alloc(36) : Buffer.alloc(12);
  if (six) {
    const full = src.split(':').map((g) => parseInt(g || '0', 16));
    full.forEach((g, i) => addr.writeUInt16BE(g, i * 2));
    addr.writeUInt16BE(1, 30); // destination ::1
    addr.writeUInt16BE(srcPort, 32);
    addr.writeUInt16BE(7480, 34);
  } else {
    src.split('.').forEach((o, i) => (addr[i] = Number(o)));
    addr.set([127, 0, 0, 1], 4);
    addr.writeUInt16BE(srcPort, 8);
    addr.writeUInt16BE(7480, 10);
  }
  const head = Buffer.alloc(4);
  head[0] = 0x20 | command;
  head[1] = (six ? 0x20 : 0x10) | 0x01;
  head.writeUInt16BE(addr.length + tlv.length, 2);
  return Buffer.concat([SIG, head, addr, tlv]);
}

describe('PROXY protocol header', () => {
  it('reads v1 and v2 headers, LOCAL and UNKNOWN without an address, and asks for more while a header is unfinished', () => {
    const v1 = Buffer.from('PROXY TCP4 203.0.113.9 127.0.0.1 51000 7480\r\nGET / HTTP/1.1\r\n');
    expect(parseProxyHeader(v1)).toEqual({ state: 'done', length: 45, source: { address: '203.0.113.9', port: 51000 } });
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8:0:0::7 ::1 40000 7480\r\n'))).toMatchObject({ state: 'done', source: { address: '2001:db8::7', port: 40000 } });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ state: 'done', length: 15, source: {} });
    const h2 = v2('198.51.100.4', 4242, Buffer.from([0x04, 0x00, 0x01, 0x00]));
    expect(parseProxyHeader(Buffer.concat([h2, Buffer.from('GET')]))).toEqual({ state: 'done', length: h2.length, source: { address: '198.51.100.4', port: 4242 } });
    expect(parseProxyHeader(v2('2001:db8:0:0:0:0:0:9', 5000))).toMatchObject({ state: 'done', source: { address: '2001:db8::9', port: 5000 } });
    expect(parseProxyHeader(v2('10.0.0.1', 1, Buffer.alloc(0), 0))).toMatchObject({ state: 'done', source: {} });
    for (let cut = 0; cut < h2.length; cut++) expect(parseProxyHeader(h2.subarray(0, cut)).state, `v2 cut at ${cut}`).toBe('more');
    for (let cut = 0; cut < 44; cut++) expect(parseProxyHeader(v1.subarray(0, cut)).state, `v1 cut at ${cut}`).toBe('more');
  });

  it('refuses what is no header, a malformed one and an oversized one', () => {
    expect(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')).state).toBe('invalid');
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 300.1.1.1 127.0.0.1 1 2\r\n')).state).toBe('invalid');
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.1.1.1 127.0.0.1 70000 2\r\n')).state).toBe('invalid');
    expect(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)).state).toBe('invalid');
    const bad = v2('10.0.0.1', 1);
    bad[12] = 0x31; // version 3
    expect(parseProxyHeader(bad).state).toBe('invalid');
    const big = v2('10.0.0.1', 1);
    big.writeUInt16BE(60_000, 14);
    expect(parseProxyHeader(big).state).toBe('invalid');
  });

  it('never throws on any input', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, withSig) => {
      const buf = withSig ? Buffer.concat([SIG, Buffer.from(bytes)]) : Buffer.from(bytes);
      expect(['more', 'done', 'invalid']).toContain(parseProxyHeader(buf).state);
    }), { numRuns: 2000 });
  });
});

/** One HTTP/1.1 request over `socket` after `header`; resolves with the status code, or 'closed'. */
function request(socket: Socket | ReturnType<typeof tlsConnect>, path: string, header?: Buffer): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    let got = '';
    socket.on('data', (d: Buffer) => void (got += d.toString()));
    socket.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      resolve(m ? Number(m[1]) : 'closed');
    });
    socket.on('error', () => undefined);
    if (header) socket.write(header);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

const plain = (port: number): Socket => connect(port, '127.0.0.1');

describe('serve --proxy-protocol', () => {
  let server: RunningServer;
  afterAll(async () => server?.close());

  it('takes the client address from the header: the API\'s loopback rule sees it, and a connection without a header is closed', async () => {
    server = await startServer({ listen: '127.0.0.1:0', db: join(tmp.dir, 'pp.db'), proxyProtocol: true, maxUnauthenticatedPerAddress: 2 });
    const port = server.tcp!.port;
    // Off loopback the API always wants a viewer token; on loopback (no viewer tokens here) it answers.
    expect(await request(plain(port), '/api/hosts', Buffer.from('PROXY TCP4 203.0.113.9 127.0.0.1 50000 7480\r\n'))).toBe(401);
    expect(await request(plain(port), '/api/hosts', Buffer.from('PROXY TCP4 127.0.0.1 127.0.0.1 50000 7480\r\n'))).toBe(200);
    expect(await request(plain(port), '/api/hosts', v2('203.0.113.9', 50001))).toBe(401);
    // LOCAL (a health check): the balancer's own address, loopback here.
    expect(await request(plain(port), '/api/hosts', v2('203.0.113.9', 1, Buffer.alloc(0), 0))).toBe(200);
    expect(await request(plain(port), '/api/hosts')).toBe('closed');
  });

  it('counts strangers per the address the header names', async () => {
    const port = server.tcp!.port;
    const stranger = (address: string): Promise<WebSocket> => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/agent`, {
        createConnection: () => {
          const s = plain(port);
          s.write(`PROXY TCP4 ${address} 127.0.0.1 40000 7480\r\n`);
          return s;
        },
      });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
      ws.once('unexpected-response', () => reject(new Error('refused')));
    });
    const opened: WebSocket[] = [];
    try {
      opened.push(await stranger('198.51.100.7'), await stranger('198.51.100.7'));
      // The third from that address waits in vain: it is closed without an upgrade.
      await expect(Promise.race([stranger('198.51.100.7'), new Promise((_, r) => setTimeout(() => r(new Error('timeout')), 3000))])).rejects.toThrow();
      // Another address behind the same balancer is let in, and its hello is welcomed.
      const other = await stranger('198.51.100.8');
      opened.push(other);
      const welcomed = new Promise<string>((resolve) => other.on('message', (d) => resolve((JSON.parse(d.toString()) as { type: string }).type)));
      other.send(JSON.stringify(hello('pp-agent', 'pp-agent-token-0123456789')));
      expect(await welcomed).toBe('welcome');
    } finally {
      for (const ws of opened) ws.terminate();
    }
  });

  it('terminates TLS behind the header, the bytes that came with it included', async () => {
    const cert = join(tmp.dir, 'c.pem');
    const key = join(tmp.dir, 'k.pem');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    expect(r.status).toBe(0);
    const tls = await startServer({ listen: '127.0.0.1:0', db: join(tmp.dir, 'pp-tls.db'), proxyProtocol: true, tls: { cert, key } });
    try {
      const status = (address: string): Promise<number | 'closed'> => {
        const raw = plain(tls.tcp!.port);
        raw.cork(); // the header and the ClientHello leave in one segment
        raw.write(`PROXY TCP4 ${address} 127.0.0.1 40000 7480\r\n`);
        const s = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' });
        process.nextTick(() => raw.uncork());
        return request(s, '/api/hosts');
      };
      expect(await status('203.0.113.9')).toBe(401);
      expect(await status('127.0.0.1')).toBe(200);
    } finally {
      await tls.close();
    }
  });

  it('with trusted proxies named, lets in only them', async () => {
    const only = await startServer({ listen: '127.0.0.1:0', db: join(tmp.dir, 'pp-trusted.db'), proxyProtocol: true, trustedProxies: ['192.0.2.1'] });
    try {
      expect(await request(plain(only.tcp!.port), '/api/hosts', Buffer.from('PROXY TCP4 127.0.0.1 127.0.0.1 50000 7480\r\n'))).toBe('closed');
    } finally {
      await only.close();
    }
  });
});

describe('behind a real HAProxy (mode tcp, send-proxy-v2)', () => {
  const haproxy = spawnSync('haproxy', ['-v']).status === 0;
  it.skipIf(!haproxy && !process.env.CI)('an agent reports through HAProxy; serve sees its own address, not HAProxy\'s', async () => {
    expect(haproxy, 'haproxy is installed (.ci/run installs it)').toBe(true);
    const children: ChildProcess[] = [];
    try {
      const serve = spawn(process.execPath, [join(repoRoot, 'bin', 'hostcheck'), 'serve', '--listen', '127.0.0.1:0', '--db', join(tmp.dir, 'haproxy.db'), '--proxy-protocol', '--trusted-proxy', '127.0.0.2',
        '--max-unauthenticated-per-address', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(serve);
      let err = '';
      serve.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
      const port = await until(() => /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(err)?.[1], () => `serve did not start: ${err}`);
      // HAProxy listens on 127.0.0.2 and connects to serve from 127.0.0.2 (the only trusted proxy).
      const cfg = join(tmp.dir, 'haproxy.cfg');
      const front = 20000 + (process.pid % 20000);
      writeFileSync(cfg, [
        'global', '  maxconn 100', 'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s',
        'frontend agents', `  bind 127.0.0.2:${front}`, '  default_backend serve',
        'backend serve', `  server s1 127.0.0.1:${port} send-proxy-v2 source 127.0.0.2`, '',
      ].join('\n'));
      const ha = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(ha);
      let haErr = '';
      ha.stderr!.on('data', (d: Buffer) => void (haErr += d.toString()));
      // The agent connects from 127.0.0.3.
      const open = (): Promise<WebSocket> => new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.2:${front}/agent`, { localAddress: '127.0.0.3' });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
      const ws = await until(async () => open().catch(() => undefined), () => `haproxy did not start: ${haErr}`);
      try {
        const acked = new Promise<void>((resolve) => ws.on('message', (d) => {
          const m = JSON.parse(d.toString()) as { type: string };
          if (m.type === 'welcome') ws.send(JSON.stringify(reportOf(1, tinySnapshot('via-haproxy', '10.9.0.1'))));
          if (m.type === 'ack') resolve();
        }));
        ws.send(JSON.stringify(hello('via-haproxy', 'via-haproxy-token-0123456789')));
        await acked;
        // Before their hello, one stranger per address (--max-unauthenticated-per-address 1): a
        // second from 127.0.0.3 is closed at the door while one from 127.0.0.4 through the same
        // HAProxy is let in — serve counts the agents' addresses, not HAProxy's.
        const stranger = (from: string): Promise<{ outcome: 'open' | 'refused' | 'no answer'; ws: WebSocket }> => new Promise((resolve) => {
          const w = new WebSocket(`ws://127.0.0.2:${front}/agent`, { localAddress: from });
          setTimeout(() => resolve({ outcome: 'no answer', ws: w }), 5000);
          w.once('open', () => resolve({ outcome: 'open', ws: w }));
          w.once('error', () => resolve({ outcome: 'refused', ws: w }));
          w.once('close', () => resolve({ outcome: 'refused', ws: w }));
        });
        const first = await stranger('127.0.0.3');
        const second = await stranger('127.0.0.3');
        const other = await stranger('127.0.0.4');
        for (const x of [first, second, other]) x.ws.terminate();
        expect([first.outcome, second.outcome, other.outcome]).toEqual(['open', 'refused', 'open']);
        // The API through HAProxy too (a direct connection is not from the trusted proxy: closed).
        const hosts = await (await fetch(`http://127.0.0.2:${front}/api/hosts`)).json() as { hosts: { name: string }[] };
        expect(hosts.hosts.map((h) => h.name)).toContain('via-haproxy');
      } finally {
        ws.terminate();
      }
    } finally {
      for (const c of children) c.kill('SIGTERM');
      await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    }
  });
});

async function until<T>(get: () => T | undefined | Promise<T | undefined>, why: () => string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(why());
    await new Promise((r) => setTimeout(r, 50));
  }
}

