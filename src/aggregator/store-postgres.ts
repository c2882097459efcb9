/**
 * The shared store: a PostgreSQL (15 or later) database that any number of aggregator replicas
 * use at once (`serve --db postgres://...`). The same tables and behaviour as the SQLite store
 * (store.ts, store-migrations.ts); migrations run under an advisory lock, so replicas that start
 * together apply each step once. A report's rows are written in one transaction; a finding row
 * is locked (SELECT ... FOR UPDATE) before it is merged, so two replicas writing one key do not
 * lose each other's source. A committed batch notifies the other replicas with the names of
 * the hosts it changed (NOTIFY hostcheck_changes, docs/replicas.md). A group of reports is
 * written in a few statements whatever its size (store-commit-postgres.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Finding } from '../model/finding.js';
import type { SectionKind } from '../model/protocol.js';
import { commitGroup, FindingInsertRace, type GroupCommit } from './store-commit-postgres.js';
import { PostgresChangeTable } from './store-changes-postgres.js';
import { PG_MIGRATIONS } from './store-migrations.js';
import {
  filterFindings, hostLikePattern, hostRow, mergedFindingBody, redactUrl, reportRow, storedFinding, StoreError,
  type ChangeKind, type CommitInput, type FindingDbRow, type FollowHandlers, type FindingFilter, type HostRow, type HostSections, type IssuedToken, type ReportRow, type Store,
  type ReadBackRow, type StoredFinding, type StoredSection, type StoredSnapshot,
} from './store.js';

/** The advisory lock key migrations hold ("hostchk" in ASCII). */
const MIGRATION_LOCK = 0x686f737463686b;
/**
 * The channel replicas LISTEN on. A payload is JSON `{"r": REPLICA, "k": KIND, "h": [HOST...]}` (KIND: ChangeKind):
 * ids only; a replica reads what changed from the tables.
 */
export const CHANGES_CHANNEL = 'hostcheck_changes';
const CHANGE_KINDS = new Set<ChangeKind>(['report', 'stale', 'connected', 'disconnected', 'present', 'ask']);
/** NOTIFY payloads are limited to 8000 bytes: longer lists go out in parts. */
const NOTIFY_BYTES = 7000;

/** BIGINT columns come back as numbers (seq and bytes stay far below 2^53). */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

type Queryable = pg.Pool | pg.PoolClient;

/**
 * A follower's read-back (PostgresStore.readBack): per host asked, its digest and sections, the
 * snapshot where the digest is not the one the reader holds, and (when $3) its newest report.
 */
const READ_BACK_SQL = `SELECT h.name, h.digest, CASE WHEN h.digest IS NOT DISTINCT FROM k.d THEN NULL ELSE h.snapshot END AS snapshot, h.sections, l.seq, l.findings
  FROM unnest($1::text[], $2::text[]) AS k(n, d) JOIN hosts h ON h.name = k.n
  LEFT JOIN LATERAL (SELECT seq, findings FROM reports WHERE $3 AND reports.host = h.name ORDER BY seq DESC LIMIT 1) l ON true
  WHERE h.snapshot IS NOT NULL`;

/** Statement names by SQL text (shared by every store of the process). */
const statementNames = new Map<string, string>();

export interface PostgresStoreOptions {
  historyPerHost?: number;
  /** Connections in the pool (default 4). */
  poolSize?: number;
}


