/**
 * A protocol peer for testing the agent — NOT the product's aggregator. A real `ws`
 * WebSocketServer (loopback TCP or a unix socket) that validates every agent message with the
 * protocol's zod schemas, welcomes, acks reports after a delay, and can drop connections, withhold
 * acks, issue enrolment tokens and push context or hostile messages on purpose.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { agentMessageSchema, PROTOCOL_VERSION, type AgentMessage, type FleetContext, type Hello, type ReportMessage } from '../../src/model/protocol.js';

export interface PeerOptions {
  /** Listen on this unix socket instead of 127.0.0.1. */
  socketPath?: string;
  ackDelayMs?: number;
  context?: FleetContext;
  heartbeatSeconds?: number;
  maxPayload?: number;
  /** Token handed to an agent that presents an enrolment credential. */
  issueToken?: string;
}

export interface Received {
  connection: number;
  message: AgentMessage;
}

export class AgentProtocolPeer {
  readonly received: Received[] = [];
  readonly invalid: string[] = [];
  /** Per connection: whether permessage-deflate was negotiated. */
  readonly deflate: boolean[] = [];
  acks = true;
  ackedSeq = 0;
  context: FleetContext;
  private readonly sockets = new Set<WebSocket>();
  private connections = 0;

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    readonly url: string,
    private readonly opts: PeerOptions,
  ) {
    this.context = opts.context ?? { peers: [], remotes: [], ports: [] };
    wss.on('connection', (ws, req) => this.onConnection(ws, String(req.headers['sec-websocket-extensions'] ?? '')));
  }

  static async start(opts: PeerOptions = {}): Promise<AgentProtocolPeer> {
    const http = createServer();
    const wss = new WebSocketServer({ server: http, perMessageDeflate: true, maxPayload: opts.maxPayload ?? 16 * 1024 * 1024 });
    await new Promise<void>((resolve) => (opts.socketPath ? http.listen(opts.socketPath, resolve) : http.listen(0, '127.0.0.1', resolve)));
    const url = opts.socketPath ? `ws+unix://${opts.socketPath}` : `ws://127.0.0.1:${(http.address() as AddressInfo).port}/agent`;
    return new AgentProtocolPeer(http, wss, url, opts);
  }

  private onConnection(ws: WebSocket, extensions: string): void {
    const connection = ++this.connections;
    this.deflate[connection] = extensions.includes('permessage-deflate');
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('message', (data) => {
      let raw: unknown;
      try {
        raw = JSON.parse(data.toString());
      } catch {
        this.invalid.push(data.toString().slice(0, 200));
        return;
      }
      const r = agentMessageSchema.safeParse(raw);
      if (!r.success) {
        this.invalid.push(JSON.stringify(r.error.issues.slice(0, 3)));
        ws.close(1008, 'invalid message');
        return;
      }
      const m = r.data;
      this.received.push({ connection, message: m });
      if (m.type === 'hello') this.welcome(ws, m);
      if (m.type === 'report' && this.acks) {
        const seq = m.seq;
        setTimeout(() => {
          if (!this.acks || ws.readyState !== ws.OPEN) return;
          this.ackedSeq = Math.max(this.ackedSeq, seq);
          ws.send(JSON.stringify({ type: 'ack', seq }));
        }, this.opts.ackDelayMs ?? 50);
      }
    });
  }

  private welcome(ws: WebSocket, hello: Hello): void {
    const issuedToken = hello.credential.kind === 'enrol' ? this.opts.issueToken : undefined;
    ws.send(JSON.stringify({ type: 'welcome', protocol: PROTOCOL_VERSION, host: hello.name, issuedToken, ackedSeq: this.ackedSeq, context: this.context, maxPayload: this.opts.maxPayload ?? 16 * 1024 * 1024, heartbeatSeconds: this.opts.heartbeatSeconds ?? 30 }));
  }

  get hellos(): Hello[] {
    return this.received.flatMap((r) => (r.message.type === 'hello' ? [r.message] : []));
  }

  get reports(): ReportMessage[] {
    return this.received.flatMap((r) => (r.message.type === 'report' ? [r.message] : []));
  }

  count(type: AgentMessage['type']): number {
    return this.received.filter((r) => r.message.type === type).length;
  }

  /** Send raw text (or an object) to every connected agent. */
  broadcast(message: unknown): void {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    for (const ws of this.sockets) ws.send(text);
  }

  setContext(context: FleetContext): void {
    this.context = context;
    this.broadcast({ type: 'context', context });
  }

  /** Drop every connection abruptly (no close frame): what a crashed server looks like. */
  dropAll(): void {
    for (const ws of this.sockets) ws.terminate();
  }

  get connectionCount(): number {
    return this.connections;
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((r) => this.wss.close(() => r()));
    await new Promise<void>((r) => this.http.close(() => r()));
  }
}

/** Poll until `predicate` returns (or resolves to) a value (or true), or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, predicate: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await predicate();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A log destination (src/agent/log.ts) that keeps the agent's log lines as objects. */
export class LogLines {
  readonly lines: Record<string, unknown>[] = [];
  write(chunk: string): boolean {
    for (const line of chunk.split('\n')) if (line) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    return true;
  }
  with(msg: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l.msg === msg);
  }
}
