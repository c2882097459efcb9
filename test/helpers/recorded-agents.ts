/**
 * Replays a recording of real agents' messages (fixtures/protocol/vN/messages.jsonl, written by
 * scripts/record-protocol.ts) to a server over real WebSockets: one connection per recorded
 * connection, the agent's messages in the recorded order; a hello waits for its welcome, a report
 * for its ack, a heartbeat for the server's (or the error that refuses it). What the server answered is kept for the test.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import type { ServerMessage } from '../../src/model/server-messages.js';

export interface RecordedLine {
  conn: number;
  host?: string;
  from: 'agent' | 'server';
  message: { type: string; seq?: number; [k: string]: unknown };
}

export function readRecording(file: string): RecordedLine[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as RecordedLine);
}

export interface ReplayedConnection {
  host: string;
  received: ServerMessage[];
  heartbeats: number;
  closed?: { code: number; reason: string };
}

export class Replay {
  readonly connections = new Map<number, ReplayedConnection>();
  private readonly sockets = new Map<number, WebSocket>();

  private constructor(private readonly url: string) {}

  /** Replay `lines` to `url`; the connections stay open until close(). */
  static async run(url: string, lines: RecordedLine[], timeoutMs = 15_000): Promise<Replay> {
    const r = new Replay(url);
    for (const line of lines) if (line.from === 'agent') await r.send(line, timeoutMs);
    return r;
  }

  private async send(line: RecordedLine, timeoutMs: number): Promise<void> {
    const m = line.message;
    if (m.type === 'hello') {
      const ws = new WebSocket(this.url);
      const c: ReplayedConnection = { host: String(m.name), received: [], heartbeats: 0 };
      this.connections.set(line.conn, c);
      this.sockets.set(line.conn, ws);
      ws.on('message', (d) => c.received.push(JSON.parse(d.toString()) as ServerMessage));
      ws.on('close', (code, reason) => (c.closed = { code, reason: reason.toString() }));
      ws.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
      ws.send(JSON.stringify(m));
      await this.answer(line.conn, (s) => s.type === 'welcome', 'welcome', timeoutMs);
      return;
    }
    const ws = this.sockets.get(line.conn);
    if (!ws) throw new Error(`connection ${line.conn}: a ${m.type} before its hello`);
    ws.send(JSON.stringify(m));
    if (m.type === 'heartbeat') {
      const n = ++this.connections.get(line.conn)!.heartbeats;
      await this.answer(line.conn, () => this.connections.get(line.conn)!.received.filter((s) => s.type === 'heartbeat').length >= n, `heartbeat answer ${n}`, timeoutMs);
    }
    if (m.type === 'report') await this.answer(line.conn, (s) => s.type === 'ack' && s.seq === m.seq, `ack ${m.seq}`, timeoutMs);
  }

  /** Wait for a server message; an error message or a close fails the replay with what the server said. */
  private async answer(conn: number, f: (m: ServerMessage) => boolean, what: string, timeoutMs: number): Promise<void> {
    const c = this.connections.get(conn)!;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (c.received.some(f)) return;
      const err = c.received.find((m) => m.type === 'error');
      if (err || c.closed) throw new Error(`${c.host}: no ${what}: ${JSON.stringify(err ?? c.closed)}`);
      if (Date.now() > deadline) throw new Error(`${c.host}: no ${what} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  of(type: ServerMessage['type']): { host: string; message: ServerMessage }[] {
    return [...this.connections.values()].flatMap((c) => c.received.filter((m) => m.type === type).map((message) => ({ host: c.host, message })));
  }

  async close(): Promise<void> {
    await Promise.all([...this.sockets.values()].map((ws) => new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve();
      ws.once('close', () => resolve());
      ws.close(1000);
    })));
  }
}
