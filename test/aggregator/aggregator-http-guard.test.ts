/**
 * The HTTP API's guards as a client sees them over real TCP (node:http, so Host and Origin are
 * exactly what the test writes): a Host the server does not answer to, a state-changing request
 * that is not JSON or comes from another origin, a malformed percent-encoding, a WebSocket
 * upgrade from a page. The same attacks from real Chromium: test/browser/csrf.test.ts.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/aggregator/server.js';
import { findingKey, type Finding } from '../../src/model/finding.js';
import { tempDir, TestAgent, tinySnapshot } from '../helpers/aggregator-client.js';

const tmp = tempDir();
let server: RunningServer;
let port: number;
let key: string;

function call(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  server = await startServer({ listen: '127.0.0.1:0', db: join(tmp.dir, 'guard.db'), publicNames: ['hostcheck.example.net'] });
  port = server.tcp!.port;
  const subject = 'eth0 drops 10.1.0.9';
  const finding: Finding = { check: 'rp-filter-drop', severity: 'error', host: 'h1', subject, key: findingKey('rp-filter-drop', 'h1', subject), summary: 's', evidence: [], why: 'w', fix: [] };
  key = finding.key;
  const a = await TestAgent.connect(`ws://127.0.0.1:${port}/agent`, 'h1', 'h1-token-0123456789abcdef');
  await a.report(tinySnapshot('h1', '10.1.0.1'), [finding]);
  a.close();
});
afterAll(async () => {
  await server?.close();
  tmp.remove();
});

const ack = (headers: Record<string, string>, body = JSON.stringify({ who: 'mallory', why: 'quiet' })) => call('POST', `/api/findings/${encodeURIComponent(key)}/ack`, headers, body);
const state = async () => (await server.aggregator.store.finding(key))!.state;

describe('HTTP API guards', () => {
  it('answers only to loopback names, IP addresses and --public-name (DNS rebinding)', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `10.0.0.5:${port}`, `hostcheck.example.net:${port}`, `HOSTCHECK.example.net.:${port}`, 'app.localhost']) {
      expect((await call('GET', '/api/hosts', { host })).status, host).toBe(200);
    }
    for (const host of [`evil.example:${port}`, `127.0.0.1.evil.example:${port}`, 'hostcheck.example.net.evil.example']) {
      const r = await call('GET', '/api/hosts', { host });
      expect(r.status, host).toBe(403);
      expect(JSON.parse(r.body).error).toMatch(/^this server does not answer to the name ".*": use its address or a loopback name, or give serve --public-name NAME/);
      expect((await call('GET', '/', { host })).status).toBe(403);
    }
  });

  it('refuses a state change that is not JSON or comes from another origin; its own page, and curl, still may', async () => {
    const textPlain = await ack({ 'content-type': 'text/plain' });
    expect(textPlain.status).toBe(415);
    expect(JSON.parse(textPlain.body).error).toBe('send the body as Content-Type: application/json, not text/plain');
    expect((await ack({ 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await ack({})).status).toBe(415);
    for (const origin of ['http://evil.example', `http://127.0.0.1:${port + 1}`, `https://127.0.0.1:${port}`, 'null']) {
      const r = await ack({ 'content-type': 'application/json', origin });
      expect(r.status, origin).toBe(403);
      expect(JSON.parse(r.body).error).toMatch(/may not change anything here/);
      expect((await call('DELETE', `/api/findings/${encodeURIComponent(key)}/ack`, { origin })).status, origin).toBe(403);
    }
    expect(await state()).toBe('open');
    // The dashboard's own request (same origin) and a script without Origin are served.
    expect((await ack({ 'content-type': 'application/json; charset=utf-8', origin: `http://127.0.0.1:${port}` })).status).toBe(200);
    expect(await state()).toBe('acknowledged');
    expect((await call('DELETE', `/api/findings/${encodeURIComponent(key)}/ack`, {})).status).toBe(200);
    expect((await ack({ 'content-type': 'application/json' })).status).toBe(200);
    const metrics = await server.aggregator.metrics.text();
    for (const reason of ['host', 'origin', 'content_type']) expect(metrics).toMatch(new RegExp(`hostcheck_http_refused_total\\{reason="${reason}"\\} [1-9]`));
  });

  it('answers 400 to a malformed percent-encoding in a path, not 500', async () => {
    for (const path of ['/api/hosts/%E0%A4%A', '/api/hosts/%zz', '/api/findings/%E0%A4%A/ack']) {
      const post = path.endsWith('/ack');
      const r = await call(post ? 'POST' : 'GET', path, post ? { 'content-type': 'application/json' } : {}, post ? '{}' : undefined);
      expect(r.status, `${path} ${r.body}`).toBe(400);
      expect(JSON.parse(r.body).error).toMatch(/^malformed percent-encoding in "/);
    }
    expect((await call('GET', '/%E0%A4%A')).status).toBe(400);
  });

  it('refuses a WebSocket upgrade that carries an Origin (a page), agents send none', async () => {
    const fromPage = new WebSocket(`ws://127.0.0.1:${port}/agent`, { origin: 'http://evil.example' });
    const status = await new Promise<number>((resolve) => fromPage.on('unexpected-response', (_req, res) => resolve(res.statusCode!)).on('error', () => undefined));
    expect(status).toBe(403);
    const agent = await TestAgent.connect(`ws://127.0.0.1:${port}/agent`, 'h2', 'h2-token-0123456789abcdef');
    agent.close();
  });
});
