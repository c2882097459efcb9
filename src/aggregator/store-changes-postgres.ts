/**
 * The timeline's SQL on PostgreSQL (what is decided: store-changes.ts). `insert` and
 * `settleTriggers` run on the connection of PostgresStore's commit transaction, so a trigger is
 * chosen and stored once, by the replica that commits the report, and every replica serves it;
 * `query` and `prune` are the `Store.changes` the aggregator reads.
 */
import type pg from 'pg';
import type { HostChange } from '../model/changes.js';
import {
  changeLimit, changeValues, foldsInto, servedChange, settling, triggerHosts, triggerOf, TRIGGER_CANDIDATES,
  type ChangeFilter, type ChangeLog, type ChangeRow, type ChangeSource, type LatestChange, type ServedChange, type TriggerFindingRow,
} from './store-changes.js';

/** Runs one statement (PostgresStore's, as a named prepared statement) on the pool or a transaction's connection. */
export type PgRun = (on: pg.Pool | pg.PoolClient, sql: string, args: unknown[]) => Promise<pg.QueryResult>;

export class PostgresChangeTable implements ChangeLog {
  constructor(private readonly pool: pg.Pool, private readonly run: PgRun) {}

  private async rows<R>(on: pg.Pool | pg.PoolClient, sql: string, args: unknown[]): Promise<R[]> {
    return (await this.run(on, sql, args)).rows as R[];
  }

  /**
   * Store the changes a report carried, on `c` (in the commit's transaction). The record's latest
   * entry is locked before a churn entry folds into it: two replicas folding into one row add up.
   */
  async insert(c: pg.PoolClient, source: ChangeSource, changes: readonly HostChange[]): Promise<void> {
    for (const v of changeValues(source, changes)) {
      const [last] = v.churn
        ? await this.rows<LatestChange>(c, 'SELECT id, action, owner, last_server_at FROM changes WHERE host = $1 AND kind = $2 AND subject = $3 ORDER BY id DESC LIMIT 1 FOR UPDATE', [v.host, v.kind, v.subject])
        : [];
      if (foldsInto(v, last)) {
        await this.run(c, 'UPDATE changes SET count = count + $2, last_at = $3, last_server_at = $4, line_before = $5, line_after = $6 WHERE id = $1',
          [last.id, v.count, v.foldLastAt, v.lastServerAt, v.before, v.after]);
        continue;
      }
      await this.run(c, `INSERT INTO changes (host, seq, at, last_at, server_at, last_server_at, received_at, kind, action, subject, line_before, line_after, owner, count, stopped_between)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [v.host, v.seq, v.at, v.lastAt, v.serverAt, v.lastServerAt, v.receivedAt, v.kind, v.action, v.subject, v.before, v.after, v.owner, v.count, v.stoppedBetween]);
    }
  }

  /** After the findings of a commit at `now` are written (on `c`): name the trigger of each of `keys` that opened now, the resolving change of each that resolved now. */
  async settleTriggers(c: pg.PoolClient, keys: Iterable<string>, now: string): Promise<void> {
    for (const key of new Set(keys)) {
      const [row] = await this.rows<TriggerFindingRow>(c, 'SELECT body, first_seen, resolved_at, trigger_change, resolved_by FROM findings WHERE key = $1', [key]);
      const verb = row && settling(row, now);
      if (!row || !verb) continue;
      const { finding, hosts } = triggerHosts(row.body);
      const candidates = await this.rows<ChangeRow>(c, `SELECT * FROM changes WHERE host = ANY($1) AND received_at <= $2
        ORDER BY last_server_at DESC, id DESC LIMIT ${TRIGGER_CANDIDATES}`, [hosts, now]);
      const trigger = triggerOf(finding, candidates, now, verb);
      if (!trigger) continue;
      await this.run(c, verb === 'opened' ? 'UPDATE findings SET trigger_change = $2 WHERE key = $1' : 'UPDATE findings SET resolved_by = $2 WHERE key = $1', [key, trigger]);
    }
  }

  async query(filter: ChangeFilter = {}): Promise<ServedChange[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.hosts) { args.push(filter.hosts); where.push(`host = ANY($${args.length})`); }
    if (filter.since) { args.push(filter.since); where.push(`last_server_at >= $${args.length}`); }
    if (filter.until) { args.push(filter.until); where.push(`server_at <= $${args.length}`); }
    args.push(changeLimit(filter));
    const sql = `SELECT * FROM changes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY server_at DESC, id DESC LIMIT $${args.length}`;
    return (await this.rows<ChangeRow>(this.pool, sql, args)).map(servedChange);
  }

  async prune(cutoff: string): Promise<number> {
    return (await this.run(this.pool, 'DELETE FROM changes WHERE last_server_at < $1', [cutoff])).rowCount ?? 0;
  }
}
