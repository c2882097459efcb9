/**
 * The agent endpoint: a ws WebSocketServer (permessage-deflate, bounded payload) attached to the
 * HTTP servers' upgrade. Every message is rate-limited, parsed and schema-checked; the first
 * must be a hello with a valid credential. A bad message closes its connection with a reason
 * (sent as an error message and as the close reason) and is counted; others are unaffected.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { agentMessageSchema, PROTOCOL_VERSION, type Hello, type ServerMessage } from '../model/protocol.js';
import { formatZodErrors } from '../model/zod-errors.js';
import { ReportRejectedError, type Aggregator, type AgentLink } from './aggregator.js';

export interface WsOptions {
  maxPayload?: number;
  /** Messages per second a connection may send on average, and the burst above it. */
  ratePerSecond?: number;
  burst?: number;
  helloTimeoutMs?: number;
  heartbeatSeconds?: number;
}

/** Close codes per reason: 1007 bad data, 1002 protocol order, 1011 server fault, else 1008 policy. */
const CLOSE_CODES: Record<string, number> = {
  invalid_json: 1007, hello_expected: 1002, duplicate_hello: 1002, protocol_version: 1002, store_failed: 1011, replaced: 1000,
};

/** A token bucket: `rate` per second on average, `burst` at once. */
class RateLimit {
  private tokens: number;
  private at = performance.now();
  constructor(private readonly rate: number, private readonly burst: number) {
    this.tokens = burst;
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class AgentServer {
  readonly wss: WebSocketServer;
  readonly maxPayload: number;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly agg: Aggregator, private readonly options: WsOptions = {}) {
    this.maxPayload = options.maxPayload ?? 16 * 1024 * 1024;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.maxPayload,
      // Snapshots are repetitive JSON: compress them, but keep per-connection zlib memory small.
      perMessageDeflate: { threshold: 1024, zlibDeflateOptions: { memLevel: 7 }, serverMaxWindowBits: 12, concurrencyLimit: 4 },
    });
    this.wss.on('connection', (ws: WebSocket, req: IncomingMessage) => this.onConnection(ws, req));
    const seconds = options.heartbeatSeconds ?? 30;
    // Drop connections that answered no ping for a whole interval.
    this.heartbeat = setInterval(() => {
      for (const ws of this.wss.clients) {
        const w = ws as WebSocket & { alive?: boolean };
        if (w.alive === false) { w.terminate(); continue; }
        w.alive = false;
        w.ping();
      }
    }, seconds * 1000);
    this.heartbeat.unref();
  }

  /** Take WebSocket upgrades of an HTTP server (any path outside /api). */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url?.startsWith('/api')) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
    });
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }

  private onConnection(ws: WebSocket, _req: IncomingMessage): void {
    const limit = new RateLimit(this.options.ratePerSecond ?? 20, this.options.burst ?? 40);
    let hello: Hello | undefined;
    let closed = false;
    (ws as WebSocket & { alive?: boolean }).alive = true;
    ws.on('pong', () => { (ws as WebSocket & { alive?: boolean }).alive = true; });
    const send = (msg: ServerMessage): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    };
    const reject = (reason: string, detail: string): void => {
      if (closed) return;
      closed = true;
      this.agg.metrics.rejected.inc({ reason });
      send({ type: 'error', reason: `${reason}: ${detail}`.slice(0, 1024) });
      ws.close(CLOSE_CODES[reason] ?? 1008, truncateReason(`${reason}: ${detail}`));
      setTimeout(() => ws.terminate(), 2000).unref();
    };
    const link: AgentLink = {
      send,
      close: (reason, detail) => {
        if (closed) return;
        closed = true;
        send({ type: 'error', reason: `${reason}: ${detail}` });
        ws.close(CLOSE_CODES[reason] ?? 1008, truncateReason(`${reason}: ${detail}`));
      },
    };
    const helloTimer = setTimeout(() => reject('hello_timeout', 'no hello within the time allowed'), this.options.helloTimeoutMs ?? 10_000);
    helloTimer.unref();
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the socket itself (1009 for too large, 1007 for bad UTF-8); count why.
      if (closed) return;
      closed = true;
      const reason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'too_large' : 'bad_frame';
      this.agg.metrics.rejected.inc({ reason });
    });
    ws.on('close', () => {
      closed = true;
      clearTimeout(helloTimer);
      if (hello) this.agg.detach(hello.name, link);
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (closed) return;
      (ws as WebSocket & { alive?: boolean }).alive = true;
      if (!limit.take()) return reject('rate_limit', `more than ${this.options.ratePerSecond ?? 20} messages/s`);
      const bytes = rawLength(data);
      let raw: unknown;
      try {
        if (isBinary) throw new Error('binary frames are not accepted');
        raw = JSON.parse(rawText(data));
      } catch (err) {
        return reject('invalid_json', (err as Error).message.slice(0, 200));
      }
      const parsed = agentMessageSchema.safeParse(raw);
      if (!parsed.success) return reject('schema', formatZodErrors(parsed.error).slice(0, 3).join('; '));
      const msg = parsed.data;
      if (!hello) {
        if (msg.type !== 'hello') return reject('hello_expected', `the first message must be a hello, not ${msg.type}`);
        if (msg.protocol !== PROTOCOL_VERSION) return reject('protocol_version', `protocol ${msg.protocol} is not supported (server speaks ${PROTOCOL_VERSION})`);
        const auth = this.agg.authenticate(msg);
        if (!auth.ok) return reject(auth.reason, auth.detail);
        clearTimeout(helloTimer);
        hello = msg;
        this.agg.attach(msg.name, link);
        send({
          type: 'welcome', protocol: PROTOCOL_VERSION, host: msg.name, ...(auth.issuedToken ? { issuedToken: auth.issuedToken } : {}),
          ackedSeq: this.agg.welcomeSeq(msg.name), context: this.agg.contextFor(msg.name), maxPayload: this.maxPayload,
          heartbeatSeconds: this.options.heartbeatSeconds ?? 30,
        });
        return;
      }
      if (msg.type === 'hello') return reject('duplicate_hello', 'hello was already received on this connection');
      if (msg.type === 'heartbeat') {
        this.agg.seen(hello.name);
        send({ type: 'heartbeat', at: new Date().toISOString() });
        return;
      }
      const seq = msg.seq;
      try {
        // The ack goes out once the report's transaction has committed.
        this.agg.submit(hello, msg, bytes, (err) => (err ? reject('store_failed', err.message.slice(0, 200)) : send({ type: 'ack', seq })));
      } catch (err) {
        if (err instanceof ReportRejectedError) return reject(err.reason, err.message);
        return reject('store_failed', (err as Error).message.slice(0, 200));
      }
    });
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as Buffer).toString('utf8');
}

function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return (data as Buffer).byteLength;
}

/** Close reasons are limited to 123 bytes of UTF-8. */
function truncateReason(s: string): string {
  let out = s;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}
