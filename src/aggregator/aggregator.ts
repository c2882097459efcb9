/**
 * The aggregator's core: authenticates hellos, validates and commits reports, keeps the fleet
 * index and fleet findings current, marks silent hosts stale, and decides which agents get new
 * context. Sockets live in ws-server.ts and http/; the clock is passed in. Pair verdicts
 * (pairs.ts) and the HTTP API (http/) read it; it imports neither.
 */
import { EventEmitter } from 'node:events';
import { findingKey } from '../model/finding.js';
import type { KernelWindow } from '../model/kernel.js';
import { applySection, decodeSection, SectionError, type DecodedSection, type SectionLimits } from '../collect/sections.js';
import { SECTION_KINDS, type AcceptedHello, type FleetContext, type Hello, type ReportMessage, type SectionKind, type ServerMessage } from '../model/protocol.js';
import { snapshotFromJson, type HostSnapshot } from '../model/snapshot.js';
import { redactLine, redactSnapshotTexts } from '../collect/redact.js';
import type { Topology } from '../model/topology.js';
import { CONTEXT_PEERS_LIMIT, contextFor, contextNames } from '../checks/fleet-context.js';
import type { FleetFinding } from '../checks/types.js';
import { Authenticator, type AgentAuth, type Credentials } from './auth.js';
import { FleetIndex } from './fleet-index.js';
import { FleetMatcher, type FleetDiff } from './fleet-match.js';
import type { AggregatorMetrics } from './metrics.js';
import { CommitQueue, type Committed } from './commit-queue.js';
import { ReportRejectedError } from './errors.js';
import type { SectionUploads } from './section-uploads.js';
import type { CommitInput, HostSections, ReadBackRow, Store } from './store.js';
import { DEFAULT_TIMELINE_DAYS } from './store-changes.js';

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

export { ReportRejectedError };

/** Hosts a follower reads back in one query. */
const READ_BACK_BATCH = 64;
/**
 * How long a follower waits after a notification before it reads back, gathering the hosts
 * notified meanwhile: at 500 reports/s 10 ms cut a follower's CPU per report by about a fifth
 * (fewer queries); a context push waits 50 ms anyway (contextDelayMs).
 */
const READ_BACK_DELAY_MS = 10;

/** Where the aggregator sends messages to a connected agent. */
export interface AgentLink {
  send(msg: ServerMessage): void;
  close(reason: string, detail: string): void;
  /** The peer's address, for messages that name the connection ("10.0.0.5:51234", "unix socket"). */
  address: string;
}

/** What the aggregator accepts in a snapshot (docs/serve.md, "Content limits"). */
export const DEFAULT_CONTENT_LIMITS: SectionLimits = { maxRoutes: 100_000, maxRules: 250_000, maxDepth: 64 };