export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  private readonly historyPerHost: number;
  /** Set when the pool saw an error on an idle connection (PostgreSQL restarted); the pool replaces it. */
  lastPoolError: Error | undefined;
  /** This process's id in notifications (its own are not followed). */
  readonly replica = randomBytes(6).toString('hex');
  /** The hosts' change logs and the findings' triggers (store-changes-postgres.ts). */
  readonly changes: PostgresChangeTable;

  private constructor(readonly url: string, options: PostgresStoreOptions) {
    this.historyPerHost = options.historyPerHost ?? 100;
    const size = options.poolSize ?? 4;
    // The pool keeps its connections open (min = max): a report waits on no new connection (a fork on the server) after a quiet minute.
    this.pool = new pg.Pool({ connectionString: url, max: size, min: size, types, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 60_000 });
    // An idle connection that the server closed (restart, failover) is dropped from the pool; the next query opens a new one.
    this.pool.on('error', (err) => { this.lastPoolError = err; });
    this.changes = new PostgresChangeTable(this.pool, (on, sql, args) => this.run(on, sql, args));
  }

  /** Connect and bring the schema to the latest step (under the advisory lock). */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const store = new PostgresStore(url, options);
    try {
      await store.migrate();
      // Open the pool's connections now, before the replica says it listens.
      const clients = await Promise.allSettled(Array.from({ length: store.pool.options.max }, () => store.pool.connect()));
      for (const c of clients) if (c.status === 'fulfilled') c.value.release();
      for (const c of clients) if (c.status === 'rejected') throw c.reason;
    } catch (err) {
      await store.pool.end().catch(() => undefined);
      throw new StoreError(`cannot open the database ${redactUrl(url)}: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  private async migrate(): Promise<void> {
    const c = await this.pool.connect();
    const lost = (): void => undefined;
    c.on('error', lost);
    try {
      await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      try {
        const version = Number((await c.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0].v);
        if (version < 150000) throw new Error(`PostgreSQL ${Math.floor(version / 10000)} is too old: hostcheck needs 15 or later`);
        await c.query('CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
        const done = new Set((await c.query<{ version: number }>('SELECT version FROM migrations')).rows.map((r) => r.version));
        for (const [i, step] of PG_MIGRATIONS.entries()) {
          if (done.has(i + 1)) continue;
          await c.query('BEGIN');
          try {
            await c.query(step);
            await c.query('INSERT INTO migrations (version, applied_at) VALUES ($1, $2)', [i + 1, new Date().toISOString()]);
            await c.query('COMMIT');
          } catch (err) {
            await c.query('ROLLBACK');
            throw err;
          }
        }
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
      }
    } finally {
      c.off('error', lost);
      c.release();
    }
  }

  private async rows<R>(sql: string, args: unknown[] = [], on: Queryable = this.pool): Promise<R[]> {
    return (await this.run(on, sql, args)).rows as R[];
  }

  /** A query as a named prepared statement: each connection parses and plans it once. */
  private run(on: Queryable, sql: string, args: unknown[]): Promise<pg.QueryResult> {
    let name = statementNames.get(sql);
    if (!name) statementNames.set(sql, (name = `hc_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`));
    return on.query({ name, text: sql, values: args });
  }

  /** Run `fn` in one transaction on one connection; rolls back and rethrows on error. */
  private async transaction<R>(fn: (c: pg.PoolClient) => Promise<R>): Promise<R> {
    const c = await this.pool.connect();
    let broken: Error | undefined;
    // A connection the server ends while it is lent out emits 'error'; the query under way rejects with it too.
    const lost = (err: Error): void => { broken = err; };
    c.on('error', lost);
    try {
      await c.query('BEGIN');
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (err) {
      await c.query('ROLLBACK').catch((e: Error) => { broken = e; });
      throw err;
    } finally {
      // A connection that cannot roll back is dead: the pool drops it instead of lending it again.
      c.off('error', lost);
      c.release(broken);
    }
  }

  private async notify(c: Queryable, kind: ChangeKind, hosts: Iterable<string>): Promise<void> {
    for (const payload of this.payloads(kind, hosts)) await c.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, payload]);
  }

  /** The NOTIFY payloads naming `hosts`, in parts below PostgreSQL's limit. */
  private payloads(kind: ChangeKind, hosts: Iterable<string>): string[] {
    const out: string[] = [];
    let part: string[] = [];
    const empty = JSON.stringify({ r: this.replica, k: kind, h: [] }).length;
    let bytes = empty;
    const send = (): void => {
      if (part.length) out.push(JSON.stringify({ r: this.replica, k: kind, h: part }));
      part = [];
      bytes = empty;
    };
    for (const h of hosts) {
      const b = Buffer.byteLength(JSON.stringify(h)) + 1;
      if (bytes + b > NOTIFY_BYTES) send();
      part.push(h);
      bytes += b;
    }
    send();
    return out;
  }

  /**
   * A group of reports in one transaction and a constant number of round trips
   * (store-commit-postgres.ts). When another replica inserted one of the group's new finding
   * keys meanwhile, the transaction rolls back and runs again, merging that replica's row.
   */
  async commitReports(inputs: CommitInput[]): Promise<void> {
    if (inputs.length === 0) return;
    const group: GroupCommit = {
      run: (c, sql, args) => this.run(c, sql, args),
      historyPerHost: this.historyPerHost,
      channel: CHANGES_CHANNEL,
      // Delivered to the listening replicas when (and only if) the transaction commits.
      payloads: this.payloads('report', new Set(inputs.map((i) => i.hello.name))),
      insertChanges: (c, i) => this.changes.insert(c, { host: i.hello.name, seq: i.report.seq, sentAt: i.report.sentAt, receivedAt: i.receivedAt }, i.report.changes!),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.transaction((c) => commitGroup(c, inputs, group));
        return;
      } catch (err) {
        if (!(err instanceof FindingInsertRace) || attempt >= 5) throw err;
      }
    }
  }

  async commitFleet(found: Finding[], resolved: string[], now: string): Promise<void> {
    if (found.length === 0 && resolved.length === 0) return;
    await this.transaction(async (c) => {
      for (const f of found) await this.upsertFinding(c, f, 'fleet', now);
      for (const key of resolved) await this.dropSource(c, key, 'fleet', now);
      await this.changes.settleTriggers(c, [...found.map((f) => f.key), ...resolved], now);
    });
  }

  private async dropSource(c: pg.PoolClient, key: string, source: 'host' | 'fleet', now: string): Promise<void> {
    const keepHost = source === 'host' ? 0 : 1;
    const keepFleet = source === 'fleet' ? 0 : 1;
    await this.run(c, `UPDATE findings SET from_host = from_host * $2, from_fleet = from_fleet * $3,
      resolved_at = CASE WHEN from_host * $2 + from_fleet * $3 = 0 THEN $4 ELSE resolved_at END WHERE key = $1`, [key, keepHost, keepFleet, now]);
  }

  private async upsertFinding(c: pg.PoolClient, f: Finding, source: 'host' | 'fleet', now: string): Promise<void> {
    const fromHost = source === 'host' ? 1 : 0;
    const fromFleet = source === 'fleet' ? 1 : 0;
    const lock = (): Promise<{ from_host: number; from_fleet: number; body: string }[]> =>
      this.rows('SELECT from_host, from_fleet, body FROM findings WHERE key = $1 FOR UPDATE', [f.key], c);
    let [row] = await lock();
    if (!row) {
      const inserted = await this.run(c, `INSERT INTO findings (key, check_id, host, subject, severity, from_host, from_fleet, body, first_seen, last_seen)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (key) DO NOTHING`, [f.key, f.check, f.host, f.subject, f.severity, fromHost, fromFleet, JSON.stringify(f), now]);
      if (inserted.rowCount === 1) return;
      // Another replica inserted the key meanwhile: merge into its row.
      [row] = await lock();
    }
    const body = mergedFindingBody(f, source, row, () => JSON.parse(row.body) as Finding);
    await this.run(c, `UPDATE findings SET severity = $2, body = $3, last_seen = $4,
      from_host = GREATEST(from_host, $5), from_fleet = GREATEST(from_fleet, $6),
      first_seen = CASE WHEN resolved_at IS NULL THEN first_seen ELSE $4 END,
      trigger_change = CASE WHEN resolved_at IS NULL THEN trigger_change ELSE NULL END, resolved_by = NULL, resolved_at = NULL WHERE key = $1`, [f.key, f.severity, body, now, fromHost, fromFleet]);
  }

  async lastSeq(host: string): Promise<number> {
    return (await this.rows<{ last_seq: number }>('SELECT last_seq FROM hosts WHERE name = $1', [host]))[0]?.last_seq ?? 0;
  }

  async hasReport(host: string, seq: number): Promise<boolean> {
    return (await this.rows('SELECT 1 FROM reports WHERE host = $1 AND seq = $2', [host, seq])).length > 0;
  }

  async touch(lastSeen: Map<string, string>): Promise<void> {
    if (lastSeen.size === 0) return;
    // One statement; GREATEST keeps a later time another replica wrote.
    await this.pool.query(`UPDATE hosts SET last_seen = GREATEST(hosts.last_seen, t.at), stale = 0
      FROM unnest($1::text[], $2::text[]) AS t(name, at) WHERE hosts.name = t.name`, [[...lastSeen.keys()], [...lastSeen.values()]]);
  }

  /** One replica marks a host stale (the first sweep to see it); the others hear of it. */
  async markStale(cutoff: string): Promise<string[]> {
    return this.transaction(async (c) => {
      const names = (await this.rows<{ name: string }>('UPDATE hosts SET stale = 1 WHERE last_seen < $1 AND stale = 0 RETURNING name', [cutoff], c)).map((r) => r.name);
      await this.notify(c, 'stale', names);
      return names;
    });
  }

  async hosts(): Promise<HostRow[]> {
    return (await this.rows<Record<string, unknown>>('SELECT * FROM hosts ORDER BY name')).map(hostRow);
  }

  async host(name: string): Promise<HostRow | undefined> {
    const [r] = await this.rows<Record<string, unknown>>('SELECT * FROM hosts WHERE name = $1', [name]);
    return r ? hostRow(r) : undefined;
  }

  async snapshot(name: string): Promise<unknown> {
    const [r] = await this.rows<{ snapshot: string | null }>('SELECT snapshot FROM hosts WHERE name = $1', [name]);
    return r?.snapshot ? JSON.parse(r.snapshot) : undefined;
  }

  /**
   * Pages of 500 by name, so 100,000 snapshots never sit in memory as one result. The next page
   * is read while the caller works through this one (a replica's start indexes as it reads).
   */
  async *snapshots(): AsyncGenerator<StoredSnapshot> {
    type Row = { name: string; digest: string | null; snapshot: string; sections: string | null };
    const page = (after: string): Promise<Row[]> => {
      const p = this.rows<Row>('SELECT name, digest, snapshot, sections FROM hosts WHERE snapshot IS NOT NULL AND name > $1 ORDER BY name LIMIT 500', [after]);
      // Failing while the caller is still on the page before (or gone), it is not an unhandled rejection; awaited, it still throws.
      p.catch(() => undefined);
      return p;
    };
    let next: Promise<Row[]> | undefined = page('');
    while (next) {
      const rows: Row[] = await next;
      next = rows.length === 500 ? page(rows[rows.length - 1].name) : undefined;
      for (const r of rows) yield { name: r.name, digest: r.digest, snapshot: JSON.parse(r.snapshot), sections: r.sections ? (JSON.parse(r.sections) as HostSections) : {} };
    }
  }

  async readBack(hosts: string[], known: ReadonlyMap<string, string | null>, latest: boolean): Promise<ReadBackRow[]> {
    type Row = { name: string; digest: string | null; snapshot: string | null; sections: string | null; seq: number | null; findings: number | null };
    const names = [...new Set(hosts)];
    const rows = await this.rows<Row>(READ_BACK_SQL, [names, names.map((h) => known.get(h) ?? null), latest]);
    return rows.map((r) => ({
      name: r.name, digest: r.digest, text: r.snapshot, sections: r.sections ? (JSON.parse(r.sections) as HostSections) : {},
      ...(r.seq !== null && { latest: { seq: Number(r.seq), findings: Number(r.findings) } }),
    }));
  }

  async hostDigests(): Promise<Map<string, string | null>> {
    return new Map((await this.rows<{ name: string; digest: string | null }>('SELECT name, digest FROM hosts WHERE snapshot IS NOT NULL')).map((r) => [r.name, r.digest]));
  }

  async putSection(digest: string, kind: SectionKind, content: string, now: string): Promise<void> {
    await this.pool.query('INSERT INTO sections (digest, kind, bytes, content, stored_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
      [digest, kind, Buffer.byteLength(content), content, now]);
  }

  async section(digest: string): Promise<StoredSection | undefined> {
    return (await this.rows<StoredSection>('SELECT kind, content FROM sections WHERE digest = $1', [digest]))[0];
  }

  async hostSections(host: string): Promise<HostSections> {
    const [r] = await this.rows<{ sections: string | null }>('SELECT sections FROM hosts WHERE name = $1', [host]);
    return r?.sections ? (JSON.parse(r.sections) as HostSections) : {};
  }

  async pruneSections(cutoff: string): Promise<number> {
    const r = await this.pool.query(`DELETE FROM sections WHERE stored_at < $1 AND digest NOT IN
      (SELECT j.value FROM hosts, jsonb_each_text(hosts.sections::jsonb) j WHERE hosts.sections IS NOT NULL)`, [cutoff]);
    return r.rowCount ?? 0;
  }

  async reports(host: string, limit?: number): Promise<ReportRow[]> {
    // LIMIT NULL is no limit.
    return (await this.rows<Record<string, unknown>>('SELECT * FROM reports WHERE host = $1 ORDER BY seq DESC LIMIT $2', [host, limit ?? null])).map(reportRow);
  }

  async findings(filter: FindingFilter = {}, now = new Date().toISOString()): Promise<StoredFinding[]> {
    const where: string[] = [];
    const args: unknown[] = [now];
    if (filter.severity) { args.push(filter.severity); where.push(`f.severity = $${args.length}`); }
    if (filter.check) { args.push(filter.check); where.push(`f.check_id = $${args.length}`); }
    if (filter.host) {
      args.push(filter.host, hostLikePattern(filter.host));
      where.push(`(f.host = $${args.length - 1} OR f.body LIKE $${args.length})`);
    }
    const sql = `SELECT f.*, a.state AS ack_state, a.who, a.why, a.until, a.at FROM findings f
      LEFT JOIN acks a ON a.key = f.key AND (a.until IS NULL OR a.until > $1)
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY f.resolved_at IS NOT NULL, f.host, f.check_id, f.subject`;
    return filterFindings((await this.rows<FindingDbRow>(sql, args)).map(storedFinding), filter);
  }

  async finding(key: string): Promise<StoredFinding | undefined> {
    return (await this.findings({})).find((f) => f.finding.key === key);
  }

  async setAck(key: string, ack: { state: 'acknowledged' | 'silenced'; who: string; why: string; until?: string }): Promise<boolean> {
    const r = await this.pool.query(`INSERT INTO acks (key, state, who, why, until, at) SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM findings WHERE key = $1)
      ON CONFLICT (key) DO UPDATE SET state = $2, who = $3, why = $4, until = $5, at = $6`, [key, ack.state, ack.who, ack.why, ack.until ?? null, new Date().toISOString()]);
    return r.rowCount === 1;
  }

  async clearAck(key: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM acks WHERE key = $1', [key])).rowCount ?? 0) > 0;
  }

  async tokenByHash(hash: string): Promise<IssuedToken | undefined> {
    return (await this.rows<IssuedToken>('SELECT host, token_hash AS "tokenHash", instance_id AS "instanceId", via FROM issued_tokens WHERE token_hash = $1', [hash]))[0];
  }

  async tokenByHost(host: string): Promise<IssuedToken | undefined> {
    return (await this.rows<IssuedToken>('SELECT host, token_hash AS "tokenHash", instance_id AS "instanceId", via FROM issued_tokens WHERE host = $1', [host]))[0];
  }

  async putToken(t: IssuedToken): Promise<void> {
    await this.pool.query(`INSERT INTO issued_tokens (host, token_hash, instance_id, via, issued_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (host) DO UPDATE SET token_hash = excluded.token_hash, instance_id = excluded.instance_id, via = excluded.via, issued_at = excluded.issued_at`,
    [t.host, t.tokenHash, t.instanceId, t.via, new Date().toISOString()]);
  }

  async schemaVersion(): Promise<number> {
    return (await this.rows<{ v: number | null }>('SELECT max(version) AS v FROM migrations'))[0].v ?? 0;
  }

  private closed = false;
  private listener: pg.Client | undefined;

  async announce(kind: 'connected' | 'disconnected' | 'present' | 'ask', hosts: string[]): Promise<void> {
    if (hosts.length) await this.notify(this.pool, kind, hosts);
  }

  /**
   * LISTEN on its own connection (not the pool's). When that connection breaks (the database
   * restarted), it reconnects every second until it can, LISTENs again and reports a gap: what
   * was notified meanwhile is lost, the caller compares digests instead.
   */
  async follow(handlers: FollowHandlers): Promise<() => Promise<void>> {
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    const listen = async (): Promise<void> => {
      const client = new pg.Client({ connectionString: this.url, types, connectionTimeoutMillis: 10_000 });
      client.on('notification', (n) => {
        if (n.channel !== CHANGES_CHANNEL || !n.payload) return;
        let msg: { r?: string; k?: string; h?: unknown };
        try {
          msg = JSON.parse(n.payload) as typeof msg;
        } catch {
          return;
        }
        if (msg.r === this.replica || !Array.isArray(msg.h) || !CHANGE_KINDS.has(msg.k as ChangeKind)) return;
        handlers.changed(msg.k as ChangeKind, msg.h.filter((h): h is string => typeof h === 'string'), typeof msg.r === 'string' ? msg.r : undefined);
      });
      const broken = (): void => {
        if (this.listener !== client) return;
        this.listener = undefined;
        client.end().catch(() => undefined);
        if (!stopped) retry = setTimeout(reconnect, 1000);
      };
      client.on('error', broken);
      client.on('end', broken);
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
      this.listener = client;
    };
    const reconnect = (): void => {
      retry = undefined;
      listen().then(() => handlers.gap(), () => {
        if (!stopped) retry = setTimeout(reconnect, 1000);
      });
    };
    await listen();
    return async () => {
      stopped = true;
      clearTimeout(retry);
      const l = this.listener;
      this.listener = undefined;
      await l?.end().catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
