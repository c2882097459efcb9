/**
 * The agent endpoint over real WebSockets and a real SQLite file: hello → welcome → report →
 * ack after commit; enrolment; and every kind of bad input closing only its own connection.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentTokens, parseViewerTokens, emptyCredentials } from '../../src/aggregator/auth.js';
import { startServer, type RunningServer } from '../../src/aggregator/server.js';
import { hello, reportOf, tempDir, TestAgent, tinySnapshot } from '../helpers/aggregator-client.js';

const T = (s: string) => `${s}-token-0123456789abcdef`;
const TOKENS = `# agents
${T('a1')} a1
${T('a2')} a2
${T('bystander')} bystander
enrol ${T('group')} 2999-01-01T00:00:00Z web-asg
enrol ${T('old')} 2000-01-01T00:00:00Z retired-asg
`;
const VIEWER = T('viewer');

describe('aggregator protocol', () => {
  const tmp = tempDir();
  const db = join(tmp.dir, 'agg.db');
  let server: RunningServer;
  let url: string;
  let bystander: TestAgent;

  beforeAll(async () => {
    const credentials = { ...emptyCredentials(), ...parseAgentTokens(TOKENS), viewers: parseViewerTokens(VIEWER) };
    server = await startServer({
      listen: '127.0.0.1:0', socket: join(tmp.dir, 'agg.sock'), db, credentials,
      maxPayload: 256 * 1024, ratePerSecond: 20, burst: 40, helloTimeoutMs: 1000,
    });
    url = `ws://127.0.0.1:${server.tcp!.port}/agent`;
    bystander = await TestAgent.connect(url, 'bystander', T('bystander'));
  });
  afterAll(async () => {
    await server?.close();
    tmp.remove();
  });

  /** The other agent is still served: its report is acknowledged. */
  async function othersStillServed(): Promise<void> {
    await bystander.report(tinySnapshot('bystander', '10.9.9.9'));
  }

  it('welcomes, then acknowledges a report only once it is in the database', async () => {
    const a = await TestAgent.open(url, 'a1');
    a.send(hello('a1', T('a1')));
    const welcome = await a.next('welcome');
    expect(welcome).toMatchObject({ host: 'a1', ackedSeq: 0, maxPayload: 256 * 1024 });
    const seq = await a.report(tinySnapshot('a1', '10.1.0.1'));
    // A second connection to the file sees the committed row the moment the ack arrived.
    const reader = new Database(db, { readonly: true });
    expect(reader.prepare('SELECT seq FROM reports WHERE host = ?').all('a1')).toEqual([{ seq }]);
    expect(reader.prepare('SELECT last_seq FROM hosts WHERE name = ?').get('a1')).toEqual({ last_seq: seq });
    reader.close();
    a.close();
    await a.closed;
    const again = await TestAgent.open(url, 'a1');
    again.send(hello('a1', T('a1')));
    expect((await again.next('welcome')).ackedSeq).toBe(seq);
    // A resend after reconnect is acknowledged again and stored once.
    again.send(reportOf(seq, tinySnapshot('a1', '10.1.0.1')));
    expect((await again.next('ack')).seq).toBe(seq);
    expect(await server.aggregator.store.reports('a1')).toHaveLength(1);
    again.close();
  });

  it('inflates each compressed message on its own: a connection keeps no zlib stream between messages, and small messages go uncompressed', async () => {
    type Deflate = { params: Record<string, unknown>; _inflate: unknown; decompress(data: Buffer, fin: boolean, cb: (err: Error | null, out?: Buffer) => void): void };
    const deflateOf = (ws: object): Deflate => (ws as { _extensions: Record<string, Deflate> })._extensions['permessage-deflate'];
    const before = new Set(server.agents.sockets);
    const a = await TestAgent.connect(url, 'a2', T('a2'));
    const [conn] = [...server.agents.sockets].filter((c) => !before.has(c));
    const deflate = deflateOf(conn);
    expect(deflate.params).toMatchObject({ client_no_context_takeover: true, server_no_context_takeover: true });
    let inflated = 0;
    const decompress = deflate.decompress.bind(deflate);
    deflate.decompress = (data, fin, cb) => {
      inflated++;
      decompress(data, fin, cb);
    };
    // Reports above the client's 1 KB threshold go compressed; each is read, and its zlib stream is gone after it.
    const big = { ...tinySnapshot('a2', '10.2.0.1'), warnings: Array.from({ length: 40 }, (_, i) => ({ source: 'ip-route', reason: 'unparsed', lineNumber: i + 1, text: `padding line ${i}` })) };
    for (let k = 0; k < 2; k++) {
      await a.report(big);
      expect(deflate._inflate).toBeNull();
    }
    expect(inflated).toBeGreaterThanOrEqual(2);
    // The welcome and the acks came uncompressed: the agent never needed an inflate stream.
    expect(deflateOf(a.ws)._inflate ?? null).toBeNull();
    a.close();
    await a.closed;
  });

  it('speaks over the unix socket too', async () => {
    const a = await TestAgent.connect(`ws+unix://${join(tmp.dir, 'agg.sock')}:/agent`, 'a2', T('a2'));
    await a.report(tinySnapshot('a2', '10.1.0.2'));
    a.close();
  });

  it('exchanges an enrolment token for a per-host token bound to name and instance', async () => {
    const a = await TestAgent.open(url, 'web-1');
    a.send(hello('web-1', T('group'), 'enrol', { instanceId: 'i-1' }));
    const issued = (await a.next('welcome')).issuedToken!;
    expect(issued.length).toBeGreaterThanOrEqual(32);
    a.close();
    const b = await TestAgent.connect(url, 'web-1', issued);
    await b.report(tinySnapshot('web-1', '10.2.0.1'));
    b.close();
    // Another instance cannot take the name with the group token.
    const thief = await TestAgent.open(url, 'web-1');
    thief.send(hello('web-1', T('group'), 'enrol', { instanceId: 'i-2' }));
    expect((await thief.closed).reason).toMatch(/^host_mismatch: host "web-1" is already enrolled/);
    // The issued token is for web-1 only.
    const other = await TestAgent.open(url, 'web-2');
    other.send(hello('web-2', issued));
    expect((await other.closed).reason).toMatch(/^host_mismatch/);
  });

  const badCases: { name: string; reason: RegExp; code: number; act: (a: TestAgent) => void | Promise<void> }[] = [
    { name: 'wrong token', reason: /^auth_failed: unknown agent token/, code: 1008, act: (a) => a.send(hello('a1', T('nobody'))) },
    { name: "another host's name", reason: /^host_mismatch: this token is not valid for host "a2"/, code: 1008, act: (a) => a.send(hello('a2', T('a1'))) },
    {
      name: 'a report about another host', reason: /^host_mismatch: the snapshot names host "a2"/, code: 1008,
      act: async (a) => { a.send(hello('a1', T('a1'))); await a.next('welcome'); a.send(reportOf(99, tinySnapshot('a2', '10.1.0.2'))); },
    },
    { name: 'expired enrolment', reason: /^enrol_expired: enrolment token "retired-asg" expired at 2000-01-01/, code: 1008, act: (a) => a.send(hello('web-9', T('old'), 'enrol')) },
    { name: 'invalid JSON', reason: /^invalid_json: /, code: 1007, act: (a) => a.send('{"type": "hello",') },
    { name: 'schema violation in hello', reason: /^schema: credential/, code: 1008, act: (a) => a.send({ ...hello('a1', T('a1')), credential: undefined }) },
    {
      name: 'schema violation in report', reason: /^schema: seq/, code: 1008,
      act: async (a) => { a.send(hello('a1', T('a1'))); await a.next('welcome'); a.send({ ...reportOf(1, tinySnapshot('a1', '10.1.0.1')), seq: -1 }); },
    },
    { name: 'report before hello', reason: /^hello_expected/, code: 1002, act: (a) => a.send(reportOf(1, tinySnapshot('a1', '10.1.0.1'))) },
    // ws answers a too-big frame itself: close code 1009 (RFC 6455 "message too big"), no reason text.
    // Before the hello the limit is the small pre-authentication one (64 KiB), after it --max-payload.
    { name: 'oversized message before hello', reason: /^$/, code: 1009, act: (a) => a.send(JSON.stringify({ type: 'hello', pad: 'x'.repeat(70 * 1024) })) },
    {
      name: 'oversized message after hello', reason: /^$/, code: 1009,
      act: async (a) => { a.send(hello('a1', T('a1'))); await a.next('welcome'); a.send(JSON.stringify({ type: 'heartbeat', at: 'x'.repeat(300 * 1024) })); },
    },
    {
      // It used to reach the store and fail there: store_failed, 1011 (a server fault).
      name: 'a snapshot nested 6,000 levels deep', reason: /^schema: nested deeper than 64 levels/, code: 1008,
      act: async (a) => {
        a.send(hello('a1', T('a1')));
        await a.next('welcome');
        a.send(JSON.stringify(reportOf(1, tinySnapshot('a1', '10.1.0.1'))).replace('"identity":{', `"identity":{"deep":${'['.repeat(6000)}${']'.repeat(6000)},`));
      },
    },
    { name: 'a message nested 6,000 levels deep', reason: /^schema: nested deeper than 64 levels/, code: 1008, act: (a) => a.send(`{"type":"hello","x":${'['.repeat(6000)}${']'.repeat(6000)}}`) },
    {
      name: 'message flood', reason: /^rate_limit: more than 20 messages\/s/, code: 1008,
      act: async (a) => { a.send(hello('a1', T('a1'))); await a.next('welcome'); for (let i = 0; i < 100; i++) a.send({ type: 'heartbeat', at: new Date().toISOString() }); },
    },
    { name: 'viewer token as agent token', reason: /^viewer_token: a viewer token is not an agent credential/, code: 1008, act: (a) => a.send(hello('a1', VIEWER)) },
    { name: 'silence instead of hello', reason: /^hello_timeout/, code: 1008, act: () => undefined },
  ];
  for (const c of badCases) {
    it(`rejects ${c.name} with its reason and keeps serving others`, async () => {
      const a = await TestAgent.open(url, 'bad');
      await c.act(a);
      const closed = await a.closed;
      expect(closed.reason).toMatch(c.reason);
      expect(closed.code).toBe(c.code);
      await othersStillServed();
    });
  }

  it('counts rejections by reason and rejects agent tokens on the API', async () => {
    const metrics = await server.aggregator.metrics.text();
    for (const r of ['auth_failed', 'host_mismatch', 'enrol_expired', 'invalid_json', 'schema', 'hello_expected', 'preauth_too_large', 'too_large', 'rate_limit', 'viewer_token', 'hello_timeout']) {
      expect(metrics).toMatch(new RegExp(`hostcheck_rejected_messages_total\\{reason="${r}"\\} [1-9]`));
    }
    const api = `http://127.0.0.1:${server.tcp!.port}/api/hosts`;
    expect((await fetch(api)).status).toBe(401);
    const asAgent = await fetch(api, { headers: { authorization: `Bearer ${T('a1')}` } });
    expect(asAgent.status).toBe(403);
    expect(await asAgent.json()).toEqual({ error: 'an agent token is not a viewer token' });
    const asViewer = await fetch(api, { headers: { authorization: `Bearer ${VIEWER}` } });
    expect(asViewer.status).toBe(200);
    expect(((await asViewer.json()) as { hosts: { name: string }[] }).hosts.map((h) => h.name)).toEqual(expect.arrayContaining(['a1', 'a2', 'bystander', 'web-1']));
    await othersStillServed();
  });
});

