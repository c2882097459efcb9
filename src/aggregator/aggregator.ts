/**
 * The aggregator's core: authenticates hellos, validates and commits reports, keeps the fleet
 * index and fleet findings current, marks silent hosts stale, and decides which agents get new
 * context. Sockets live in ws-server.ts and http/; the clock is passed in. Pair verdicts
 * (pairs.ts) and the HTTP API (http/) read it; it imports neither.
 */
import { EventEmitter } from 'node:events';
import { findingKey } from '../model/finding.js';
import type { FleetContext, Hello, ReportMessage, ServerMessage } from '../model/protocol.js';
import { snapshotFromJson, type HostSnapshot } from '../model/snapshot.js';
import { redactLine, redactSnapshotTexts } from '../collect/redact.js';
import type { Topology } from '../model/topology.js';
import type { FleetFinding } from '../checks/fleet/types.js';
import { Authenticator, type AgentAuth, type Credentials } from './auth.js';
import { FleetIndex } from './fleet-index.js';
import { FleetMatcher, type FleetDiff } from './fleet-match.js';
import type { AggregatorMetrics } from './metrics.js';
import { CommitQueue, type Committed } from './commit-queue.js';
import type { CommitInput, Store } from './store.js';

/** What the aggregator emits on its `change` event (streamed to the dashboard as GET /api/events). */
export type FleetEvent =
  | { type: 'report'; host: string; seq: number; findings: number; found: string[]; resolved: string[] }
  | { type: 'stale'; hosts: string[] }
  | { type: 'connection'; host: string; connected: boolean }
  | { type: 'topology'; found: string[]; resolved: string[] };

/** A validated, matched report waiting for its commit, and what follows the commit. */
interface PreparedReport {
  input: CommitInput;
  event: Extract<FleetEvent, { type: 'report' }>;
  /** Agents whose context changed. */
  context: Set<string>;
}

