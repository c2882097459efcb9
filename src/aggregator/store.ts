/**
 * The aggregator's store: one SQLite file (better-sqlite3, WAL). Per host: identity, latest
 * snapshot, a bounded report history; findings with first seen, last seen and resolved, from
 * the host's own report, the fleet match, or both (one row per key); acks and silences; tokens
 * issued at enrolment (hashes only); sections (a version 2 snapshot's big parts) by digest. A
 * report is committed in one transaction before its ack.
 */
import Database from 'better-sqlite3';
import type { Finding, Severity } from '../model/finding.js';
import type { Hello, ReportMessage, SectionKind } from '../model/protocol.js';
import type { FindingTrigger } from '../model/changes.js';
import { ChangeTable } from './store-changes.js';
import { MIGRATIONS } from './store-migrations.js';

export type FindingState = 'open' | 'resolved' | 'acknowledged' | 'silenced';

export interface StoredFinding {
  finding: Finding;
  sources: ('host' | 'fleet')[];
  firstSeen: string;
  lastSeen: string;
  resolvedAt: string | null;
  state: FindingState;
  ack?: { state: 'acknowledged' | 'silenced'; who: string; why: string; until: string | null; at: string };
}

export interface HostRow {
  name: string;
  hostname: string;
  machineId: string | null;
  instanceId: string | null;
  agentVersion: string | null;
  firstSeen: string;
  lastSeen: string;
  lastSeq: number;
  digest: string | null;
  complete: boolean;
  stale: boolean;
}

export interface ReportRow {
  seq: number;
  sentAt: string;
  receivedAt: string;
  digest: string;
  bytes: number;
  findings: number;
  complete: boolean;
}

export interface IssuedToken {
  host: string;
  tokenHash: string;
  instanceId: string | null;
  via: string;
}

export interface FindingFilter {
  severity?: Severity;
  check?: string;
  host?: string;
  state?: FindingState;
  limit?: number;
}

/** A host's sections by kind (what its stored snapshot leaves out). */
export type HostSections = Partial<Record<SectionKind, string>>;

export interface StoredSection {
  kind: SectionKind;
  content: string;
}

/**
 * What the aggregator asks of a store about sections. Whatever a report's digest names must
 * resolve here, not in one process's memory: a store shared by several aggregators (PostgreSQL
 * replicas) answers for all of them.
 */
export interface SectionStore {
  /** Store a section under its digest (a digest already stored is kept as it is). */
  putSection(digest: string, kind: SectionKind, content: string, now: string): void;
  section(digest: string): StoredSection | undefined;
  /** The sections of the host's stored snapshot. */
  hostSections(host: string): HostSections;
  /** Remove sections stored before `cutoff` that no host's snapshot names; returns how many. */
  pruneSections(cutoff: string): number;
}

export interface CommitInput {
  hello: Hello;
  report: ReportMessage;
  bytes: number;
  receivedAt: string;
  /** Fleet findings found / resolved by the match this report triggered. */
  fleetFound: Finding[];
  fleetResolved: Finding[];
}

/** Raised when the database cannot be opened or migrated; keeps the driver's error as cause. */
export class StoreError extends Error {
  override name = 'StoreError';
}

interface FindingDbRow {
  key: string; body: string; from_host: number; from_fleet: number; first_seen: string; last_seen: string; resolved_at: string | null;
  ack_state: 'acknowledged' | 'silenced' | null; who: string | null; why: string | null; until: string | null; at: string | null;
  trigger_change?: string | null; resolved_by?: string | null;
}

export class Store implements SectionStore {
  readonly db: Database.Database;
  private readonly historyPerHost: number;
  private readonly stmts: ReturnType<Store['prepare']>;
  /** The hosts' change logs and the findings' triggers (store-changes.ts). */
  readonly changes: ChangeTable;

