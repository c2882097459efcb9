/**
 * The agent loop: check at start, on change (ip monitor, debounced), on a timer and when the
 * fleet context changes; send a report when the snapshot or findings changed, else a heartbeat;
 * keep unacknowledged reports across reconnections. The server's messages are data only.
 */
import type WebSocket from 'ws';
import { analyzeSnapshot } from '../checks/analyze.js';
import { joinKernelEvidence, routeQueriesOf } from '../checks/kernel-join.js';
import type { Bundle } from '../collect/bundle.js';
import { ruleCounters, sampleWith, type CounterSample } from '../collect/counters.js';
import { DropTracer } from '../collect/drop-reasons.js';
import { windowOf } from '../collect/kernel-window.js';
import { askRoutes, RouteAsker } from '../collect/route-ask.js';
import { buildSnapshotReleasing, bundleCharacters } from '../collect/snapshot.js';
import type { HostcheckConfig } from '../model/config.js';
import type { Finding } from '../model/finding.js';
import type { DropReasons, KernelEvidence } from '../model/kernel.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { isoTime } from '../model/iso-time.js';
import type { Hello } from '../model/protocol.js';
import { PROTOCOL_VERSION } from '../model/protocol-version.js';
import type { FleetContext, ServerMessage, Welcome } from '../model/server-messages.js';
import { dropDeflate, dropInflate } from '../net/ws-deflate.js';
import { backoffDelay, DEFAULT_BACKOFF, openSocket, redactUrl, type BackoffPolicy, type TlsMaterial } from './connection.js';
import type { AgentLogger } from './log.js';
import { analysisOptions, EMPTY_CONTEXT, parseServerMessage, sameContext } from './messages.js';
import { Outbox, type OutboxEntry } from './outbox.js';
import { buildReportMessage, findingsDigest, prepareSnapshot, type PreparedSnapshot } from './report.js';
import { sectionChunks } from './sections.js';
import { BaselineFile, OutboxFiles, readTokenFile, SeqStore, writeTokenFile } from './state.js';
import { collectAfterCheck, collectGarbage, COLLECT_ABOVE_CHARACTERS, optimizeForRoutes } from './v8-tuning.js';
import { ChangeWatcher } from './watcher.js';
import { ChangeLog } from '../changes/log.js';
import type { HostChange } from '../model/changes.js';
import { MAX_REPORT_CHANGES } from '../model/protocol-version.js';
import { CpuBudget, cpuMs } from './cpu.js';

/** Change-triggered checks keep the agent's CPU (with its commands) to this share of a core, bursts aside. */
export const CHANGE_CHECK_CPU_SHARE = 0.015;
const CHANGE_CHECK_BURST_MS = 1000;

/** Refusals of a report's content (docs/serve.md): sending it again would be refused again. */
const REFUSED_CONTENT = /^(schema|bad_snapshot|too_many_routes|too_many_rules|section_too_large|host_mismatch):/;

/** The server's limit until its welcome says otherwise (the aggregator's default). */
export const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024;

export interface AgentOptions {
  /**
   * The aggregator, or several replicas of it: the agent starts at a random one, stays while it
   * answers, and moves on to the next when it fails (jittered backoff between attempts).
   */
  server: string | string[];
  /** The host's name in the fleet (resolved: --name, config, hostname plus machine id). */
  name: string;
  identity: Hello['identity'];
  agentVersion: string;
  tokenFile: string;
  enrolTokenFile?: string;
  tls: TlsMaterial;
  stateDir: string;
  config: HostcheckConfig;
  /** Collect a bundle: the live host, or a bundle directory (tests, demos). */
  collect: () => Promise<Bundle>;
  /** Watch `ip monitor` for changes (off for bundle mode). */
  watch: boolean;
  /**
   * Ask the live kernel (off for bundle mode): route questions and drop counters every check
   * (deltas since the previous check), drop reasons when `dropReasons` (config "dropReasons").
   */
  kernel?: { dropReasons: boolean };
  intervalMs: number;
  log: AgentLogger;
  debounceMs?: number;
  outboxCapacity?: number;
  backoff?: BackoffPolicy;
  /** Routes above which only the fleet's parts are sent (tests lower it). */
  maxRoutes?: number;
  monitorArgv?: string[];
}