/** A host whose connections replaced each other this often within REPLACE_WINDOW_MS is refused the next time. */
export const MAX_REPLACEMENTS = 3;
export const REPLACE_WINDOW_MS = 5 * 60_000;

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
  /** Days the hosts' change logs are kept (DEFAULT_TIMELINE_DAYS). */
  timelineDays?: number;
  /** Routes, rules and nesting a snapshot may have (DEFAULT_CONTENT_LIMITS). */
  limits?: Partial<SectionLimits>;
  now?: () => number;
  /** Where the aggregator says what went wrong in the background (serve: its stderr). */
  warn?: (message: string) => void;
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
  /** Per host, the last kernel window its agent sent (kept in memory: the next report brings a new one). */
  private readonly kernelWindows = new Map<string, { receivedAt: string; window: KernelWindow }>();
  /** Per host: when its connections replaced each other lately (duplicate names). */
  private readonly replacements = new Map<string, number[]>();
  /** Per host: the sections its indexed snapshot was built from. */
  private readonly sectionsOf = new Map<string, HostSections>();
  readonly limits: SectionLimits;
  private readonly lastSeen = new Map<string, string>();
  private readonly pendingContext = new Set<string>();
  /** Per connected host: the highest sequence number the store holds (from the welcome, then each commit). */
  private readonly storedUpTo = new Map<string, number>();
  /** Per host: the digest of the snapshot in the index (what a replica compares after a gap). */
  private readonly digests = new Map<string, string | null>();
  private unfollow: (() => Promise<void>) | undefined;
  /** Per host connected to another replica: which one, and when it last said so. */
  private readonly remote = new Map<string, { at: number; replica?: string }>();
  /** Announcements go out one after another: each NOTIFY commits, so the others hear them in this order. */
  private announcing: Promise<void> = Promise.resolve();
  /** A remote connection not renewed for this long counts as gone (its replica died). */
  remoteTtlMs = 180_000;
  private refreshing: Promise<void> = Promise.resolve();
  private contextTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly commits = new CommitQueue<PreparedReport>({
    commit: (batch) => this.store.commitReports(batch.map((p) => p.input)),
    committed: (p) => this.afterCommit(p),
    group: (p) => p.input.hello.name,
  });

  constructor(private readonly options: AggregatorOptions) {
    this.store = options.store;
    this.metrics = options.metrics;
    this.now = options.now ?? Date.now;
    this.auth = new Authenticator(options.credentials, options.store, this.now);
    this.staleSeconds = options.staleSeconds ?? 300;
    this.topology = options.topology;
    this.matcher.topology = options.topology;
    this.limits = { ...DEFAULT_CONTENT_LIMITS, ...options.limits };
  }

  /** Rebuild the index from stored snapshots, match the fleet, and reconcile stored fleet findings. */
  async load(): Promise<void> {
    for await (const { name, digest, snapshot, sections } of this.store.snapshots()) {
      await this.indexStored(name, snapshot, sections);
      this.digests.set(name, digest);
    }
    const diff = this.timedMatch('full', () => this.matcher.matchAll());
    const stored = (await this.store.findings()).filter((f) => f.sources.includes('fleet')).map((f) => f.finding.key);
    const found = new Set(diff.found.map((f) => f.key));
    await this.store.commitFleet(diff.found, stored.filter((k) => !found.has(k)), this.isoNow());
  }

  /** Put a stored snapshot (its sections read back) in the index. */
  private async indexStored(name: string, snapshot: unknown, sections: HostSections): Promise<void> {
    try {
      const full = snapshot as Record<string, unknown>;
      for (const [kind, digest] of Object.entries(sections) as [SectionKind, string][]) applySection(full, await this.storedSection(kind, digest));
      this.index.upsert(name, snapshotFromJson(full));
      this.sectionsOf.set(name, sections);
    } catch {
      // A snapshot the index cannot read stays stored; the host's next report replaces it.
    }
  }

  /**
   * Replace the cloud topology (serve re-reads its file on SIGHUP): the whole fleet is matched
   * again, what that finds and resolves is committed, viewers get a `topology` event and the
   * agents whose fleet findings changed a new context.
   */
  async setTopology(topology: Topology | undefined): Promise<FleetDiff> {
    this.topology = topology;
    this.matcher.topology = topology;
    const diff = this.timedMatch('full', () => this.matcher.matchAll());
    await this.store.commitFleet(diff.found, diff.resolved.map((f) => f.key), this.isoNow());
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

  authenticate(hello: Hello): Promise<AgentAuth> {
    return this.auth.authenticateAgent(hello);
  }

  /**
   * Register an authenticated connection; a newer connection for a host replaces the older.
   * When a host's connections have replaced each other MAX_REPLACEMENTS times within
   * REPLACE_WINDOW_MS (two live agents with one name), the newer one is refused instead, naming
   * the connected one's address.
   */
  attach(host: string, link: AgentLink): { ok: true } | { ok: false; detail: string } {
    const old = this.links.get(host);
    if (old && old !== link) {
      const now = this.now();
      const recent = (this.replacements.get(host) ?? []).filter((t) => now - t < REPLACE_WINDOW_MS);
      if (recent.length >= MAX_REPLACEMENTS) {
        this.replacements.set(host, recent);
        return {
          ok: false,
          detail: `host "${host}" is connected from ${old.address}, and its connections replaced each other ${recent.length} times within ${REPLACE_WINDOW_MS / 60_000} minutes: two agents report under this name; give each its own --name`,
        };
      }
      recent.push(now);
      this.replacements.set(host, recent);
      old.close('replaced', `a newer connection for this host arrived from ${link.address}`);
    }
    this.links.set(host, link);
    this.metrics.connectedAgents.set(this.links.size);
    this.seen(host);
    this.emit({ type: 'connection', host, connected: true });
    this.announce('connected', [host]);
    return { ok: true };
  }

  detach(host: string, link: AgentLink): void {
    if (this.links.get(host) !== link) return;
    this.links.delete(host);
    this.storedUpTo.delete(host);
    this.metrics.connectedAgents.set(this.links.size);
    this.emit({ type: 'connection', host, connected: false });
    this.announce('disconnected', [host]);
  }

  private emit(event: FleetEvent): void {
    this.events.emit('change', event);
  }

  /** Whether the host's agent is connected here or (replicas) to another replica. */
  connected(host: string): boolean {
    if (this.links.has(host)) return true;
    const at = this.remote.get(host)?.at;
    return at !== undefined && this.now() - at < this.remoteTtlMs;
  }

  get connectedCount(): number {
    return this.links.size;
  }

  seen(host: string): void {
    this.lastSeen.set(host, this.isoNow());
  }

  async welcomeSeq(host: string): Promise<number> {
    // A new connection resends from what the store holds: reports after a failed one are taken again.
    this.commits.reopen(host);
    const seq = await this.store.lastSeq(host);
    this.storedUpTo.set(host, seq);
    return seq;
  }

  /** The digests of the sections the server holds for a host (the welcome lists them). */
  async welcomeSections(host: string): Promise<string[]> {
    return Object.values(await this.store.hostSections(host));
  }

  /**
   * Validate, match and commit one report now; returns once it is committed (tests, bulk feeds).
   * Reports waiting in the commit queue are committed first, so the store sees them in order.
   * A report already stored (a resend after reconnect) is acknowledged again without a change.
   */
  async report(hello: AcceptedHello, report: ReportMessage, bytes: number, uploads?: SectionUploads): Promise<void> {
    await this.commits.flush();
    if (await this.store.hasReport(hello.name, report.seq)) return;
    const prepared = await this.prepare(hello, report, bytes, uploads);
    await this.store.commitReports([prepared.input]);
    this.afterCommit(prepared);
  }

  /**
   * Validate and match one report now (rejects with ReportRejectedError), and commit it together
   * with the reports arriving meanwhile; `done` runs after the commit (the caller acks then) or
   * with the store's error. A resend of a stored or queued report only waits.
   */
  async submit(hello: AcceptedHello, report: ReportMessage, bytes: number, done: Committed, uploads?: SectionUploads): Promise<void> {
    const key = `${hello.name}\n${report.seq}`;
    if (this.commits.join(key, done)) return;
    // Above what the store held at the welcome and what was committed since, a report is new: no lookup.
    const upTo = this.storedUpTo.get(hello.name);
    let prepared: PreparedReport;
    try {
      if ((upTo === undefined || report.seq <= upTo) && (await this.store.hasReport(hello.name, report.seq))) return done();
      if (this.commits.join(key, done)) return;
      prepared = await this.prepare(hello, report, bytes, uploads);
    } catch (err) {
      // The store failed before the report reached the queue: its host's later reports must not commit past it either.
      if (!(err instanceof ReportRejectedError)) this.commits.failGroup(hello.name, err as Error);
      throw err;
    }
    this.commits.add(key, prepared, done);
  }

  /** Commit the reports waiting in the queue (before the store closes). */
  async flushReports(): Promise<void> {
    await this.commits.flush();
  }

  private async prepare(hello: AcceptedHello, report: ReportMessage, bytes: number, uploads?: SectionUploads): Promise<PreparedReport> {
    const host = hello.name;
    for (const f of report.findings) {
      if (f.host !== host) throw new ReportRejectedError('host_mismatch', `a finding names host "${f.host}"; this connection is "${host}"`);
      if (f.key !== findingKey(f.check, f.host, f.subject)) throw new ReportRejectedError('schema', `finding key "${f.key.slice(0, 100)}" is not check|host|subject`);
    }
    if (report.snapshot.identity.name !== host) throw new ReportRejectedError('host_mismatch', `the snapshot names host "${report.snapshot.identity.name}"; this connection is "${host}"`);
    // An agent older than redaction may send configuration lines with secrets: they are never stored.
    redactSnapshotTexts(report.snapshot as unknown as HostSnapshot);
    for (const f of report.findings) for (const e of f.evidence) e.text = redactLine(e.text);
    const previous = this.index.snapshot(host);
    const snapshot = await this.withSections(host, report, previous, uploads);
    // Awaiting the sections let other reports of this host in: match against the index as it is now.
    const current = this.index.snapshot(host);
    checkContentLimits(snapshot, this.limits);
    const membershipBefore = this.membershipOf(host);
    let diff: FleetDiff;
    try {
      this.index.upsert(host, snapshot);
      diff = this.timedMatch('incremental', () => this.matcher.matchHost(host));
    } catch (err) {
      // Put the last good snapshot back so the fleet keeps a usable model of this host.
      if (current) this.index.upsert(host, current); else this.index.remove(host);
      throw new ReportRejectedError('bad_snapshot', `the snapshot cannot be indexed: ${(err as Error).message}`, { cause: err });
    }
    this.sectionsOf.set(host, report.sections ?? {});
    if (report.sections) uploads?.release(Object.values(report.sections));
    const context = this.contextChanges(host, membershipBefore !== this.membershipOf(host), diff);
    this.digests.set(host, report.digest);
    return {
      input: { hello, report, bytes, receivedAt: this.isoNow(), fleetFound: diff.found, fleetResolved: diff.resolved },
      event: { type: 'report', host, seq: report.seq, findings: report.findings.length, found: diff.found.map((f) => f.key), resolved: diff.resolved.map((f) => f.key) },
      context,
    };
  }

  /** The agents whose context changes when `host` changed (its addresses or VPC, or the fleet findings of `diff`). */
  private contextChanges(host: string, membershipChanged: boolean, diff: FleetDiff): Set<string> {
    const small = this.index.size <= (this.options.contextPeersLimit ?? CONTEXT_PEERS_LIMIT);
    const context = new Set<string>();
    if (membershipChanged && small) {
      for (const h of this.links.keys()) if (h !== host) context.add(h);
    } else if (membershipChanged) {
      for (const a of this.index.addressesOf(host)) for (const r of this.index.routesContaining(a.address)) context.add(r.host);
    }
    // Up to contextPeersLimit hosts a context lists every peer whatever the findings; above, it follows them.
    if (!small) for (const h of diff.affected) context.add(h);
    return context;
  }

  /**
   * Follow the replicas that share the store (PostgreSQL): a host another replica committed a
   * report of is read back, indexed and matched here too, its `report` event goes to this
   * replica's viewers, and the agents connected here whose context it changes get the new one;
   * hosts another replica marked stale are announced. After a gap (the database restarted) the
   * index is compared with the stored digests and brought up to date. A store one process owns
   * (SQLite) has nothing to follow.
   */
  async follow(): Promise<void> {
    if (!this.store.follow || !this.store.readBack || this.unfollow) return;
    this.unfollow = await this.store.follow({
      changed: (kind, hosts, replica) => {
        if (kind === 'stale') return this.emit({ type: 'stale', hosts });
        if (kind === 'report') return this.followReports(hosts);
        if (kind === 'ask') return this.announceLinks();
        this.remoteLinks(kind, hosts, replica);
      },
      gap: () => {
        // What the others announced meanwhile is lost: forget their agents and ask them again.
        this.remote.clear();
        this.announce('ask', ['*']);
        this.announceLinks();
        this.enqueueResync();
      },
    });
    this.announce('ask', ['*']);
  }

  /**
   * Tell the other replicas, in order: a `connected` and the `disconnected` that follows it, sent
   * at once on two pooled connections, could commit the other way round and leave the agent
   * counted as connected elsewhere until remoteTtlMs.
   */
  private announce(kind: 'connected' | 'disconnected' | 'present' | 'ask', hosts: string[]): void {
    const store = this.store;
    if (!store.announce) return;
    this.announcing = this.announcing.then(() => store.announce!(kind, hosts)).catch(() => undefined);
  }

  /** Tell the other replicas which agents are connected here. */
  private announceLinks(): void {
    if (this.links.size) this.announce('present', [...this.links.keys()]);
  }

  /** Agents connected to other replicas: `present` renews them (each replica's sweep), `disconnected` ends them. */
  private remoteLinks(kind: 'connected' | 'disconnected' | 'present', hosts: string[], replica?: string): void {
    const now = this.now();
    for (const host of hosts) {
      const was = this.connected(host);
      if (kind !== 'disconnected') this.remote.set(host, { at: now, ...(replica !== undefined && { replica }) });
      // The agent may already have moved on to another replica, whose `connected` came first.
      else if (replica === undefined || this.remote.get(host)?.replica === undefined || this.remote.get(host)?.replica === replica) this.remote.delete(host);
      if (kind !== 'present' && was !== this.connected(host)) this.emit({ type: 'connection', host, connected: this.connected(host) });
    }
  }

  /** Stop following the other replicas. */
  async unfollowReplicas(): Promise<void> {
    const stop = this.unfollow;
    this.unfollow = undefined;
    clearTimeout(this.resyncTimer);
    this.resyncTimer = undefined;
    await stop?.();
  }

  /** Hosts another replica committed reports of, not yet read back. */
  private readonly toRefresh = new Set<string>();

  /**
   * Another replica's reports are read back in batches: READ_BACK_DELAY_MS after a notification,
   * with the hosts notified meanwhile and while the read-back before ran (one query for their
   * snapshots), not one read-back each.
   */
  private followReports(hosts: string[]): void {
    const idle = this.toRefresh.size === 0;
    for (const h of hosts) this.toRefresh.add(h);
    if (!idle) return;
    this.refreshing = this.refreshing
      .then(() => new Promise((resolve) => setTimeout(resolve, READ_BACK_DELAY_MS)))
      .then(() => {
        const batch = [...this.toRefresh];
        this.toRefresh.clear();
        return this.refreshHosts(batch);
      })
      .catch((err: Error) => this.refreshFailed(err, 'hosts another replica changed'));
  }

  /**
   * Compare the whole fleet after the refreshes queued so far (they run one after another). One
   * that fails (the database went away in the middle) is not lost: the whole fleet is compared
   * again after a pause (1 s, doubling to 30 s while it keeps failing), since the stored digests
   * say what changed.
   */
  private enqueueResync(): void {
    this.refreshing = this.refreshing
      .then(async () => {
        await this.resync();
        this.resyncDelayMs = 1000;
      })
      .catch((err: Error) => this.refreshFailed(err, 'the fleet'));
  }

  private refreshFailed(err: Error, what: string): void {
    if (!this.unfollow) return;
    this.options.warn?.(`replicas: reading back ${what} failed (${err.message.slice(0, 200)}); comparing the whole fleet again in ${this.resyncDelayMs / 1000} s`);
    this.retryResync();
  }

  private resyncTimer: NodeJS.Timeout | undefined;
  private resyncDelayMs = 1000;

  private retryResync(): void {
    if (this.resyncTimer) return;
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      this.enqueueResync();
    }, this.resyncDelayMs);
    this.resyncTimer.unref();
    this.resyncDelayMs = Math.min(this.resyncDelayMs * 2, 30_000);
  }

  /** Resolves when the refreshes queued so far are done (tests, shutdown). */
  get refreshed(): Promise<void> {
    return this.refreshing;
  }

  /** Compare every stored digest with the indexed one and read back the hosts that differ. */
  private async resync(): Promise<void> {
    const stored = await this.store.hostDigests();
    const changed = [...stored].filter(([h, d]) => this.digests.get(h) !== d).map(([h]) => h);
    await this.refreshHosts(changed);
  }

  /**
   * Read back hosts another replica changed, READ_BACK_BATCH to a query; match them; tell viewers
   * and the agents here. A host whose stored digest is the one indexed here (a periodic report of
   * an unchanged host) costs no snapshot: it is neither sent nor parsed. Hosts are taken one per turn of the event
   * loop: this replica's own reports (their acks, their commits' answers) go in between.
   */
  private async refreshHosts(hosts: string[]): Promise<void> {
    const watched = this.events.listenerCount('change') > 0;
    for (let i = 0; i < hosts.length; i += READ_BACK_BATCH) {
      for (const row of await this.store.readBack!(hosts.slice(i, i + READ_BACK_BATCH), this.digests, watched)) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        await this.refreshHost(row);
      }
    }
    this.scheduleContext();
  }

  private async refreshHost(row: ReadBackRow): Promise<void> {
    const host = row.name;
    const membershipBefore = this.membershipOf(host);
    if (row.text !== null && this.digests.get(host) !== row.digest) {
      let snapshot: unknown;
      try {
        snapshot = JSON.parse(row.text);
      } catch {
        // Stored by a replica that parsed it: a text that does not parse stays stored; the host's next report replaces it.
      }
      if (snapshot !== undefined) await this.indexStored(host, snapshot, row.sections);
      this.digests.set(host, row.digest);
    }
    // Matched also when unchanged: the findings it confirms are the report's `found`, on every replica alike.
    const diff = this.timedMatch('incremental', () => this.matcher.matchHost(host));
    this.seen(host);
    for (const h of this.contextChanges(host, membershipBefore !== this.membershipOf(host), diff)) this.pendingContext.add(h);
    // The newest report only, read when someone watches the event stream.
    if (row.latest) this.emit({ type: 'report', host, seq: row.latest.seq, findings: row.latest.findings, found: diff.found.map((f) => f.key), resolved: diff.resolved.map((f) => f.key) });
  }

  /** The drop counters (and reasons) a host's agent last sent: what moved between its last two checks. */
  kernelWindow(host: string): { receivedAt: string; window: KernelWindow } | undefined {
    return this.kernelWindows.get(host);
  }

  /**
   * The report's snapshot with its sections put back: each from this connection's uploads, the
   * host's indexed snapshot (unchanged since), or the store (the host's stored sections);
   * a section found nowhere is refused (`section_missing`).
   */
  private async withSections(host: string, report: ReportMessage, previous: HostSnapshot | undefined, uploads?: SectionUploads): Promise<HostSnapshot> {
    const snapshot: Record<string, unknown> = { ...report.snapshot };
    const refs = report.sections ?? {};
    const before = this.sectionsOf.get(host) ?? {};
    let stored: HostSections | undefined;
    for (const kind of SECTION_KINDS) {
      const digest = refs[kind];
      if (digest === undefined) continue;
      if (snapshot[kind] !== undefined) throw new ReportRejectedError('schema', `snapshot.${kind}: sent inline and as section ${digest.slice(0, 12)}`);
      let decoded: DecodedSection | undefined = uploads?.get(digest);
      if (!decoded && previous && before[kind] === digest) decoded = sectionOf(previous, kind);
      if (!decoded && (stored ??= await this.store.hostSections(host))[kind] === digest) decoded = await this.storedSection(kind, digest);
      if (!decoded) throw new ReportRejectedError('section_missing', `section ${kind} ${digest} was not sent on this connection and is not this host's`);
      applySection(snapshot, decoded);
    }
    if (snapshot.routes === undefined) throw new ReportRejectedError('schema', 'snapshot.routes: neither sent inline nor as a section');
    return snapshotFromJson(snapshot);
  }

  /** A stored section, read back; a section the store lost or cannot read is refused like a missing one. */
  private async storedSection(kind: SectionKind, digest: string): Promise<DecodedSection> {
    const s = await this.store.section(digest);
    if (!s || s.kind !== kind) throw new ReportRejectedError('section_missing', `section ${kind} ${digest} is not in the store`);
    try {
      return decodeSection(kind, s.content, this.limits);
    } catch (err) {
      if (err instanceof SectionError) throw new ReportRejectedError(err.reason, err.message, { cause: err });
      throw err;
    }
  }

  /**
   * A host's snapshot as stored: with its sections read back from the store (the API's
   * `/api/hosts/NAME`), or undefined.
   */
  async storedSnapshot(host: string): Promise<unknown> {
    const snapshot = (await this.store.snapshot(host)) as Record<string, unknown> | undefined;
    if (!snapshot) return undefined;
    for (const [kind, digest] of Object.entries(await this.store.hostSections(host)) as [SectionKind, string][]) applySection(snapshot, await this.storedSection(kind, digest));
    return snapshot;
  }

  private afterCommit(p: PreparedReport): void {
    this.metrics.reports.inc();
    const upTo = this.storedUpTo.get(p.event.host);
    if (upTo !== undefined && p.event.seq > upTo) this.storedUpTo.set(p.event.host, p.event.seq);
    const window = p.input.report.kernel;
    if (window) this.kernelWindows.set(p.event.host, { receivedAt: p.input.receivedAt, window: window as KernelWindow });
    this.seen(p.event.host);
    this.emit(p.event);
    for (const h of p.context) this.pendingContext.add(h);
    this.scheduleContext();
  }

  private membershipOf(host: string): string {
    const addresses = this.index.addressesOf(host);
    // The MTUs go into other hosts' contexts too (mtu-black-hole): a changed MTU is a changed context.
    return JSON.stringify([addresses.map((a) => a.address), this.index.vpcOf(host), addresses.map((a) => a.mtu ?? null)]);
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
    const names = contextNames(this.index, host, this.options.contextPeersLimit);
    // Above the limit a host also gets the hosts its fleet findings pair it with.
    if (this.index.size > (this.options.contextPeersLimit ?? CONTEXT_PEERS_LIMIT)) for (const f of this.matcher.findingsOf(host)) for (const p of f.pairs) if (p.includes(host)) for (const h of p) names.add(h);
    names.delete(host);
    return { ...contextFor(this.index, host, names), ports: this.options.ports ?? [] };
  }

  /** Persist heartbeat times and mark hosts silent for longer than staleSeconds. */
  async sweep(): Promise<string[]> {
    for (const h of this.links.keys()) this.seen(h);
    // Replicas: the agents still connected here, so the others keep counting them as connected.
    this.announceLinks();
    const seen = new Map(this.lastSeen);
    this.lastSeen.clear();
    try {
      await this.store.touch(seen);
    } catch (err) {
      // Kept for the next sweep (the database may be restarting); newer times win.
      for (const [h, at] of seen) if (!this.lastSeen.has(h)) this.lastSeen.set(h, at);
      throw err;
    }
    const stale = await this.store.markStale(new Date(this.now() - this.staleSeconds * 1000).toISOString());
    // Sections no host names any more, kept an hour for reports still on their way.
    await this.store.pruneSections(new Date(this.now() - 3_600_000).toISOString());
    await this.store.changes.prune(new Date(this.now() - (this.options.timelineDays ?? DEFAULT_TIMELINE_DAYS) * 86_400_000).toISOString());
    this.metrics.staleHosts.set((await this.store.hosts()).filter((h) => h.stale).length);
    if (stale.length) this.emit({ type: 'stale', hosts: stale });
    return stale;
  }

  fleetFindings(): FleetFinding[] {
    return this.matcher.findings();
  }
}

