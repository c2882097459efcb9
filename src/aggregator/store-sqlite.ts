/**
 * The embedded store: one SQLite file (better-sqlite3, WAL), for one aggregator process. What it
 * holds and how it behaves: store.ts (the Store interface); the schema: store-migrations.ts.
 * better-sqlite3 answers synchronously; the methods are async only to share the interface with
 * the PostgreSQL store.
 */
import Database from 'better-sqlite3';
import type { Finding } from '../model/finding.js';
import type { SectionKind } from '../model/protocol.js';
import { SqliteChangeTable } from './store-changes-sqlite.js';
import { MIGRATIONS } from './store-migrations.js';
import {
  filterFindings, hostLikePattern, hostRow, mergedFindingBody, reportRow, storedFinding, StoreError,
  type CommitInput, type FindingDbRow, type FindingFilter, type HostRow, type HostSections, type IssuedToken, type ReportRow, type Store,
  type StoredFinding, type StoredSection, type StoredSnapshot,
} from './store.js';

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly db: Database.Database;
  private readonly historyPerHost: number;
  private readonly stmts: ReturnType<SqliteStore['prepare']>;
  /** The hosts' change logs and the findings' triggers (store-changes-sqlite.ts). */
  readonly changes: SqliteChangeTable;

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
    this.changes = new SqliteChangeTable(this.db);
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
      snapshots: db.prepare('SELECT name, digest, snapshot, sections FROM hosts WHERE snapshot IS NOT NULL AND name > ? ORDER BY name LIMIT 500'),
      digests: db.prepare('SELECT name, digest FROM hosts WHERE snapshot IS NOT NULL'),
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
  async commitReports(inputs: CommitInput[]): Promise<void> {
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
    // The changes first: a finding this report opens may name one of them as its trigger.
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
  async commitFleet(found: Finding[], resolved: string[], now: string): Promise<void> {
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
    const body = mergedFindingBody(f, source, row, () => JSON.parse((this.stmts.findingBody.get(f.key) as { body: string }).body) as Finding);
    this.stmts.reopenFinding.run({ key: f.key, severity: f.severity, body, now, fromHost, fromFleet });
  }

  async lastSeq(host: string): Promise<number> {
    return (this.stmts.lastSeq.get(host) as { last_seq: number } | undefined)?.last_seq ?? 0;
  }

  async hasReport(host: string, seq: number): Promise<boolean> {
    return this.stmts.hasReport.get(host, seq) !== undefined;
  }

  /** Record heartbeats' last-seen times in one transaction. */
  async touch(lastSeen: Map<string, string>): Promise<void> {
    this.db.transaction(() => {
      for (const [name, at] of lastSeen) this.stmts.touch.run(at, name);
    })();
  }

  /** Mark hosts silent since before `cutoff` stale; returns the newly stale names. */
  async markStale(cutoff: string): Promise<string[]> {
    return (this.stmts.markStale.all(cutoff) as { name: string }[]).map((r) => r.name);
  }

  async hosts(): Promise<HostRow[]> {
    return (this.stmts.hosts.all() as Record<string, unknown>[]).map(hostRow);
  }

  async host(name: string): Promise<HostRow | undefined> {
    const r = this.stmts.host.get(name) as Record<string, unknown> | undefined;
    return r ? hostRow(r) : undefined;
  }

  async snapshot(name: string): Promise<unknown> {
    const r = this.stmts.snapshot.get(name) as { snapshot: string | null } | undefined;
    return r?.snapshot ? JSON.parse(r.snapshot) : undefined;
  }

  /** Pages of 500 by name: no statement stays open while the caller awaits (a write meanwhile would find the connection busy). */
  async *snapshots(): AsyncGenerator<StoredSnapshot> {
    let after = '';
    for (;;) {
      const page = this.stmts.snapshots.all(after) as { name: string; digest: string | null; snapshot: string; sections: string | null }[];
      for (const r of page) yield { name: r.name, digest: r.digest, snapshot: JSON.parse(r.snapshot), sections: r.sections ? (JSON.parse(r.sections) as HostSections) : {} };
      if (page.length < 500) return;
      after = page[page.length - 1].name;
    }
  }

  async hostDigests(): Promise<Map<string, string | null>> {
    return new Map((this.stmts.digests.all() as { name: string; digest: string | null }[]).map((r) => [r.name, r.digest]));
  }

  async putSection(digest: string, kind: SectionKind, content: string, now: string): Promise<void> {
    this.stmts.putSection.run(digest, kind, Buffer.byteLength(content), content, now);
  }

  async section(digest: string): Promise<StoredSection | undefined> {
    return this.stmts.section.get(digest) as StoredSection | undefined;
  }

  async hostSections(host: string): Promise<HostSections> {
    const r = this.stmts.hostSections.get(host) as { sections: string | null } | undefined;
    return r?.sections ? (JSON.parse(r.sections) as HostSections) : {};
  }

  async pruneSections(cutoff: string): Promise<number> {
    return this.stmts.pruneSections.run(cutoff).changes;
  }

  async reports(host: string, limit?: number): Promise<ReportRow[]> {
    return (this.stmts.reports.all(host) as Record<string, unknown>[]).slice(0, limit).map(reportRow);
  }

  async findings(filter: FindingFilter = {}, now = new Date().toISOString()): Promise<StoredFinding[]> {
    const where: string[] = [];
    const args: Record<string, unknown> = { now };
    if (filter.severity) { where.push('f.severity = @severity'); args.severity = filter.severity; }
    if (filter.check) { where.push('f.check_id = @check'); args.check = filter.check; }
    if (filter.host) { where.push('(f.host = @host OR f.body LIKE @hostLike)'); args.host = filter.host; args.hostLike = hostLikePattern(filter.host); }
    const sql = `SELECT f.*, a.state AS ack_state, a.who, a.why, a.until, a.at FROM findings f
      LEFT JOIN acks a ON a.key = f.key AND (a.until IS NULL OR a.until > @now)
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY f.resolved_at IS NOT NULL, f.host, f.check_id, f.subject`;
    return filterFindings((this.db.prepare(sql).all(args) as FindingDbRow[]).map(storedFinding), filter);
  }

  async finding(key: string): Promise<StoredFinding | undefined> {
    return (await this.findings({})).find((f) => f.finding.key === key);
  }

  /** Acknowledge or silence a finding by key; false when no such finding. */
  async setAck(key: string, ack: { state: 'acknowledged' | 'silenced'; who: string; why: string; until?: string }): Promise<boolean> {
    if (!this.stmts.findingRow.get(key)) return false;
    this.stmts.ack.run({ key, state: ack.state, who: ack.who, why: ack.why, until: ack.until ?? null, at: new Date().toISOString() });
    return true;
  }

  async clearAck(key: string): Promise<boolean> {
    return this.stmts.unack.run(key).changes > 0;
  }

  async tokenByHash(hash: string): Promise<IssuedToken | undefined> {
    return this.stmts.tokenByHash.get(hash) as IssuedToken | undefined;
  }

  async tokenByHost(host: string): Promise<IssuedToken | undefined> {
    return this.stmts.tokenByHost.get(host) as IssuedToken | undefined;
  }

  async putToken(t: IssuedToken): Promise<void> {
    this.stmts.putToken.run(t.host, t.tokenHash, t.instanceId, t.via, new Date().toISOString());
  }

  async schemaVersion(): Promise<number> {
    return (this.db.prepare('SELECT max(version) AS v FROM migrations').get() as { v: number | null }).v ?? 0;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
