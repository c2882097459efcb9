/**
 * A test agent speaking the protocol over a real WebSocket, plus snapshots from the lab's
 * first-incident bundles, for the aggregator tests.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { readBundle } from '../../src/collect/bundle.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import type { Finding } from '../../src/model/finding.js';
import type { Hello, ReportMessage, ServerMessage } from '../../src/model/protocol.js';
import { snapshotFromJson, type HostSnapshot } from '../../src/model/snapshot.js';
import { repoRoot } from '../helpers/samples.js';
import { RouteList } from '../../src/model/route-list.js';

export interface Closed {
  code: number;
  reason: string;
}

export class TestAgent {
  readonly messages: ServerMessage[] = [];
  readonly closed: Promise<Closed>;
  private waiters: (() => void)[] = [];
  private seq = 0;

  private constructor(readonly ws: WebSocket, readonly name: string) {
    ws.on('message', (d) => {
      this.messages.push(JSON.parse(d.toString()) as ServerMessage);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => undefined);
  }

  static async open(url: string, name: string): Promise<TestAgent> {
    const ws = new WebSocket(url, { perMessageDeflate: true });
    const agent = new TestAgent(ws, name);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return agent;
  }

  /** Open, say hello with a token, wait for the welcome. */
  static async connect(url: string, name: string, token: string, kind: 'token' | 'enrol' = 'token', extra: Partial<Hello['identity']> = {}): Promise<TestAgent> {
    const a = await TestAgent.open(url, name);
    a.send(hello(name, token, kind, extra));
    await a.next('welcome');
    return a;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The first message of a type not yet taken (waits up to `ms`). */
  async next<T extends ServerMessage['type']>(type: T, ms = 5000): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.messages.findIndex((m) => m.type === type);
      if (i >= 0) return this.messages.splice(i, 1)[0] as Extract<ServerMessage, { type: T }>;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no ${type} within ${ms} ms (have ${this.messages.map((m) => m.type).join(',')})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Send a report and wait for its ack. */
  async report(snapshot: HostSnapshot, findings: Finding[] = []): Promise<number> {
    const seq = ++this.seq;
    this.send(reportOf(seq, snapshot, findings));
    for (;;) {
      const ack = await this.next('ack');
      if (ack.seq === seq) return seq;
    }
  }

  close(): void {
    this.ws.close();
  }
}

export function hello(name: string, token: string, kind: 'token' | 'enrol' = 'token', extra: Partial<Hello['identity']> = {}): Hello {
  return { type: 'hello', protocol: 1, agentVersion: 'test', name, identity: { hostname: name, ...extra }, credential: { kind, token }, lastSeq: 0 };
}

export function reportOf(seq: number, snapshot: HostSnapshot, findings: Finding[] = []): ReportMessage {
  const text = JSON.stringify(snapshot);
  return {
    type: 'report', seq, sentAt: new Date().toISOString(), digest: createHash('sha256').update(text).digest('hex'),
    snapshot: JSON.parse(text) as ReportMessage['snapshot'], findings, complete: snapshot.complete,
  };
}

const cache = new Map<string, HostSnapshot>();

/** A lab-captured snapshot: fixtures/scenarios/<scenario>/<host>. */
export async function scenarioSnapshot(scenario: string, host: string): Promise<HostSnapshot> {
  const k = `${scenario}/${host}`;
  if (!cache.has(k)) cache.set(k, buildSnapshot(await readBundle(join(repoRoot, 'fixtures', 'scenarios', scenario, host))));
  // A deep copy the test may change (JSON keeps the routes; structuredClone would drop RouteList's class).
  return snapshotFromJson(JSON.parse(JSON.stringify(cache.get(k)!)));
}

/** A small made-up snapshot: one uplink with one address. */
export function tinySnapshot(name: string, address: string): HostSnapshot {
  const origin = { lineNumber: 1, text: '', source: 'ip-addr' };
  return {
    schemaVersion: 1, identity: { name, hostname: name }, collectedAt: new Date().toISOString(),
    interfaces: [{ name: 'eth0', kind: 'ethernet', flags: ['UP'], noCarrier: false, uplink: true, origin,
      addresses: [{ ifname: 'eth0', family: 4, cidr: `${address}/24`, scope: 'global', flags: [], origin }] }],
    routes: RouteList.fromRecords([]), rules: [], netfilter: { v4: [], v6: [], notices: [] }, nft: [], ipsets: [], xfrmPolicies: [], sysctls: [],
    docker: { networks: [] }, sources: [], complete: true, warnings: [],
  };
}

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'hostcheck-agg-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
