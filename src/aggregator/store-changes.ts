/**
 * The timeline's part of the store (SQLite): the hosts' change logs (table `changes`), and each
 * finding's trigger and resolving change (columns `findings.trigger_change`, `findings.resolved_by`),
 * chosen when the finding opens or resolves, inside the transaction that opens or resolves it, so
 * every aggregator reading the store serves the same. Kept apart from store.ts so a PostgreSQL
 * store ports one small file: its SQL is plain (an IN over a JSON list is the only SQLite-ism).
 */
import type Database from 'better-sqlite3';
import { changeText } from '../changes/text.js';
import { pickTrigger, type TriggerCandidate } from '../changes/trigger.js';
import type { FindingTrigger, HostChange, StoredChange } from '../model/changes.js';
import type { Finding } from '../model/finding.js';

/** Churn entries of one record arriving within this long of the last one are folded into it. */
export const CHANGE_FOLD_MS = 5 * 60_000;
/** Default retention of the change log (`serve --timeline-days`). */
export const DEFAULT_TIMELINE_DAYS = 30;
/** Changes looked at when choosing a trigger: the latest this many of the finding's hosts. */
const TRIGGER_CANDIDATES = 200;

export interface ChangeFilter {
  hosts?: string[];
  /** ISO times on the aggregator's clock: changes whose time span meets [since, until]. */
  since?: string;
  until?: string;
  limit?: number;
}

/** A stored change as the API serves it, with its words. */
export type ServedChange = StoredChange & { lastServerAt: string; text: string };

interface ChangeRow {
  id: number; host: string; seq: number; at: string; last_at: string | null; server_at: string; last_server_at: string; received_at: string;
  kind: string; action: string; subject: string; line_before: string | null; line_after: string | null; owner: string; count: number;
}

/** The report a change came with: its host, number and times. */
export interface ChangeSource {
  host: string;
  seq: number;
  sentAt: string;
  receivedAt: string;
}

export class ChangeTable {
  private readonly stmts: ReturnType<ChangeTable['prepare']>;

