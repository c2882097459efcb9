/**
 * The timeline's SQL on SQLite (what is decided: store-changes.ts). `insert` and `settleTriggers`
 * run synchronously inside SqliteStore's commit transaction; `query` and `prune` are the
 * `Store.changes` the aggregator reads.
 */
import type Database from 'better-sqlite3';
import type { HostChange } from '../model/changes.js';
import {
  changeLimit, changeValues, foldsInto, servedChange, settling, triggerHosts, triggerOf, TRIGGER_CANDIDATES,
  type ChangeFilter, type ChangeLog, type ChangeRow, type ChangeSource, type LatestChange, type ServedChange, type TriggerFindingRow,
} from './store-changes.js';

export class SqliteChangeTable implements ChangeLog {
  private readonly stmts: ReturnType<SqliteChangeTable['prepare']>;

  constructor(private readonly db: Database.Database) {
    this.stmts = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      latestOf: db.prepare('SELECT id, action, owner, last_server_at FROM changes WHERE host = ? AND kind = ? AND subject = ? ORDER BY id DESC LIMIT 1'),
      fold: db.prepare('UPDATE changes SET count = count + @count, last_at = @lastAt, last_server_at = @lastServerAt, line_before = @before, line_after = @after WHERE id = @id'),
      insert: db.prepare(`INSERT INTO changes (host, seq, at, last_at, server_at, last_server_at, received_at, kind, action, subject, line_before, line_after, owner, count, stopped_between)
        VALUES (@host, @seq, @at, @lastAt, @serverAt, @lastServerAt, @receivedAt, @kind, @action, @subject, @before, @after, @owner, @count, @stoppedBetween)`),
      candidates: db.prepare(`SELECT * FROM changes WHERE host IN (SELECT value FROM json_each(?)) AND received_at <= ?
        ORDER BY last_server_at DESC, id DESC LIMIT ${TRIGGER_CANDIDATES}`),
      finding: db.prepare('SELECT body, first_seen, resolved_at, trigger_change, resolved_by FROM findings WHERE key = ?'),
      setTrigger: db.prepare('UPDATE findings SET trigger_change = ? WHERE key = ?'),
      setResolvedBy: db.prepare('UPDATE findings SET resolved_by = ? WHERE key = ?'),
      prune: db.prepare('DELETE FROM changes WHERE last_server_at < ?'),
    };
  }

  /** Store the changes a report carried; a churn entry folds into the host's last entry about the same record. */
  insert(source: ChangeSource, changes: readonly HostChange[]): void {
    for (const v of changeValues(source, changes)) {
      const last = v.churn ? this.stmts.latestOf.get(v.host, v.kind, v.subject) as LatestChange | undefined : undefined;
      if (foldsInto(v, last)) {
        this.stmts.fold.run({ id: last.id, count: v.count, lastAt: v.foldLastAt, lastServerAt: v.lastServerAt, before: v.before, after: v.after });
        continue;
      }
      const { foldLastAt: _f, churn: _c, ...row } = v;
      this.stmts.insert.run(row);
    }
  }

  /** After a commit at `now`: name the trigger of each of `keys` that opened now and the resolving change of each that resolved now. */
  settleTriggers(keys: Iterable<string>, now: string): void {
    for (const key of new Set(keys)) {
      const row = this.stmts.finding.get(key) as TriggerFindingRow | undefined;
      const verb = row && settling(row, now);
      if (!row || !verb) continue;
      const { finding, hosts } = triggerHosts(row.body);
      const trigger = triggerOf(finding, this.stmts.candidates.all(JSON.stringify(hosts), now) as ChangeRow[], now, verb);
      if (!trigger) continue;
      (verb === 'opened' ? this.stmts.setTrigger : this.stmts.setResolvedBy).run(trigger, key);
    }
  }

  async query(filter: ChangeFilter = {}): Promise<ServedChange[]> {
    const where: string[] = [];
    const args: Record<string, unknown> = {};
    if (filter.hosts) { where.push('host IN (SELECT value FROM json_each(@hosts))'); args.hosts = JSON.stringify(filter.hosts); }
    if (filter.since) { where.push('last_server_at >= @since'); args.since = filter.since; }
    if (filter.until) { where.push('server_at <= @until'); args.until = filter.until; }
    const sql = `SELECT * FROM changes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY server_at DESC, id DESC LIMIT ${changeLimit(filter)}`;
    return (this.db.prepare(sql).all(args) as ChangeRow[]).map(servedChange);
  }

  async prune(cutoff: string): Promise<number> {
    return this.stmts.prune.run(cutoff).changes;
  }
}