describe('aggregator heartbeat', () => {
  const tmp = tempDir();
  let server: RunningServer;
  let url: string;

  beforeAll(async () => {
    const credentials = { ...emptyCredentials(), ...parseAgentTokens(`${T('quiet')} quiet\n${T('live')} live\n`) };
    server = await startServer({ listen: '127.0.0.1:0', db: join(tmp.dir, 'hb.db'), credentials, heartbeatSeconds: 1 });
    url = `ws://127.0.0.1:${server.tcp!.port}/agent`;
  });
  afterAll(async () => {
    await server?.close();
    tmp.remove();
  });

  it('drops a connection that answers no ping for a whole interval, and keeps one that answers', async () => {
    const live = await TestAgent.connect(url, 'live', T('live'));
    // autoPong off: this client's WebSocket never answers the server's pings.
    const quiet = new WebSocket(url, { autoPong: false });
    const pinged = new Promise<void>((resolve) => quiet.once('ping', () => resolve()));
    const closed = new Promise<number>((resolve) => quiet.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => { quiet.once('open', () => resolve()); quiet.once('error', reject); });
    quiet.send(JSON.stringify(hello('quiet', T('quiet'))));
    await new Promise<void>((resolve) => quiet.once('message', () => resolve()));
    expect(server.agents.sockets).toHaveLength(2);
    await pinged;
    const started = Date.now();
    // Terminated, not closed with a handshake: the client sees the abnormal closure 1006.
    expect(await Promise.race([closed, new Promise<string>((r) => setTimeout(() => r('still open after 8 s'), 8000))])).toBe(1006);
    expect(Date.now() - started).toBeLessThan(5000);
    // The agent that answers its pings is still served, and the server holds it alone.
    expect((await live.report(tinySnapshot('live', '10.7.0.1')))).toBeGreaterThan(0);
    expect(server.agents.sockets).toHaveLength(1);
    live.close();
  });
});