/** A report the server will not store; its connection is closed with this reason. */
export class ReportRejectedError extends Error {
  override name = 'ReportRejectedError';
  constructor(readonly reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Where the aggregator sends messages to a connected agent. */
export interface AgentLink {
  send(msg: ServerMessage): void;
  close(reason: string, detail: string): void;
}

export interface AggregatorOptions {
  store: Store;
  credentials: Credentials;
  metrics: AggregatorMetrics;
  /** Hosts silent for longer are marked stale. */
  staleSeconds?: number;
  /** Up to this many hosts every agent gets every peer; above, only the peers its routes cover. */
  contextPeersLimit?: number;
  /** Delay that batches context pushes. */
  contextDelayMs?: number;
  ports?: string[];
  /** The cloud topology file (`serve --topology`): fleet checks and /api/path see its cloud nodes. */
  topology?: Topology;
  now?: () => number;
}

export class Aggregator {
  readonly store: Store;
  readonly auth: Authenticator;
  readonly index = new FleetIndex();
  readonly matcher = new FleetMatcher(this.index);
  readonly metrics: AggregatorMetrics;
  readonly staleSeconds: number;
  /** The cloud topology (`serve --topology`); setTopology replaces it. */
  topology: Topology | undefined;
  /** `change` events (FleetEvent) for the dashboard's live stream, after each commit. */
  readonly events = new EventEmitter().setMaxListeners(0);
  private readonly links = new Map<string, AgentLink>();
  private readonly lastSeen = new Map<string, string>();
  private readonly pendingContext = new Set<string>();
  private contextTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly commits = new CommitQueue<PreparedReport>({
    commit: (batch) => this.store.commitReports(batch.map((p) => p.input)),
    committed: (p) => this.afterCommit(p),
  });

  constructor(private readonly options: AggregatorOptions) {
    this.store = options.store;
    this.metrics = options.metrics;
    this.now = options.now ?? Date.now;
    this.auth = new Authenticator(options.credentials, options.store, this.now);
    this.staleSeconds = options.staleSeconds ?? 300;
    this.topology = options.topology;
    this.matcher.topology = options.topology;
  }

  /** Rebuild the index from stored snapshots, match the fleet, and reconcile stored fleet findings. */
  load(): void {
    for (const { name, snapshot } of this.store.snapshots()) {
      try {
        this.index.upsert(name, snapshotFromJson(snapshot));
      } catch {
        // A snapshot the index cannot read stays stored; the host's next report replaces it.
      }
    }
    const diff = this.timedMatch('full', () => this.matcher.matchAll());
    const stored = this.store.findings().filter((f) => f.sources.includes('fleet')).map((f) => f.finding.key);
    const found = new Set(diff.found.map((f) => f.key));
    this.store.commitFleet(diff.found, stored.filter((k) => !found.has(k)), this.isoNow());
  }

  /**
   * Replace the cloud topology (serve re-reads its file on SIGHUP): the whole fleet is matched
   * again, what that finds and resolves is committed, viewers get a `topology` event and the
   * agents whose fleet findings changed a new context.
   */
  setTopology(topology: Topology | undefined): FleetDiff {
    this.topology = topology;
    this.matcher.topology = topology;
    const diff = this.timedMatch('full', () => this.matcher.matchAll());
    this.store.commitFleet(diff.found, diff.resolved.map((f) => f.key), this.isoNow());
    this.emit({ type: 'topology', found: diff.found.map((f) => f.key), resolved: diff.resolved.map((f) => f.key) });
    for (const h of diff.affected) if (this.links.has(h)) this.pendingContext.add(h);
    this.scheduleContext();
    return diff;
  }

  private isoNow(): string {
    return new Date(this.now()).toISOString();
  }

  private timedMatch(kind: 'full' | 'incremental', run: () => FleetDiff): FleetDiff {
    const end = this.metrics.matchSeconds.startTimer({ kind });
    try {
      return run();
    } finally {
      end();
      this.metrics.fleetFindings.set(this.matcher.size);
    }
  }

  authenticate(hello: Hello): AgentAuth {
    return this.auth.authenticateAgent(hello);
  }

  /** Register an authenticated connection; a newer connection for a host replaces the older. */
  attach(host: string, link: AgentLink): void {
    const old = this.links.get(host);
    if (old && old !== link) old.close('replaced', 'a newer connection for this host arrived');
    this.links.set(host, link);
    this.metrics.connectedAgents.set(this.links.size);
    this.seen(host);
    this.emit({ type: 'connection', host, connected: true });
  }

  detach(host: string, link: AgentLink): void {
    if (this.links.get(host) !== link) return;
    this.links.delete(host);
    this.metrics.connectedAgents.set(this.links.size);
    this.emit({ type: 'connection', host, connected: false });
  }

  private emit(event: FleetEvent): void {
    this.events.emit('change', event);
  }

  connected(host: string): boolean {
    return this.links.has(host);
  }

  get connectedCount(): number {
    return this.links.size;
  }

  seen(host: string): void {
    this.lastSeen.set(host, this.isoNow());
  }

  welcomeSeq(host: string): number {
    return this.store.lastSeq(host);
  }

  /**
   * Validate, match and commit one report now; returns once it is committed (tests, bulk feeds).
   * Reports waiting in the commit queue are committed first, so the store sees them in order.
   * A report already stored (a resend after reconnect) is acknowledged again without a change.
   */
  report(hello: Hello, report: ReportMessage, bytes: number): void {
    this.commits.flush();
    if (this.store.hasReport(hello.name, report.seq)) return;
    const prepared = this.prepare(hello, report, bytes);
    this.store.commitReports([prepared.input]);
    this.afterCommit(prepared);
  }

  /**
   * Validate and match one report now (throws ReportRejectedError), and commit it together with
   * the reports arriving in the same event-loop turn; `done` runs after the commit (the caller
   * acks then) or with the store's error. A resend of a stored or queued report only waits.
   */
  submit(hello: Hello, report: ReportMessage, bytes: number, done: Committed): void {
    const key = `${hello.name}\n${report.seq}`;
    if (this.commits.join(key, done)) return;
    if (this.store.hasReport(hello.name, report.seq)) return done();
    this.commits.add(key, this.prepare(hello, report, bytes), done);
  }

  /** Commit the reports waiting in the queue (before the store closes). */
  flushReports(): void {
    this.commits.flush();
  }

  private prepare(hello: Hello, report: ReportMessage, bytes: number): PreparedReport {
    const host = hello.name;
    for (const f of report.findings) {
      if (f.host !== host) throw new ReportRejectedError('host_mismatch', `a finding names host "${f.host}"; this connection is "${host}"`);
      if (f.key !== findingKey(f.check, f.host, f.subject)) throw new ReportRejectedError('schema', `finding key "${f.key.slice(0, 100)}" is not check|host|subject`);
    }
    if (report.snapshot.identity.name !== host) throw new ReportRejectedError('host_mismatch', `the snapshot names host "${report.snapshot.identity.name}"; this connection is "${host}"`);
    // An agent older than redaction may send configuration lines with secrets: they are never stored.
    redactSnapshotTexts(report.snapshot as unknown as HostSnapshot);
    for (const f of report.findings) for (const e of f.evidence) e.text = redactLine(e.text);
    const snapshot = snapshotFromJson(report.snapshot);
    const previous = this.index.snapshot(host);
    const membershipBefore = this.membershipOf(host);
    let diff: FleetDiff;
    try {
      this.index.upsert(host, snapshot);
      diff = this.timedMatch('incremental', () => this.matcher.matchHost(host));
    } catch (err) {
      // Put the last good snapshot back so the fleet keeps a usable model of this host.
      if (previous) this.index.upsert(host, previous); else this.index.remove(host);
      throw new ReportRejectedError('bad_snapshot', `the snapshot cannot be indexed: ${(err as Error).message}`, { cause: err });
    }
    const small = this.index.size <= (this.options.contextPeersLimit ?? 1000);
    const context = new Set<string>();
    const membershipChanged = membershipBefore !== this.membershipOf(host);
    if (membershipChanged && small) {
      for (const h of this.links.keys()) if (h !== host) context.add(h);
    } else if (membershipChanged) {
      for (const a of this.index.addressesOf(host)) for (const r of this.index.routesContaining(a.address)) context.add(r.host);
    }
    // Up to contextPeersLimit hosts a context lists every peer whatever the findings; above, it follows them.
    if (!small) for (const h of diff.affected) context.add(h);
    return {
      input: { hello, report, bytes, receivedAt: this.isoNow(), fleetFound: diff.found, fleetResolved: diff.resolved },
      event: { type: 'report', host, seq: report.seq, findings: report.findings.length, found: diff.found.map((f) => f.key), resolved: diff.resolved.map((f) => f.key) },
      context,
    };
  }

  private afterCommit(p: PreparedReport): void {
    this.metrics.reports.inc();
    this.seen(p.event.host);
    this.emit(p.event);
    for (const h of p.context) this.pendingContext.add(h);
    this.scheduleContext();
  }

  private membershipOf(host: string): string {
    return JSON.stringify([this.index.addressesOf(host).map((a) => a.address), this.index.vpcOf(host)]);
  }

  private scheduleContext(): void {
    if (this.pendingContext.size === 0 || this.contextTimer) return;
    this.contextTimer = setTimeout(() => this.flushContext(), this.options.contextDelayMs ?? 50);
    this.contextTimer.unref();
  }

  /** Send each pending connected agent its current context. */
  flushContext(): void {
    this.contextTimer = undefined;
    for (const host of this.pendingContext) this.links.get(host)?.send({ type: 'context', context: this.contextFor(host) });
    this.pendingContext.clear();
  }

  /** What an agent should check against: its peers' addresses and the other VPCs' CIDRs. */
  contextFor(host: string): FleetContext {
    const small = this.index.size <= (this.options.contextPeersLimit ?? 1000);
    const names = new Set<string>();
    if (small) for (const h of this.index.hosts()) names.add(h);
    else {
      for (const r of this.index.routesOf(host)) for (const a of this.index.addressesIn(r.prefix)) names.add(a.host);
      for (const f of this.matcher.findingsOf(host)) for (const h of f.pair) names.add(h);
    }
    names.delete(host);
    const own = new Set(this.index.vpcOf(host));
    const remotes = new Set<string>();
    const peers: FleetContext['peers'] = [];
    for (const name of [...names].sort()) {
      const addresses = this.index.addressesOf(name).map((a) => a.address).slice(0, 64);
      const vpcs = this.index.vpcOf(name);
      for (const c of vpcs) if (!own.has(c)) remotes.add(c);
      if (addresses.length) peers.push({ name, addresses, ...(vpcs[0] ? { vpc: vpcs[0] } : {}) });
    }
    return { peers, remotes: [...remotes].sort().slice(0, 10_000), ports: this.options.ports ?? [] };
  }

  /** Persist heartbeat times and mark hosts silent for longer than staleSeconds. */
  sweep(): string[] {
    for (const h of this.links.keys()) this.seen(h);
    this.store.touch(this.lastSeen);
    this.lastSeen.clear();
    const stale = this.store.markStale(new Date(this.now() - this.staleSeconds * 1000).toISOString());
    this.metrics.staleHosts.set(this.store.hosts().filter((h) => h.stale).length);
    if (stale.length) this.emit({ type: 'stale', hosts: stale });
    return stale;
  }

  fleetFindings(): FleetFinding[] {
    return this.matcher.findings();
  }
}