  constructor(file: string, options: { historyPerHost?: number } = {}) {
    try {
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
      // WAL + NORMAL: a commit survives the process being killed; fsync happens at checkpoints.
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      this.migrate();
    } catch (err) {
      throw new StoreError(`cannot open the database ${file}: ${(err as Error).message}`, { cause: err });
    }
    this.historyPerHost = options.historyPerHost ?? 100;
    this.stmts = this.prepare();
    this.changes = new ChangeTable(this.db);
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    const done = new Set((this.db.prepare('SELECT version FROM migrations').all() as { version: number }[]).map((r) => r.version));
    MIGRATIONS.forEach((step, i) => {
      if (done.has(i + 1)) return;
      this.db.transaction(() => {
        if (typeof step === 'string') this.db.exec(step); else step(this.db);
        this.db.prepare('INSERT INTO migrations (version, applied_at) VALUES (?, ?)').run(i + 1, new Date().toISOString());
      })();
    });
  }

  private prepare() {
    const db = this.db;
    return {
      upsertHost: db.prepare(`INSERT INTO hosts (name, hostname, machine_id, instance_id, agent_version, first_seen, last_seen, last_seq, digest, snapshot, sections, complete, stale)
        VALUES (@name, @hostname, @machineId, @instanceId, @agentVersion, @now, @now, @seq, @digest, @snapshot, @sections, @complete, 0)
        ON CONFLICT (name) DO UPDATE SET hostname = @hostname, machine_id = @machineId, instance_id = @instanceId, agent_version = @agentVersion,
          last_seen = @now, last_seq = max(last_seq, @seq), digest = @digest, sections = CASE WHEN @snapshot IS NULL THEN sections ELSE @sections END,
          snapshot = coalesce(@snapshot, snapshot), complete = @complete, stale = 0`),
      putSection: db.prepare('INSERT OR IGNORE INTO sections (digest, kind, bytes, content, stored_at) VALUES (?, ?, ?, ?, ?)'),
      section: db.prepare('SELECT kind, content FROM sections WHERE digest = ?'),
      hostSections: db.prepare('SELECT sections FROM hosts WHERE name = ?'),
      pruneSections: db.prepare(`DELETE FROM sections WHERE stored_at < ? AND digest NOT IN
        (SELECT j.value FROM hosts, json_each(hosts.sections) j WHERE hosts.sections IS NOT NULL)`),
      insertReport: db.prepare(`INSERT OR IGNORE INTO reports (host, seq, sent_at, received_at, digest, bytes, findings, complete)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      trimReports: db.prepare(`DELETE FROM reports WHERE host = ? AND seq <= (SELECT seq FROM reports WHERE host = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`),
      hostFindingKeys: db.prepare('SELECT key FROM findings WHERE host = ? AND from_host = 1'),
      findingRow: db.prepare('SELECT from_host, from_fleet, resolved_at FROM findings WHERE key = ?'),
      insertFinding: db.prepare(`INSERT INTO findings (key, check_id, host, subject, severity, from_host, from_fleet, body, first_seen, last_seen)
        VALUES (@key, @check, @host, @subject, @severity, @fromHost, @fromFleet, @body, @now, @now)`),
      reopenFinding: db.prepare(`UPDATE findings SET severity = @severity, body = @body, last_seen = @now,
        from_host = max(from_host, @fromHost), from_fleet = max(from_fleet, @fromFleet),
        first_seen = CASE WHEN resolved_at IS NULL THEN first_seen ELSE @now END,
        trigger_change = CASE WHEN resolved_at IS NULL THEN trigger_change ELSE NULL END, resolved_by = NULL, resolved_at = NULL WHERE key = @key`),
      dropSource: db.prepare(`UPDATE findings SET from_host = from_host * @keepHost, from_fleet = from_fleet * @keepFleet,
        resolved_at = CASE WHEN from_host * @keepHost + from_fleet * @keepFleet = 0 THEN @now ELSE resolved_at END WHERE key = @key`),
      lastSeq: db.prepare('SELECT last_seq FROM hosts WHERE name = ?'),
      hostDigest: db.prepare('SELECT digest FROM hosts WHERE name = ?'),
      findingBody: db.prepare('SELECT body FROM findings WHERE key = ?'),
      touch: db.prepare('UPDATE hosts SET last_seen = ?, stale = 0 WHERE name = ?'),
      markStale: db.prepare('UPDATE hosts SET stale = 1 WHERE last_seen < ? AND stale = 0 RETURNING name'),
      hosts: db.prepare('SELECT * FROM hosts ORDER BY name'),
      host: db.prepare('SELECT * FROM hosts WHERE name = ?'),
      snapshot: db.prepare('SELECT snapshot FROM hosts WHERE name = ?'),
      snapshots: db.prepare('SELECT name, snapshot, sections FROM hosts WHERE snapshot IS NOT NULL'),
      reports: db.prepare('SELECT * FROM reports WHERE host = ? ORDER BY seq DESC'),
      hasReport: db.prepare('SELECT 1 FROM reports WHERE host = ? AND seq = ?'),
      ack: db.prepare(`INSERT INTO acks (key, state, who, why, until, at) VALUES (@key, @state, @who, @why, @until, @at)
        ON CONFLICT (key) DO UPDATE SET state = @state, who = @who, why = @why, until = @until, at = @at`),
      unack: db.prepare('DELETE FROM acks WHERE key = ?'),
      tokenByHash: db.prepare('SELECT host, token_hash AS tokenHash, instance_id AS instanceId, via FROM issued_tokens WHERE token_hash = ?'),
      tokenByHost: db.prepare('SELECT host, token_hash AS tokenHash, instance_id AS instanceId, via FROM issued_tokens WHERE host = ?'),
      putToken: db.prepare(`INSERT INTO issued_tokens (host, token_hash, instance_id, via, issued_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (host) DO UPDATE SET token_hash = excluded.token_hash, instance_id = excluded.instance_id, via = excluded.via, issued_at = excluded.issued_at`),
    };
  }

  /**
   * Store reports (in arrival order), their host findings and fleet diffs in one transaction.
   * Returns when committed. Of several reports of one host only the last one's snapshot is written.
   */
  commitReports(inputs: CommitInput[]): void {
    const last = new Map<string, CommitInput>();
    for (const input of inputs) last.set(input.hello.name, input);
    this.db.transaction(() => {
      for (const [name, input] of last) {
        // An unchanged digest means an unchanged snapshot: keep the stored one.
        const stored = (this.stmts.hostDigest.get(name) as { digest: string | null } | undefined)?.digest;
        if (stored === input.report.digest) last.delete(name);
      }
      for (const input of inputs) this.writeReport(input, last.get(input.hello.name) === input);
    })();
  }

  /** One report; `withSnapshot` when its snapshot is the one to store. */
  private writeReport(input: CommitInput, withSnapshot: boolean): void {
    const { hello, report } = input;
    const now = input.receivedAt;
    const name = hello.name;
    this.stmts.upsertHost.run({
      name, hostname: hello.identity.hostname, machineId: hello.identity.machineId ?? null, instanceId: hello.identity.instanceId ?? null,
      agentVersion: hello.agentVersion, now, seq: report.seq, digest: report.digest, complete: report.complete ? 1 : 0,
      snapshot: withSnapshot ? JSON.stringify(report.snapshot) : null, sections: report.sections ? JSON.stringify(report.sections) : null,
    });
    this.stmts.insertReport.run(name, report.seq, report.sentAt, now, report.digest, input.bytes, report.findings.length, report.complete ? 1 : 0);
    this.stmts.trimReports.run(name, name, this.historyPerHost);
    if (report.changes) this.changes.insert({ host: name, seq: report.seq, sentAt: report.sentAt, receivedAt: now }, report.changes);
    const before = new Set((this.stmts.hostFindingKeys.all(name) as { key: string }[]).map((r) => r.key));
    const touched = [...before];
    for (const f of report.findings) {
      before.delete(f.key);
      this.upsertFinding(f, 'host', now);
      touched.push(f.key);
    }
    for (const key of before) this.stmts.dropSource.run({ key, keepHost: 0, keepFleet: 1, now });
    for (const f of input.fleetFound) this.upsertFinding(f, 'fleet', now);
    for (const f of input.fleetResolved) this.stmts.dropSource.run({ key: f.key, keepHost: 1, keepFleet: 0, now });
    this.changes.settleTriggers([...touched, ...input.fleetFound.map((f) => f.key), ...input.fleetResolved.map((f) => f.key)], now);
  }

  /** Apply a fleet diff on its own (start-up reconciliation, host removal). */
  commitFleet(found: Finding[], resolved: string[], now: string): void {
    this.db.transaction(() => {
      for (const f of found) this.upsertFinding(f, 'fleet', now);
      for (const key of resolved) this.stmts.dropSource.run({ key, keepHost: 1, keepFleet: 0, now });
      this.changes.settleTriggers([...found.map((f) => f.key), ...resolved], now);
    })();
  }

  private upsertFinding(f: Finding, source: 'host' | 'fleet', now: string): void {
    const row = this.stmts.findingRow.get(f.key) as { from_host: number; from_fleet: number } | undefined;
    const fromHost = source === 'host' ? 1 : 0;
    const fromFleet = source === 'fleet' ? 1 : 0;
    if (!row) {
      this.stmts.insertFinding.run({ key: f.key, check: f.check, host: f.host, subject: f.subject, severity: f.severity, fromHost, fromFleet, body: JSON.stringify(f), now });
      return;
    }
    // The fleet's text names both sides: it wins over the host's while the fleet reports it. The
    // host's kernel verdict is the only one (the fleet asks no kernel): it is kept either way.
    const keepFleetBody = source === 'host' && row.from_fleet === 1;
    const stored = keepFleetBody || (source === 'fleet' && row.from_host === 1) ? JSON.parse((this.stmts.findingBody.get(f.key) as { body: string }).body) as Finding : undefined;
    const kernel = source === 'host' ? f.kernel : stored?.kernel;
    const base = keepFleetBody ? stored! : f;
    const body = JSON.stringify(kernel ? { ...base, kernel } : base);
    this.stmts.reopenFinding.run({ key: f.key, severity: f.severity, body, now, fromHost, fromFleet });
  }

  lastSeq(host: string): number {
    return (this.stmts.lastSeq.get(host) as { last_seq: number } | undefined)?.last_seq ?? 0;
  }

  hasReport(host: string, seq: number): boolean {
    return this.stmts.hasReport.get(host, seq) !== undefined;
  }

  /** Record heartbeats' last-seen times in one transaction. */
  touch(lastSeen: Map<string, string>): void {
    this.db.transaction(() => {
      for (const [name, at] of lastSeen) this.stmts.touch.run(at, name);
    })();
  }

  /** Mark hosts silent since before `cutoff` stale; returns the newly stale names. */
  markStale(cutoff: string): string[] {
    return (this.stmts.markStale.all(cutoff) as { name: string }[]).map((r) => r.name);
  }

  hosts(): HostRow[] {
    return (this.stmts.hosts.all() as Record<string, unknown>[]).map(hostRow);
  }

  host(name: string): HostRow | undefined {
    const r = this.stmts.host.get(name) as Record<string, unknown> | undefined;
    return r ? hostRow(r) : undefined;
  }

  snapshot(name: string): unknown {
    const r = this.stmts.snapshot.get(name) as { snapshot: string | null } | undefined;
    return r?.snapshot ? JSON.parse(r.snapshot) : undefined;
  }

  /** Every stored snapshot (without its sections) and the sections it names, to rebuild the fleet index at start-up. */
  *snapshots(): Generator<{ name: string; snapshot: unknown; sections: HostSections }> {
    for (const r of this.stmts.snapshots.iterate() as Iterable<{ name: string; snapshot: string; sections: string | null }>) {
      yield { name: r.name, snapshot: JSON.parse(r.snapshot), sections: r.sections ? (JSON.parse(r.sections) as HostSections) : {} };
    }
  }

  putSection(digest: string, kind: SectionKind, content: string, now: string): void {
    this.stmts.putSection.run(digest, kind, Buffer.byteLength(content), content, now);
  }

  section(digest: string): StoredSection | undefined {
    return this.stmts.section.get(digest) as StoredSection | undefined;
  }

  hostSections(host: string): HostSections {
    const r = this.stmts.hostSections.get(host) as { sections: string | null } | undefined;
    return r?.sections ? (JSON.parse(r.sections) as HostSections) : {};
  }

  pruneSections(cutoff: string): number {
    return this.stmts.pruneSections.run(cutoff).changes;
  }

  reports(host: string): ReportRow[] {
    return (this.stmts.reports.all(host) as Record<string, unknown>[]).map((r) => ({
      seq: r.seq as number, sentAt: r.sent_at as string, receivedAt: r.received_at as string, digest: r.digest as string,
      bytes: r.bytes as number, findings: r.findings as number, complete: r.complete === 1,
    }));
  }

  findings(filter: FindingFilter = {}, now = new Date().toISOString()): StoredFinding[] {
    const where: string[] = [];
    const args: Record<string, unknown> = { now };
    if (filter.severity) { where.push('f.severity = @severity'); args.severity = filter.severity; }
    if (filter.check) { where.push('f.check_id = @check'); args.check = filter.check; }
    if (filter.host) { where.push('(f.host = @host OR f.body LIKE @hostLike)'); args.host = filter.host; args.hostLike = `%"pairs":[%"${filter.host.replace(/[%_"\\]/g, '')}"%`; }
    const sql = `SELECT f.*, a.state AS ack_state, a.who, a.why, a.until, a.at FROM findings f
      LEFT JOIN acks a ON a.key = f.key AND (a.until IS NULL OR a.until > @now)
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY f.resolved_at IS NOT NULL, f.host, f.check_id, f.subject`;
    let rows = (this.db.prepare(sql).all(args) as FindingDbRow[]).map(storedFinding);
    if (filter.host) rows = rows.filter((r) => r.finding.host === filter.host || (r.finding as Finding & { pairs?: string[][] }).pairs?.some((p) => p.includes(filter.host!)));
    if (filter.state) rows = rows.filter((r) => r.state === filter.state);
    return filter.limit ? rows.slice(0, filter.limit) : rows;
  }

  finding(key: string): StoredFinding | undefined {
    return this.findings({}).find((f) => f.finding.key === key);
  }

  /** Acknowledge or silence a finding by key; false when no such finding. */
  setAck(key: string, ack: { state: 'acknowledged' | 'silenced'; who: string; why: string; until?: string }): boolean {
    if (!this.stmts.findingRow.get(key)) return false;
    this.stmts.ack.run({ key, state: ack.state, who: ack.who, why: ack.why, until: ack.until ?? null, at: new Date().toISOString() });
    return true;
  }

  clearAck(key: string): boolean {
    return this.stmts.unack.run(key).changes > 0;
  }

  tokenByHash(hash: string): IssuedToken | undefined {
    return this.stmts.tokenByHash.get(hash) as IssuedToken | undefined;
  }

  tokenByHost(host: string): IssuedToken | undefined {
    return this.stmts.tokenByHost.get(host) as IssuedToken | undefined;
  }

  putToken(t: IssuedToken): void {
    this.stmts.putToken.run(t.host, t.tokenHash, t.instanceId, t.via, new Date().toISOString());
  }

  close(): void {
    this.db.close();
  }
}

function hostRow(r: Record<string, unknown>): HostRow {
  return {
    name: r.name as string, hostname: r.hostname as string, machineId: r.machine_id as string | null, instanceId: r.instance_id as string | null,
    agentVersion: r.agent_version as string | null, firstSeen: r.first_seen as string, lastSeen: r.last_seen as string,
    lastSeq: r.last_seq as number, digest: r.digest as string | null, complete: r.complete === 1, stale: r.stale === 1,
  };
}

function storedFinding(r: FindingDbRow): StoredFinding {
  const sources: ('host' | 'fleet')[] = [];
  if (r.from_host) sources.push('host');
  if (r.from_fleet) sources.push('fleet');
  const ack = r.ack_state ? { state: r.ack_state, who: r.who!, why: r.why!, until: r.until, at: r.at! } : undefined;
  const state: FindingState = r.resolved_at ? 'resolved' : ack ? ack.state : 'open';
  const finding = JSON.parse(r.body) as Finding;
  // The timeline's word on it: set by the store, never by an agent (a body that carries one is not believed).
  delete finding.trigger;
  delete finding.resolvedBy;
  if (r.trigger_change) finding.trigger = JSON.parse(r.trigger_change) as FindingTrigger;
  if (r.resolved_by && r.resolved_at) finding.resolvedBy = JSON.parse(r.resolved_by) as FindingTrigger;
  return { finding, sources, firstSeen: r.first_seen, lastSeen: r.last_seen, resolvedAt: r.resolved_at, state, ...(ack ? { ack } : {}) };
}
