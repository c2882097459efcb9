/**
 * The agent endpoint: a ws WebSocketServer (permessage-deflate) attached to the HTTP servers'
 * upgrade. Until a hello is accepted a connection is a stranger: few of them are let in (per
 * server and per source address) and each may send only a small message (preAuthMaxPayload);
 * after it, messages up to maxPayload. Every message is rate-limited, depth-checked, parsed and
 * schema-checked; the first must be a hello with a valid credential. A bad message closes its
 * connection with a reason (sent as an error message and as the close reason) and is counted;
 * others are unaffected.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { jsonTooDeep } from '../model/json-depth.js';
import { agentMessageSchema, SUPPORTED_PROTOCOLS, type AcceptedHello, type ServerMessage } from '../model/protocol.js';
import { formatZodErrors } from '../model/zod-errors.js';
import type { Aggregator, AgentLink } from './aggregator.js';
import { ReportRejectedError } from './errors.js';
import { SectionUploads } from './section-uploads.js';
import { raiseMessageLimit } from './ws-limits.js';
import { compactDeflateParams, dropInflate } from '../net/ws-deflate.js';

export interface WsOptions {
  maxPayload?: number;
  /** Largest message before the hello is accepted (default 64 KiB). */
  preAuthMaxPayload?: number;
  /** Connections without an accepted hello the server holds at once (default 256). */
  maxUnauthenticated?: number;
  /** The same per source address (default 16; the unix socket counts only against the server's). */
  maxUnauthenticatedPerAddress?: number;
  /** Connections per second a source address may lose before their hello is accepted, on average (default 5, bursts of 20). */
  preAuthRate?: number;
  /** Proxies whose X-Forwarded-For names the agent's address (`serve --trusted-proxy`). */
  trustedProxies?: string[];
  /** Characters of sections a connection may have in progress (default 64 Mi). */
  maxSectionChars?: number;
  /** Messages per second a connection may send on average, and the burst above it. */
  ratePerSecond?: number;
  burst?: number;
  helloTimeoutMs?: number;
  heartbeatSeconds?: number;
}

export const DEFAULT_PREAUTH_MAX_PAYLOAD = 64 * 1024;

/** Close codes per reason: 1007 bad data, 1002 protocol order, 1011 server fault, 1009 too big, else 1008 policy. */
const CLOSE_CODES: Record<string, number> = {
  invalid_json: 1007, hello_expected: 1002, duplicate_hello: 1002, protocol_version: 1002, store_failed: 1011, internal: 1011, replaced: 1000,
  section_too_large: 1009,
};

/** A token bucket: `rate` per second on average, `burst` at once. */
class RateLimit {
  private tokens: number;
  private at = performance.now();
  constructor(private readonly rate: number, private readonly burst: number) {
    this.tokens = burst;
  }
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  /** Take one even when none is left (a debt, down to −burst). */
  spend(): void {
    this.refill();
    this.tokens = Math.max(-this.burst, this.tokens - 1);
  }
  empty(): boolean {
    this.refill();
    return this.tokens < 1;
  }
  /** True when nothing was taken lately: the bucket is as good as new. */
  full(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }
  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
  }
}

/**
 * Connections without an accepted hello, counted per server and per source address; and the
 * ones an address lost before their hello was accepted (cut, refused, silent), per second: each
 * cost a WebSocket handshake, and a client that comes back the moment it is cut must not make
 * the server do a thousand a second. Agents whose hellos are accepted are not counted.
 */
class Strangers {
  total = 0;
  private readonly byAddress = new Map<string, number>();
  private readonly rates = new Map<string, RateLimit>();
  private sweep = 0;

  constructor(private readonly max: number, private readonly perAddress: number, private readonly rate: number) {}