export interface AgentStats {
  checks: number;
  reports: number;
  heartbeats: number;
  acked: number;
  dropped: number;
  connections: number;
  ignoredMessages: number;
}

/** Raised when the agent has no credential to present. */
export class AgentCredentialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentCredentialError';
  }
}

export class Agent {
  readonly stats: AgentStats = { checks: 0, reports: 0, heartbeats: 0, acked: 0, dropped: 0, connections: 0, ignoredMessages: 0 };
  private seq = 0;
  private readonly seqStore: SeqStore;
  private readonly outbox: Outbox;
  private readonly outboxFiles: OutboxFiles;
  /** Sections the server has: listed by its welcome or sent on this connection. */
  private serverSections = new Set<string>();
  /** Texts of the sections the last check made, until its report is sent (later: from disk). */
  private sectionTexts = new Map<string, string>();
  /** The sections of the last report, to see a server that lost them. */
  private lastSections: string[] = [];
  private credential: Hello['credential'] | undefined;
  private context: FleetContext = EMPTY_CONTEXT;
  private maxPayload = DEFAULT_MAX_PAYLOAD;
  private ws: WebSocket | undefined;
  private welcomed = false;
  private attempt = 0;
  private readonly servers: string[];
  /** Index into `servers` of the one in use. */
  private serverIndex: number;
  private stopped = false;
  private firstCheckStarted = false;
  private checking: Promise<void> | undefined;
  private checkAgain: string | undefined;
  private last: { snapshot: string; findings: string } | undefined;
  private watcher: ChangeWatcher | undefined;
  private timers = new Set<NodeJS.Timeout>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** The previous check's counters: the next check's window starts there. */
  private counters: CounterSample | undefined;
  private tracer: DropTracer | undefined;
  private tracerMissing: string | undefined;
  /** What the host changed between checks (src/changes/log.ts), sent with the next report; started from the saved baseline. */
  private changeLog = new ChangeLog();
  private readonly baselineFile: BaselineFile;
  /** The change log's state differs from the saved baseline: saved once a report holds the changes. */
  private baselineDirty = false;
  private unsentChanges: HostChange[] = [];
  private readonly cpuBudget = new CpuBudget(CHANGE_CHECK_CPU_SHARE, CHANGE_CHECK_BURST_MS);
  private deferredChange: NodeJS.Timeout | undefined;
  private resolveDone!: () => void;
  /** Resolves when the agent has stopped. */
  readonly done = new Promise<void>((r) => (this.resolveDone = r));

  constructor(private readonly opts: AgentOptions) {
    this.servers = typeof opts.server === 'string' ? [opts.server] : [...opts.server];
    if (this.servers.length === 0) throw new AgentCredentialError('no server URL');
    this.serverIndex = Math.floor(Math.random() * this.servers.length);
    this.seqStore = new SeqStore(opts.stateDir, opts.name);
    this.outbox = new Outbox(opts.outboxCapacity ?? 32);
    this.outboxFiles = new OutboxFiles(opts.stateDir, opts.name);
    this.baselineFile = new BaselineFile(opts.stateDir, opts.name);
  }

  get pending(): number {
    return this.outbox.size;
  }

  get lastSeq(): number {
    return this.seq;
  }