  constructor(private readonly db: Database.Database) {
    this.stmts = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      latestOf: db.prepare('SELECT id, action, owner, last_server_at FROM changes WHERE host = ? AND kind = ? AND subject = ? ORDER BY id DESC LIMIT 1'),
      fold: db.prepare('UPDATE changes SET count = count + @count, last_at = @lastAt, last_server_at = @lastServerAt, line_before = @before, line_after = @after WHERE id = @id'),
      insert: db.prepare(`INSERT INTO changes (host, seq, at, last_at, server_at, last_server_at, received_at, kind, action, subject, line_before, line_after, owner, count)
        VALUES (@host, @seq, @at, @lastAt, @serverAt, @lastServerAt, @receivedAt, @kind, @action, @subject, @before, @after, @owner, @count)`),
      candidates: db.prepare(`SELECT * FROM changes WHERE host IN (SELECT value FROM json_each(?)) AND received_at <= ?
        ORDER BY last_server_at DESC, id DESC LIMIT ${TRIGGER_CANDIDATES}`),
      finding: db.prepare('SELECT key, body, first_seen, resolved_at, trigger_change, resolved_by FROM findings WHERE key = ?'),
      setTrigger: db.prepare('UPDATE findings SET trigger_change = ? WHERE key = ?'),
      setResolvedBy: db.prepare('UPDATE findings SET resolved_by = ? WHERE key = ?'),
      prune: db.prepare('DELETE FROM changes WHERE last_server_at < ?'),
    };
  }

  /**
   * Store the changes a report carried. `serverAt` is the change's time on this server's clock:
   * the receive time less how long before sending the agent saw it. A churn entry (rewritten,
   * transient) of the record the host's last entry is about, within CHANGE_FOLD_MS, is folded into it.
   */
  insert(source: ChangeSource, changes: readonly HostChange[]): void {
    const received = Date.parse(source.receivedAt);
    const sent = Date.parse(source.sentAt);
    const onServer = (at: string): string => {
      const lag = sent - Date.parse(at);
      return new Date(Number.isFinite(lag) && lag > 0 ? received - lag : received).toISOString();
    };
    for (const c of changes) {
      const serverAt = onServer(c.at);
      const lastServerAt = c.lastAt ? onServer(c.lastAt) : serverAt;
      const owner = JSON.stringify(c.owner);
      const values = { before: c.before ?? null, after: c.after ?? null, lastAt: c.lastAt ?? c.at, lastServerAt, count: c.count };
      if (c.action === 'rewritten' || c.action === 'transient') {
        const last = this.stmts.latestOf.get(source.host, c.kind, c.subject) as { id: number; action: string; owner: string; last_server_at: string } | undefined;
        if (last && last.action === c.action && last.owner === owner && Date.parse(serverAt) - Date.parse(last.last_server_at) <= CHANGE_FOLD_MS) {
          this.stmts.fold.run({ id: last.id, ...values });
          continue;
        }
      }
      this.stmts.insert.run({ host: source.host, seq: source.seq, at: c.at, serverAt, receivedAt: source.receivedAt, kind: c.kind, action: c.action, subject: c.subject, owner, ...values, lastAt: c.lastAt ?? null });
    }
  }

  /** Changes newest first. */
  query(filter: ChangeFilter = {}): ServedChange[] {
    const where: string[] = [];
    const args: Record<string, unknown> = {};
    if (filter.hosts) { where.push('host IN (SELECT value FROM json_each(@hosts))'); args.hosts = JSON.stringify(filter.hosts); }
    if (filter.since) { where.push('last_server_at >= @since'); args.since = filter.since; }
    if (filter.until) { where.push('server_at <= @until'); args.until = filter.until; }
    const sql = `SELECT * FROM changes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY server_at DESC, id DESC LIMIT ${Math.max(1, Math.min(filter.limit ?? 1000, 100_000))}`;
    return (this.db.prepare(sql).all(args) as ChangeRow[]).map(served);
  }

  /** Remove changes last seen before `cutoff`; returns how many. */
  prune(cutoff: string): number {
    return this.stmts.prune.run(cutoff).changes;
  }

  /**
   * After a commit at `now`: name the trigger of each of `keys` that opened now and the resolving
   * change of each that resolved now, from the changes of its hosts (the finding's host and, for a
   * fleet finding, every host of its pairs) that had arrived by then.
   */
  settleTriggers(keys: Iterable<string>, now: string): void {
    for (const key of new Set(keys)) {
      const row = this.stmts.finding.get(key) as { body: string; first_seen: string; resolved_at: string | null; trigger_change: string | null; resolved_by: string | null } | undefined;
      if (!row) continue;
      const opened = row.resolved_at === null && row.first_seen === now && row.trigger_change === null;
      const resolved = row.resolved_at === now && row.resolved_by === null;
      if (!opened && !resolved) continue;
      const finding = JSON.parse(row.body) as Finding & { pairs?: string[][] };
      const trigger = this.triggerOf(finding, now, opened ? 'opened' : 'resolved');
      if (!trigger) continue;
      if (opened) this.stmts.setTrigger.run(JSON.stringify(trigger), key);
      else this.stmts.setResolvedBy.run(JSON.stringify(trigger), key);
    }
  }

  private triggerOf(f: Finding & { pairs?: string[][] }, now: string, verb: 'opened' | 'resolved'): FindingTrigger | undefined {
    const hosts = [...new Set([f.host, ...(f.pairs ?? []).flat()])];
    const rows = this.stmts.candidates.all(JSON.stringify(hosts), now) as ChangeRow[];
    const candidates: TriggerCandidate[] = rows.map((r) => ({ host: r.host, change: hostChangeOf(r), time: Date.parse(r.last_server_at), look: `${r.host}#${r.seq}` }));
    return pickTrigger(f, candidates, Date.parse(now), verb);
  }
}

function hostChangeOf(r: ChangeRow): HostChange {
  return {
    at: r.at, ...(r.last_at ? { lastAt: r.last_at } : {}), count: r.count, kind: r.kind as HostChange['kind'], action: r.action as HostChange['action'], subject: r.subject,
    ...(r.line_before !== null ? { before: r.line_before } : {}), ...(r.line_after !== null ? { after: r.line_after } : {}), owner: JSON.parse(r.owner) as HostChange['owner'],
  };
}

function served(r: ChangeRow): ServedChange {
  const c = hostChangeOf(r);
  return { id: r.id, host: r.host, seq: r.seq, ...c, receivedAt: r.received_at, serverAt: r.server_at, lastServerAt: r.last_server_at, text: changeText(c) };
}

/** The schema step that adds the timeline (store-migrations.ts appends it). */
export const CHANGES_MIGRATION = `CREATE TABLE changes (
     id INTEGER PRIMARY KEY AUTOINCREMENT, host TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, last_at TEXT,
     server_at TEXT NOT NULL, last_server_at TEXT NOT NULL, received_at TEXT NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL,
     subject TEXT NOT NULL, line_before TEXT, line_after TEXT, owner TEXT NOT NULL, count INTEGER NOT NULL);
   CREATE INDEX changes_host_time ON changes (host, last_server_at);
   CREATE INDEX changes_time ON changes (server_at);
   CREATE INDEX changes_subject ON changes (host, kind, subject);
   ALTER TABLE findings ADD COLUMN trigger_change TEXT;
   ALTER TABLE findings ADD COLUMN resolved_by TEXT;`;