  /** Let one in; false when the server or the address has its fill, or the address came too often. */
  admit(address: string | undefined): boolean {
    if (this.total >= this.max) return false;
    if (address !== undefined && (this.byAddress.get(address) ?? 0) >= this.perAddress) return false;
    if (address !== undefined) {
      // Buckets of addresses that stopped coming are dropped now and then (a full bucket is a fresh one).
      if (++this.sweep % 4096 === 0) for (const [a, r] of this.rates) if (r.full()) this.rates.delete(a);
      if (this.rates.get(address)?.empty() === true) return false;
    }
    this.total++;
    if (address !== undefined) this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
    return true;
  }

  /** True while an address has lost more strangers than its rate allows (its new connections are dropped at once). */
  shut(address: string): boolean {
    return this.rates.get(address)?.empty() === true;
  }

  /** Once per admitted connection: its hello was accepted (`welcomed`) or it closed before. */
  leave(address: string | undefined, welcomed: boolean): void {
    this.total--;
    if (address === undefined) return;
    if (!welcomed) {
      let r = this.rates.get(address);
      if (!r) this.rates.set(address, (r = new RateLimit(this.rate, this.rate * 4)));
      r.spend();
    }
    const n = (this.byAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.byAddress.delete(address);
    else this.byAddress.set(address, n);
  }
}

/** The agent's address: the TCP peer, or behind a trusted proxy the last address it forwarded; undefined for the unix socket. */
export function sourceAddress(req: IncomingMessage, trusted: ReadonlySet<string>): string | undefined {
  const peer = req.socket.remoteAddress;
  if (peer === undefined) return undefined;
  const plain = peer.startsWith('::ffff:') ? peer.slice(7) : peer;
  if (!trusted.has(plain)) return plain;
  const forwarded = String(req.headers['x-forwarded-for'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return forwarded.at(-1) ?? plain;
}

export class AgentServer {
  readonly wss: WebSocketServer;
  readonly maxPayload: number;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly strangers: Strangers;
  private readonly trusted: ReadonlySet<string>;
  /** What every connection reads (the aggregator, the options, the section uploads' settings) and the open connections. */
  private readonly shared: Shared;

  constructor(private readonly agg: Aggregator, private readonly options: WsOptions = {}) {
    this.maxPayload = options.maxPayload ?? 16 * 1024 * 1024;
    this.strangers = new Strangers(options.maxUnauthenticated ?? 256, options.maxUnauthenticatedPerAddress ?? 16, options.preAuthRate ?? 5);
    this.trusted = new Set(options.trustedProxies ?? []);
    const uploadOptions: Shared['uploadOptions'] = {
      maxChars: options.maxSectionChars ?? 64 * 1024 * 1024, limits: agg.limits, store: agg.store, now: () => new Date().toISOString(),
      received: (kind, chars) => (agg.metrics.sections.inc({ kind }), agg.metrics.sectionChars.inc(chars)),
    };
    this.shared = { agg, options, maxPayload: this.maxPayload, uploadOptions, connections: new Set(), leave: (address, welcomed) => this.leaveStrangers(address, welcomed) };
    this.wss = new WebSocketServer({
      noServer: true,
      // The connections are tracked here (shared.connections), once.
      clientTracking: false,
      // Until a hello is accepted only a small message is read (or inflated); raised per connection after it.
      maxPayload: Math.min(this.maxPayload, options.preAuthMaxPayload ?? DEFAULT_PREAUTH_MAX_PAYLOAD),
      // Snapshots are repetitive JSON: agents compress their reports. Each message is compressed on its own (no context
      // takeover either way), so a connection needs no zlib state between messages: with context takeover ws compressed every
      // message whatever its size, and each connection kept an inflate and a deflate stream (4,000 idle agents over two
      // replicas cost 153 KB each). The server compresses only what is above 64 KiB (its acks, welcomes and contexts are
      // small); the inflate stream of an agent's message is dropped once the message is read (dropInflate).
      // Frozen: ws copies these per connection (`{...options, isServer, maxPayload}`), and V8 gives each copy
      // of an unfrozen literal a hidden class of its own (about 290 bytes more per connection, measured).
      perMessageDeflate: Object.freeze({
        threshold: 64 * 1024, serverNoContextTakeover: true, clientNoContextTakeover: true,
        zlibDeflateOptions: { memLevel: 7 }, serverMaxWindowBits: 12, concurrencyLimit: 4,
      }),
    });
    const seconds = options.heartbeatSeconds ?? 30;
    // Drop connections that answered no ping for a whole interval.
    this.heartbeat = setInterval(() => {
      for (const c of this.shared.connections) {
        if (!c.alive) { c.ws.terminate(); continue; }
        c.alive = false;
        c.ws.ping();
      }
    }, seconds * 1000);
    this.heartbeat.unref();
  }

  /** Take WebSocket upgrades of an HTTP server (any path outside /api). */
  attach(server: Server): void {
    // An address over its rate of lost strangers is dropped on accept, before any HTTP is read:
    // refusing a flood with 503s still costs a request parse each.
    server.on('connection', (socket: Duplex & { remoteAddress?: string }) => {
      const peer = socket.remoteAddress?.replace(/^::ffff:/, '');
      if (peer !== undefined && !this.trusted.has(peer) && this.strangers.shut(peer)) {
        this.agg.metrics.rejected.inc({ reason: 'preauth_limit' });
        socket.destroy();
      }
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url?.startsWith('/api')) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      // Agents send no Origin; a browser always does: no page may open an agent connection.
      if (req.headers.origin !== undefined) {
        this.agg.metrics.rejected.inc({ reason: 'browser_origin' });
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const address = sourceAddress(req, this.trusted);
      const admitted = this.strangers.admit(address);
      this.agg.metrics.unauthenticated.set(this.strangers.total);
      if (!admitted) {
        this.agg.metrics.rejected.inc({ reason: 'preauth_limit' });
        socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 10\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      // Counted until the hello is accepted or the socket closes, whichever comes first: until the
      // upgrade completes this listener leaves, then the connection (one listener less per agent).
      const closed = (): void => this.leaveStrangers(address, false);
      socket.once('close', closed);
      // No closure kept after the upgrade holds `req` (headers and all).
      const described = describeAddress(req, address);
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        socket.off('close', closed);
        new AgentConnection(this.shared, ws, described, address);
      });
    });
  }

  private leaveStrangers(address: string | undefined, welcomed: boolean): void {
    this.strangers.leave(address, welcomed);
    this.agg.metrics.unauthenticated.set(this.strangers.total);
  }

  /** The open agent connections' WebSockets. */
  get sockets(): WebSocket[] {
    return [...this.shared.connections].map((c) => c.ws);
  }

  /** Connections without an accepted hello right now. */
  get unauthenticated(): number {
    return this.strangers.total;
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.shared.connections) c.ws.terminate();
    this.wss.close();
  }
}

/** What every connection of one AgentServer reads: one object, not a copy or a closure per connection. */
interface Shared {
  readonly agg: Aggregator;
  readonly options: WsOptions;
  readonly maxPayload: number;
  /** What every connection's section uploads share. */
  readonly uploadOptions: ConstructorParameters<typeof SectionUploads>[0];
  /** The open connections (the heartbeat pings them). */
  readonly connections: Set<AgentConnection>;
  /** A connection counted as a stranger (from `address`) stops counting: its hello was accepted (`welcomed`), or it closed before. */
  readonly leave: (address: string | undefined, welcomed: boolean) => void;
}

/**
 * One agent's connection: its state in fields and its handling in methods. An idle agent's
 * connection is held for hours by the thousand: as closures (one per handler, each with the
 * contexts it captured) it cost about 1 KB more each than these few fields.
 */
class AgentConnection implements AgentLink {
  /** Answered the last ping, or sent something since (the heartbeat drops a connection that did neither). */
  alive = true;
  private hello: AcceptedHello | undefined;
  private uploads: SectionUploads | undefined;
  private closed = false;
  /** Counted among the strangers (no hello accepted yet). */
  private stranger = true;
  private helloTimer: NodeJS.Timeout | undefined;
  // Messages are handled one after another (a hello's credential check and a report's sections
  // may wait for the store); the rate limit counts them as they arrive.
  private queue = Promise.resolve();
  private readonly limit: RateLimit;