  async start(): Promise<void> {
    const { log } = this.opts;
    this.seq = await this.seqStore.load();
    this.credential = await this.loadCredential();
    // Reports a killed agent had not seen acknowledged: sent again after the next welcome.
    const stored = await this.outboxFiles.load();
    for (const path of stored.unreadable) log.warn({ path }, 'ignored an unreadable outbox file');
    for (const e of stored.entries) this.queue(e);
    const lastStored = stored.entries.at(-1)?.seq ?? 0;
    if (lastStored > this.seq) this.seq = lastStored;
    // What the host looked like at the last check before the agent stopped: the first check logs what changed since.
    const baseline = await this.baselineFile.load();
    if (baseline === 'unreadable') log.warn({ path: this.baselineFile.path }, 'ignored an unreadable change-log baseline: changes made while the agent was stopped are not logged this time');
    else if (baseline) this.changeLog = new ChangeLog(baseline);
    log.info({ host: this.opts.name, server: redactUrl(this.server), servers: this.servers.length, seq: this.seq, unacked: this.outbox.size, credential: this.credential.kind, intervalMs: this.opts.intervalMs, watch: this.opts.watch, lastCheck: typeof baseline === 'object' ? isoTime(baseline.at) : undefined }, 'agent starting');
    if (this.opts.kernel?.dropReasons) {
      // The agent stops on SIGTERM/SIGINT itself, and stop() removes the instance.
      const t = DropTracer.start({ signals: false });
      if ('tracer' in t) this.tracer = t.tracer;
      else {
        this.tracerMissing = t.unavailable;
        log.warn({ reason: t.unavailable }, 'drop reasons unavailable');
      }
    }
    if (this.opts.watch) {
      this.watcher = new ChangeWatcher({ windowMs: this.opts.debounceMs ?? 750, log, argv: this.opts.monitorArgv, onChange: (lines) => this.requestCheck('change', lines), onLine: (line, at) => this.changeLog.observe(line, at) });
      this.watcher.start();
    }
    const periodic = setInterval(() => this.requestCheck('periodic'), this.opts.intervalMs);
    this.timers.add(periodic);
    this.connect();
  }

  /** Stop cleanly: no new checks, close the connection, end ip monitor. */
  async stop(reason = 'stop requested'): Promise<void> {
    if (this.stopped) return this.done;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers.clear();
    this.stopHeartbeats();
    this.watcher?.stop();
    this.tracer?.stop();
    const ws = this.ws;
    if (ws && ws.readyState !== ws.CLOSED) {
      const closed = new Promise<void>((r) => ws.once('close', () => r()));
      ws.close(1000, 'agent stopping');
      const timeout = new Promise<void>((r) => setTimeout(() => (ws.terminate(), r()), 2000).unref());
      await Promise.race([closed, timeout]);
    }
    this.opts.log.info({ host: this.opts.name, reason, seq: this.seq, unacked: this.outbox.size, ...this.stats }, 'agent stopped');
    this.resolveDone();
  }

  private async loadCredential(): Promise<Hello['credential']> {
    const token = await readTokenFile(this.opts.tokenFile);
    if (token) return { kind: 'token', token };
    if (this.opts.enrolTokenFile) {
      const enrol = await readTokenFile(this.opts.enrolTokenFile);
      if (enrol) return { kind: 'enrol', token: enrol };
      throw new AgentCredentialError(`enrolment token file ${this.opts.enrolTokenFile} is missing or empty`);
    }
    throw new AgentCredentialError(`no credential: token file ${this.opts.tokenFile} is missing or empty, and no enrolment token file (enrolTokenFile / --enrol-token-file) was given`);
  }

  // ---- connection ----

