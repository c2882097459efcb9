/**
 * `hostcheck serve migrate --from FILE --to URL`: copy a SQLite store, migrated to the last
 * schema step first, into a PostgreSQL database at the same step, table by table in one
 * transaction (all or nothing). The target must hold no hosts, findings or tokens yet, so a
 * fleet is never merged into another by accident. Rows are copied as stored: first and last
 * seen, acknowledgements, issued token hashes, sections, report history, the change log and the
 * findings' triggers stay as they were (a change gets a new id, in the same order).
 */
import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { PostgresStore } from './store-postgres.js';
import { SqliteStore } from './store-sqlite.js';
import { StoreError } from './store.js';

/**
 * The tables copied, in an order that keeps any reference valid; columns as both schemas name
 * them. `changes.id` is PostgreSQL's to number (an identity column; nothing refers to it).
 */
export const COPIED_TABLES: { table: string; columns: string[]; orderBy?: string }[] = [
  { table: 'hosts', columns: ['name', 'hostname', 'machine_id', 'instance_id', 'agent_version', 'first_seen', 'last_seen', 'last_seq', 'digest', 'snapshot', 'complete', 'stale', 'sections'] },
  { table: 'reports', columns: ['host', 'seq', 'sent_at', 'received_at', 'digest', 'bytes', 'findings', 'complete'] },
  { table: 'findings', columns: ['key', 'check_id', 'host', 'subject', 'severity', 'from_host', 'from_fleet', 'body', 'first_seen', 'last_seen', 'resolved_at', 'trigger_change', 'resolved_by'] },
  { table: 'acks', columns: ['key', 'state', 'who', 'why', 'until', 'at'] },
  { table: 'issued_tokens', columns: ['host', 'token_hash', 'instance_id', 'via', 'issued_at'] },
  { table: 'sections', columns: ['digest', 'kind', 'bytes', 'content', 'stored_at'] },
  {
    table: 'changes', orderBy: 'id',
    columns: ['host', 'seq', 'at', 'last_at', 'server_at', 'last_server_at', 'received_at', 'kind', 'action', 'subject', 'line_before', 'line_after', 'owner', 'count', 'stopped_between'],
  },
];

/** Rows per INSERT (PostgreSQL takes at most 65,535 parameters in one statement). */
const ROWS_PER_INSERT = 200;

export type CopyCounts = Record<string, number>;

export async function copySqliteToPostgres(from: string, to: string, progress?: (table: string, rows: number) => void): Promise<CopyCounts> {
  if (!existsSync(from)) throw new StoreError(`no SQLite database ${from}`);
  const source = new SqliteStore(from);
  let target: PostgresStore | undefined;
  try {
    target = await PostgresStore.open(to);
    const [sv, tv] = [await source.schemaVersion(), await target.schemaVersion()];
    if (sv !== tv) throw new StoreError(`${from} is at schema step ${sv}, the PostgreSQL database at ${tv}: use the same hostcheck version for both`);
    return await copyRows(source.db, target, progress);
  } finally {
    await source.close();
    await target?.close();
  }
}

async function copyRows(db: Database.Database, target: PostgresStore, progress?: (table: string, rows: number) => void): Promise<CopyCounts> {
  const c = await target.pool.connect();
  const counts: CopyCounts = {};
  try {
    await c.query('BEGIN');
    for (const { table } of COPIED_TABLES) {
      const n = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
      if (n > 0) throw new StoreError(`the PostgreSQL database already holds ${n} rows in ${table}: migrate into an empty database`);
    }
    for (const { table, columns, orderBy } of COPIED_TABLES) {
      let batch: unknown[][] = [];
      let copied = 0;
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        const values = batch.map((_, r) => `(${columns.map((__, k) => `$${r * columns.length + k + 1}`).join(', ')})`).join(', ');
        await c.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`, batch.flat());
        copied += batch.length;
        progress?.(table, copied);
        batch = [];
      };
      for (const row of db.prepare(`SELECT ${columns.join(', ')} FROM ${table}${orderBy ? ` ORDER BY ${orderBy}` : ''}`).raw().iterate() as Iterable<unknown[]>) {
        batch.push(row.map((v) => (typeof v === 'bigint' ? Number(v) : v)));
        if (batch.length >= ROWS_PER_INSERT) await flush();
      }
      await flush();
      counts[table] = copied;
    }
    await c.query('COMMIT');
    return counts;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