  /** `address`: as messages name the connection; `source`: the address the stranger limits count it under. */
  constructor(private readonly shared: Shared, readonly ws: WebSocket, readonly address: string, private readonly source: string | undefined) {
    this.limit = new RateLimit(shared.options.ratePerSecond ?? 20, shared.options.burst ?? 40);
    shared.connections.add(this);
    compactDeflateParams(ws);
    this.helloTimer = setTimeout(() => this.reject('hello_timeout', 'no hello within the time allowed'), shared.options.helloTimeoutMs ?? 10_000);
    this.helloTimer.unref();
    ws.on('pong', () => { this.alive = true; });
    ws.on('error', (err: Error & { code?: string }) => this.failed(err));
    ws.on('close', () => this.ended());
    ws.on('message', (data: RawData, isBinary: boolean) => this.received(data, isBinary));
  }

  send(msg: ServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** AgentLink's: the aggregator ends this connection (replaced by a newer one of the same host). */
  close(reason: string, detail: string): void {
    if (this.closed) return;
    this.closed = true;
    this.send({ type: 'error', reason: `${reason}: ${detail}` });
    this.ws.close(CLOSE_CODES[reason] ?? 1008, truncateReason(`${reason}: ${detail}`));
  }

  private reject(reason: string, detail: string): void {
    if (this.closed) return;
    this.closed = true;
    this.shared.agg.metrics.rejected.inc({ reason });
    this.send({ type: 'error', reason: `${reason}: ${detail}`.slice(0, 1024) });
    this.ws.close(CLOSE_CODES[reason] ?? 1008, truncateReason(`${reason}: ${detail}`));
    const ws = this.ws;
    setTimeout(() => ws.terminate(), 2000).unref();
  }

  private failed(err: Error & { code?: string }): void {
    // ws closes the socket itself (1009 for too large, 1007 for bad UTF-8); count why.
    if (this.closed) return;
    this.closed = true;
    const reason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? (this.hello ? 'too_large' : 'preauth_too_large') : 'bad_frame';
    this.shared.agg.metrics.rejected.inc({ reason });
    // A stranger gets no closing handshake: ws would read (and drop) what it keeps sending meanwhile.
    if (!this.hello) this.ws.terminate();
  }

  private leave(welcomed: boolean): void {
    if (!this.stranger) return;
    this.stranger = false;
    this.shared.leave(this.source, welcomed);
  }

  private ended(): void {
    this.closed = true;
    this.shared.connections.delete(this);
    clearTimeout(this.helloTimer);
    this.leave(false);
    if (this.hello) this.shared.agg.detach(this.hello.name, this);
  }

  private received(data: RawData, isBinary: boolean): void {
    dropInflate(this.ws, 'client_no_context_takeover');
    if (this.closed) return;
    this.alive = true;
    if (!this.limit.take()) return this.reject('rate_limit', `more than ${this.shared.options.ratePerSecond ?? 20} messages/s`);
    this.queue = this.queue.then(() => this.handle(data, isBinary)).catch((err: Error) => this.reject('internal', err.message.slice(0, 200)));
  }

  private async handle(data: RawData, isBinary: boolean): Promise<void> {
    if (this.closed) return;
    const { agg, options } = this.shared;
    const bytes = rawLength(data);
    let raw: unknown;
    try {
      if (isBinary) throw new Error('binary frames are not accepted');
      const text = rawText(data);
      // Nesting is refused as data before anything recursive (parse, schema, store) sees it.
      const deep = jsonTooDeep(text, agg.limits.maxDepth);
      if (deep) return this.reject('schema', `nested deeper than ${agg.limits.maxDepth} levels (at character ${deep.offset})`);
      raw = JSON.parse(text);
    } catch (err) {
      return this.reject('invalid_json', (err as Error).message.slice(0, 200));
    }
    const parsed = agentMessageSchema.safeParse(raw);
    if (!parsed.success) return this.reject('schema', formatZodErrors(parsed.error).slice(0, 3).join('; '));
    const msg = parsed.data;
    const hello = this.hello;
    if (!hello) {
      if (msg.type !== 'hello') return this.reject('hello_expected', `the first message must be a hello, not ${msg.type}`);
      if (!SUPPORTED_PROTOCOLS.includes(msg.protocol)) return this.reject('protocol_version', `protocol ${msg.protocol} is not supported (server speaks ${SUPPORTED_PROTOCOLS.join(' and ')})`);
      const auth = await agg.authenticate(msg);
      if (this.closed) return;
      if (!auth.ok) return this.reject(auth.reason, auth.detail);
      try {
        raiseMessageLimit(this.ws, this.shared.maxPayload);
      } catch (err) {
        return this.reject('internal', (err as Error).message);
      }
      const attached = agg.attach(msg.name, this);
      if (!attached.ok) return this.reject('duplicate_name', attached.detail);
      clearTimeout(this.helloTimer);
      this.helloTimer = undefined;
      const { credential: _, ...accepted } = msg;
      this.hello = accepted;
      this.leave(true);
      const ackedSeq = await agg.welcomeSeq(msg.name);
      const sections = msg.protocol >= 2 ? await agg.welcomeSections(msg.name) : undefined;
      this.send({
        type: 'welcome', protocol: msg.protocol, host: msg.name, ...(auth.issuedToken ? { issuedToken: auth.issuedToken } : {}),
        ackedSeq, context: agg.contextFor(msg.name), maxPayload: this.shared.maxPayload,
        heartbeatSeconds: options.heartbeatSeconds ?? 30, ...(sections ? { sections } : {}),
      });
      return;
    }
    if (msg.type === 'hello') return this.reject('duplicate_hello', 'hello was already received on this connection');
    if (msg.type === 'heartbeat') {
      agg.seen(hello.name);
      this.send({ type: 'heartbeat', at: new Date().toISOString() });
      return;
    }
    if (msg.type === 'section') {
      if (hello.protocol < 2) return this.reject('protocol_version', 'sections need protocol 2');
      // Made at the connection's first section: most connections upload none for hours.
      this.uploads ??= new SectionUploads(this.shared.uploadOptions);
      try {
        await this.uploads.add(msg);
      } catch (err) {
        if (err instanceof ReportRejectedError) return this.reject(err.reason, err.message);
        return this.reject('store_failed', (err as Error).message.slice(0, 200));
      }
      return;
    }
    if (msg.sections && hello.protocol < 2) return this.reject('protocol_version', 'sections need protocol 2');
    if (msg.changes && hello.protocol < 3) return this.reject('protocol_version', 'a change log needs protocol 3');
    const seq = msg.seq;
    try {
      // The ack goes out once the report's transaction has committed.
      await agg.submit(hello, msg, bytes, (err) => (err ? this.reject('store_failed', err.message.slice(0, 200)) : this.send({ type: 'ack', seq })), this.uploads);
    } catch (err) {
      if (err instanceof ReportRejectedError) return this.reject(err.reason, err.message);
      return this.reject('store_failed', (err as Error).message.slice(0, 200));
    }
  }
}

/** How logs and the fleet name a connection: `peer:port`, or the agent's own address and the proxy it came through. */
function describeAddress(req: IncomingMessage, source: string | undefined): string {
  const peer = req.socket.remoteAddress?.replace(/^::ffff:/, '');
  return peer === undefined ? 'the unix socket' : source === peer ? `${peer}:${req.socket.remotePort}` : `${source} (via ${peer})`;
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