  private connect(): void {
    if (this.stopped) return;
    const { log } = this.opts;
    let ws: WebSocket;
    try {
      ws = openSocket(this.server, { tls: this.opts.tls });
    } catch (err) {
      log.error({ err: (err as Error).message }, 'cannot open connection');
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.welcomed = false;
    this.serverSections = new Set();
    ws.on('open', () => {
      this.stats.connections++;
      this.send({ type: 'hello', protocol: PROTOCOL_VERSION, agentVersion: this.opts.agentVersion, name: this.opts.name, identity: this.opts.identity, credential: this.credential!, lastSeq: this.seq } satisfies Hello);
      // A server that never welcomes is as good as none.
      const t = setTimeout(() => !this.welcomed && ws.readyState === ws.OPEN && (log.warn('no welcome within 10 s; reconnecting'), ws.terminate()), 10_000);
      t.unref();
    });
    ws.on('message', (data, isBinary) => {
      dropInflate(ws, 'server_no_context_takeover');
      this.onMessage(isBinary ? '' : data.toString());
    });
    ws.on('error', (err) => log.warn({ err: err.message, server: redactUrl(this.server) }, 'connection error'));
    ws.on('close', (code, reason) => {
      if (this.ws === ws) this.ws = undefined;
      this.stopHeartbeats();
      if (this.stopped) return;
      log.info({ code, reason: reason.toString() || undefined, unacked: this.outbox.size }, 'disconnected');
      this.startFirstCheck();
      this.scheduleReconnect();
    });
  }

  /** The server URL in use. */
  get server(): string {
    return this.servers[this.serverIndex];
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    // The server in use failed: the next one (of several) is tried after the backoff.
    this.serverIndex = (this.serverIndex + 1) % this.servers.length;
    const delayMs = backoffDelay(this.attempt++, this.opts.backoff ?? DEFAULT_BACKOFF);
    this.opts.log.info({ attempt: this.attempt, delayMs, server: redactUrl(this.server) }, 'reconnecting after backoff');
    const t = setTimeout(() => (this.timers.delete(t), this.connect()), delayMs);
    this.timers.add(t);
  }

  private send(message: object | string): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== ws.OPEN) return false;
    // Once written, the message needs no zlib state: a report every few minutes keeps none between.
    ws.send(typeof message === 'string' ? message : JSON.stringify(message), () => dropDeflate(ws));
    return true;
  }

  private onMessage(data: string): void {
    const { log } = this.opts;
    const parsed = parseServerMessage(data);
    if (!parsed.ok) {
      this.stats.ignoredMessages++;
      log.warn({ type: parsed.type, reason: parsed.reason }, 'ignored server message (the agent takes only data: welcome, ack, context, heartbeat, error)');
      return;
    }
    const m = parsed.message;
    if (!this.welcomed && m.type !== 'welcome' && m.type !== 'error') {
      this.stats.ignoredMessages++;
      log.warn({ type: m.type }, 'ignored server message before welcome');
      return;
    }
    void this.handle(m).catch((err: Error) => log.error({ err: err.message, type: m.type }, 'handling a server message failed'));
  }

  private async handle(m: ServerMessage): Promise<void> {
    const { log } = this.opts;
    switch (m.type) {
      case 'welcome':
        return this.onWelcome(m);
      case 'ack': {
        const acked = this.outbox.ack(m.seq);
        for (const seq of acked) {
          this.stats.acked++;
          log.info({ host: this.opts.name, seq }, 'report acknowledged');
        }
        return this.forget(acked);
      }
      case 'context':
        return this.setContext(m.context, 'fleet context changed');
      case 'heartbeat':
        log.debug({ at: m.at }, 'server heartbeat');
        return;
      case 'error': {
        if (m.reason.startsWith('duplicate_name')) log.error({ reason: m.reason }, 'another agent reports under this name: give each agent its own --name');
        else log.warn({ reason: m.reason }, 'server reported an error');
        // A report the server will never take is not sent again and again: the oldest waiting one is the one it read.
        const refused = this.welcomed && REFUSED_CONTENT.test(m.reason) ? this.outbox.pending()[0] : undefined;
        if (refused) {
          this.outbox.remove(refused.seq);
          this.stats.dropped++;
          log.error({ seq: refused.seq, reason: m.reason }, 'the server refused the report; dropped');
          await this.forget([refused.seq]);
        }
        return;
      }
    }
  }

  private async onWelcome(w: Welcome): Promise<void> {
    const { log } = this.opts;
    if (this.welcomed) {
      log.warn('ignored a second welcome');
      return;
    }
    if (w.protocol !== PROTOCOL_VERSION) {
      log.error({ server: w.protocol, agent: PROTOCOL_VERSION }, 'server speaks another protocol version; reconnecting later');
      this.ws?.close(1002, 'protocol version');
      return;
    }
    this.welcomed = true;
    this.attempt = 0;
    this.maxPayload = w.maxPayload;
    if (w.issuedToken && this.credential?.kind === 'enrol') {
      await writeTokenFile(this.opts.tokenFile, w.issuedToken);
      this.credential = { kind: 'token', token: w.issuedToken };
      log.info({ tokenFile: this.opts.tokenFile }, 'enrolled: stored the issued token (mode 0600)');
    }
    const acked = this.outbox.ack(w.ackedSeq);
    for (const seq of acked) log.info({ host: this.opts.name, seq }, 'report acknowledged (by welcome)');
    await this.forget(acked);
    this.serverSections = new Set(w.sections ?? []);
    // A server that lost this host's sections (a new database) gets a full report at the next check.
    if (w.sections && this.outbox.size === 0 && this.lastSections.some((d) => !this.serverSections.has(d))) this.last = undefined;
    if (w.ackedSeq > this.seq) {
      // The server has seen later reports of this name (state lost): continue after them.
      this.seq = w.ackedSeq;
      await this.seqStore.save(this.opts.name, this.seq);
    }
    log.info({ host: w.host, ackedSeq: w.ackedSeq, peers: w.context.peers.length, resend: this.outbox.size, maxPayload: w.maxPayload }, 'welcomed');
    for (const e of [...this.outbox.pending()]) this.sendReport(e);
    this.startHeartbeats(w.heartbeatSeconds * 1000);
    await this.setContext(w.context, 'fleet context from welcome');
    this.startFirstCheck();
  }

  /** Send a report, after the sections it names that the server does not have. */
  private sendReport(entry: OutboxEntry): void {
    const { seq, text } = entry;
    const drop = (why: string, extra: object): void => {
      this.outbox.remove(seq);
      this.stats.dropped++;
      this.opts.log.error({ seq, ...extra }, why);
      void this.forget([seq]);
    };
    if (Buffer.byteLength(text) > this.maxPayload) return drop('report larger than the server accepts; dropped', { bytes: Buffer.byteLength(text), maxPayload: this.maxPayload });
    for (const s of entry.sections) {
      if (this.serverSections.has(s.digest)) continue;
      const content = this.sectionTexts.get(s.digest) ?? this.outboxFiles.readSection(s.digest);
      if (content === undefined) return drop('a section of the report is missing from the state dir; dropped', { section: s.kind, digest: s.digest });
      const chunks = sectionChunks(content, this.maxPayload);
      for (let index = 0; index < chunks.length; index++) {
        if (!this.send(JSON.stringify({ type: 'section', kind: s.kind, digest: s.digest, index, count: chunks.length, data: chunks[index] }))) return;
        // A piece is a buffer in the socket's queue once sent: its message text (megabytes) is garbage.
        if (chunks.length > 1) collectGarbage();
      }
      this.serverSections.add(s.digest);
      this.opts.log.debug({ seq, section: s.kind, chars: content.length, chunks: chunks.length }, 'section sent');
    }
    if (this.send(text)) this.opts.log.debug({ seq }, 'report sent');
  }

  /** Queue a report in memory (the oldest dropped when full, and its file removed). */
  private queue(entry: OutboxEntry): void {
    const dropped = this.outbox.push(entry);
    for (const old of dropped) {
      this.stats.dropped++;
      this.opts.log.warn({ seq: old.seq, dropped: this.outbox.dropped }, 'outbox full: dropped the oldest unacknowledged report');
    }
    if (dropped.length) void this.forget(dropped.map((e) => e.seq));
  }

  /** Remove acknowledged or dropped reports from the state dir. */
  private async forget(seqs: readonly number[]): Promise<void> {
    if (seqs.length === 0) return;
    await this.outboxFiles.remove(seqs, this.outbox.pending()).catch((err: Error) => this.opts.log.warn({ err: err.message }, 'cannot remove outbox files'));
  }

  private startHeartbeats(everyMs: number): void {
    this.stopHeartbeats();
    this.heartbeatTimer = setInterval(() => this.sendHeartbeat(), everyMs);
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private sendHeartbeat(): void {
    if (this.welcomed && this.send({ type: 'heartbeat', at: isoTime(), seq: this.seq })) this.stats.heartbeats++;
  }

  private async setContext(context: FleetContext, why: string): Promise<void> {
    if (sameContext(context, this.context)) return;
    this.context = context;
    this.opts.log.info({ peers: context.peers.length, remotes: context.remotes.length, ports: context.ports.length }, why);
    if (this.firstCheckStarted) this.requestCheck('fleet context');
  }

  // ---- checks ----

  /** The first check waits for the first welcome (its fleet context) or the first failure. */
  private startFirstCheck(): void {
    if (this.firstCheckStarted) return;
    this.firstCheckStarted = true;
    this.requestCheck('start');
  }

  /** Run a check now, or once more after the one running (changes during a check are not lost). */
  requestCheck(reason: string, lines: string[] = []): void {
    if (this.stopped) return;
    if (!this.firstCheckStarted && reason !== 'start') return;
    if (reason === 'change') {
      if (lines.length) this.opts.log.info({ lines: lines.slice(0, 5) }, 'network change seen');
      // Under churn the checks wait for the CPU budget; the change log counts what they missed.
      const wait = this.cpuBudget.waitMs();
      if (wait > 0) {
        if (!this.deferredChange) {
          this.opts.log.debug({ waitMs: wait }, 'change check deferred (CPU budget)');
          const t = setTimeout(() => (this.timers.delete(t), (this.deferredChange = undefined), this.requestCheck('change')), wait);
          this.deferredChange = t;
          this.timers.add(t);
        }
        return;
      }
    }
    if (this.checking) {
      this.checkAgain = reason;
      return;
    }
    this.checking = this.check(reason)
      .catch((err: Error) => this.opts.log.error({ err: err.message, reason }, 'check failed'))
      .finally(() => {
        this.checking = undefined;
        const again = this.checkAgain;
        this.checkAgain = undefined;
        if (again) this.requestCheck(again);
      });
  }

  private async check(reason: string): Promise<void> {
    const cpuBefore = cpuMs();
    try {
      await this.checkOnce(reason);
    } finally {
      // What the check left is garbage until the next one: collected now, the agent idles on its live set.
      collectAfterCheck();
      this.cpuBudget.spend(cpuMs() - cpuBefore);
    }
  }

  private async checkOnce(reason: string): Promise<void> {
    const started = performance.now();
    const look = await this.look();
    if (look === undefined) return;
    const { prepared, findings, evidence, routes } = look;
    // The snapshot and the bundle are unreachable now: on a big host their records and dumps are
    // garbage before the report is written and sent (docs/agent.md, "Memory").
    look.betweenSteps();
    const changes = this.unsentChanges;
    const digests = { snapshot: prepared.digest, findings: findingsDigest(findings) };
    const ms = Math.round(performance.now() - started);
    if (changes.length === 0 && this.last && this.last.snapshot === digests.snapshot && this.last.findings === digests.findings) {
      this.opts.log.debug({ reason, ms }, 'unchanged; heartbeat');
      this.sendHeartbeat();
      await this.saveBaseline();
      return;
    }
    this.last = digests;
    const seq = this.seq + 1;
    const message = buildReportMessage(seq, prepared, findings, Date.now(), evidence?.window, changes);
    const entry: OutboxEntry = { seq, text: JSON.stringify(message), sections: prepared.sections.map((s) => ({ kind: s.kind, digest: s.digest })) };
    this.sectionTexts = new Map(prepared.sections.map((s) => [s.digest, s.content]));
    look.betweenSteps();
    // The report is on disk before the counter moves: a kill -9 leaves no number unaccounted for.
    await this.outboxFiles.put(entry, this.sectionTexts);
    look.betweenSteps();
    this.unsentChanges = [];
    // Only now, with the changes on disk in a report, is the new state the baseline.
    await this.saveBaseline();
    this.seq = seq;
    await this.seqStore.save(this.opts.name, seq);
    this.lastSections = entry.sections.map((s) => s.digest);
    this.queue(entry);
    this.stats.reports++;
    const sectionChars = prepared.sections.reduce((n, s) => n + s.content.length, 0);
    this.opts.log.info({ seq, reason, findings: findings.length, changes: changes.length || undefined, routes, partial: message.snapshot.partial ? true : undefined, bytes: entry.text.length, sections: prepared.sections.length || undefined, sectionChars: sectionChars || undefined, ms, connected: this.welcomed }, 'report');
    if (this.welcomed) this.sendReport(entry);
    this.sectionTexts = new Map();
  }

  /**
   * One look at the host: collect, build the snapshot, settle the change log, analyse, prepare the
   * report's sections. Returns what the report needs and not the snapshot or the bundle, so they
   * are garbage once it returns; undefined when the agent stopped meanwhile.
   */
  private async look(): Promise<{ prepared: PreparedSnapshot; findings: Finding[]; evidence?: KernelEvidence; routes: number; betweenSteps: () => void } | undefined> {
    const lookStarted = Date.now();
    const bundle = await this.opts.collect();
    if (this.stopped) return undefined;
    bundle.meta.name = this.opts.name;
    const big = bundleCharacters(bundle) > COLLECT_ABOVE_CHARACTERS;
    const betweenSteps = (): void => {
      if (big) collectGarbage();
    };
    // What the collection left (the outputs' pieces, read 256 KiB at a time) and, after a start, the
    // baseline's text are garbage before nft's 40 MB dump is parsed.
    betweenSteps();
    const snapshot = buildSnapshotReleasing(bundle, betweenSteps);
    betweenSteps();
    // Kept until a report holds them: a check that fails after this point loses none.
    this.unsentChanges.push(...this.changeLog.settle(snapshot, Date.now(), lookStarted));
    if (this.changeLog.changed) this.baselineDirty = true;
    if (this.unsentChanges.length > MAX_REPORT_CHANGES) this.unsentChanges.splice(0, this.unsentChanges.length - MAX_REPORT_CHANGES);
    // The state's pieces (its strings before they were flattened) are garbage before the analysis.
    betweenSteps();
    const addresses = new Set(snapshot.interfaces.flatMap((i) => i.addresses.map((a) => a.cidr.split('/')[0])));
    const { rejected, ...analyze } = analysisOptions(this.opts.config, this.context, { name: this.opts.name, addresses });
    if (rejected.length) this.opts.log.warn({ rejected: rejected.slice(0, 10) }, 'ignored invalid entries in the fleet context');
    const analysis = analyzeSnapshot(analysisView(snapshot), analyze);
    const evidence = this.opts.kernel ? await this.kernelEvidence(snapshot, analysis.findings) : undefined;
    if (this.stopped) return undefined;
    const findings = joinKernelEvidence(analysis.findings, evidence, this.opts.name);
    this.stats.checks++;
    const routes = snapshot.routes.length;
    if (optimizeForRoutes(routes)) this.opts.log.info({ routes }, 'big route table: optimizing compiler on');
    betweenSteps();
    const prepared = prepareSnapshot(snapshot, bundle, { maxRoutes: this.opts.maxRoutes });
    return { prepared, findings, evidence, routes, betweenSteps };
  }

  /** Save the change log's state as the baseline when it changed, else mark the saved one as still true now. */
  private async saveBaseline(): Promise<void> {
    const state = this.changeLog.state;
    if (!state) return;
    try {
      if (this.baselineDirty) await this.baselineFile.save(state);
      else await this.baselineFile.confirm(Date.now());
      this.baselineDirty = false;
    } catch (err) {
      // A missing file (removed by hand) is written again at the next check.
      this.baselineDirty = true;
      this.opts.log.warn({ err: (err as Error).message }, 'cannot save the change-log baseline');
    }
  }

  /**
   * The kernel's side of this check: the findings' route questions, and the drop counters (and
   * drop reasons) since the previous check — the first check only starts the window.
   */
  private async kernelEvidence(snapshot: HostSnapshot, findings: readonly Finding[]): Promise<KernelEvidence> {
    const routes = await askRoutes(RouteAsker.start(), routeQueriesOf(findings));
    const sample = sampleWith(ruleCounters(snapshot.netfilter, snapshot.nft));
    const drops: DropReasons | undefined = this.tracer ? this.tracer.take() : this.tracerMissing ? { status: 'unavailable', message: this.tracerMissing, drops: [], systemWide: true } : undefined;
    const before = this.counters;
    this.counters = sample;
    return before ? { routes, window: windowOf(before, sample, drops) } : { routes };
  }
}

/**
 * The snapshot as the analysis reads it: the same records under new objects for the snapshot, its
 * netfilter tables and its ipsets. What the analysis derives and keeps beside those objects (the
 * FIB, the compiled chains and sets: memos, src/model/memo.ts) is then garbage once the analysis
 * is done, not kept as long as the snapshot: a million routes' FIB (~13 MB) is not alive while
 * the report's sections are made.
 */
function analysisView(s: HostSnapshot): HostSnapshot {
  const tables = (list: HostSnapshot['netfilter']['v4']): HostSnapshot['netfilter']['v4'] => list.map((t) => ({ ...t }));
  return { ...s, netfilter: { ...s.netfilter, v4: tables(s.netfilter.v4), v6: tables(s.netfilter.v6) }, ipsets: [...s.ipsets] };
}