/** The part of a snapshot a section of `kind` stands for, as a decoded section. */
function sectionOf(s: HostSnapshot, kind: SectionKind): DecodedSection {
  switch (kind) {
    case 'routes': return { kind, routes: s.routes };
    case 'netfilter': return { kind, netfilter: s.netfilter };
    case 'nft': return { kind, nft: s.nft };
    case 'ipsets': return { kind, ipsets: s.ipsets };
  }
}

function count(list: unknown, each: (x: Record<string, unknown>) => number): number {
  if (!Array.isArray(list)) return 0;
  let n = 0;
  for (const x of list) if (x && typeof x === 'object') n += each(x as Record<string, unknown>);
  return n;
}

/** Refuse a snapshot with more routes or rules than the server takes (too_many_routes, too_many_rules). */
function checkContentLimits(s: HostSnapshot, limits: SectionLimits): void {
  if (s.routes.length > limits.maxRoutes) throw new ReportRejectedError('too_many_routes', `the snapshot has ${s.routes.length} routes; this server takes at most ${limits.maxRoutes}`);
  const nf = (s.netfilter ?? {}) as Partial<HostSnapshot['netfilter']>;
  const rules = count(nf.v4, (t) => (Array.isArray(t.rules) ? t.rules.length : 0)) + count(nf.v6, (t) => (Array.isArray(t.rules) ? t.rules.length : 0))
    + count(s.nft, (t) => count(t.chains, (c) => (Array.isArray(c.rules) ? c.rules.length : 0)));
  if (rules > limits.maxRules) throw new ReportRejectedError('too_many_rules', `the snapshot has ${rules} iptables and nft rules; this server takes at most ${limits.maxRules}`);
}
