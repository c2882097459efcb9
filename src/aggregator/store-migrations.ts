/**
 * The store's schema steps, numbered from 1; the migrations table records which ran. Append,
 * never edit. A step is SQL, or a function run in the same transaction when SQL cannot say it.
 * MIGRATIONS are SQLite's, PG_MIGRATIONS PostgreSQL's: step N is the same change on both (one
 * list as long as the other; test/aggregator/store-contract.test.ts checks). Steps are additive (new
 * tables, new nullable columns), so replicas of two consecutive versions share one database
 * while an upgrade rolls (docs/replicas.md).
 */
import type Database from 'better-sqlite3';
import { CHANGES_MIGRATION, STOPPED_BETWEEN_MIGRATION } from './store-changes.js';

export type Migration = string | ((db: Database.Database) => void);

export const MIGRATIONS: Migration[] = [
  `CREATE TABLE hosts (
     name TEXT PRIMARY KEY, hostname TEXT NOT NULL, machine_id TEXT, instance_id TEXT, agent_version TEXT,
     first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0,
     digest TEXT, snapshot TEXT, complete INTEGER NOT NULL DEFAULT 0, stale INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE reports (
     host TEXT NOT NULL, seq INTEGER NOT NULL, sent_at TEXT NOT NULL, received_at TEXT NOT NULL, digest TEXT NOT NULL,
     bytes INTEGER NOT NULL, findings INTEGER NOT NULL, complete INTEGER NOT NULL, PRIMARY KEY (host, seq));
   CREATE TABLE findings (
     key TEXT PRIMARY KEY, check_id TEXT NOT NULL, host TEXT NOT NULL, subject TEXT NOT NULL, severity TEXT NOT NULL,
     from_host INTEGER NOT NULL DEFAULT 0, from_fleet INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL,
     first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, resolved_at TEXT);
   CREATE INDEX findings_host ON findings (host);
   CREATE TABLE acks (
     key TEXT PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('acknowledged', 'silenced')),
     who TEXT NOT NULL, why TEXT NOT NULL, until TEXT, at TEXT NOT NULL);
   CREATE TABLE issued_tokens (
     host TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, instance_id TEXT, via TEXT NOT NULL, issued_at TEXT NOT NULL);`,
  // Protocol 2: a snapshot's big parts stored once by digest (content-addressed); a host row names its own.
  `CREATE TABLE sections (digest TEXT PRIMARY KEY, kind TEXT NOT NULL, bytes INTEGER NOT NULL, content TEXT NOT NULL, stored_at TEXT NOT NULL);
   ALTER TABLE hosts ADD COLUMN sections TEXT;`,
  oneFindingPerGateway,
  // Protocol 3: the hosts' change logs, and each finding's trigger and resolving change (store-changes.ts).
  CHANGES_MIGRATION,
  // A change the agent found at its start: when it may have happened (JSON {from, until}; store-changes.ts).
  STOPPED_BETWEEN_MIGRATION,
];

/** Text compared and sorted bytewise, as SQLite compares it (whatever the cluster's locale). */
const T = 'TEXT COLLATE "C"';

export const PG_MIGRATIONS: string[] = [
  `CREATE TABLE hosts (
     name ${T} PRIMARY KEY, hostname ${T} NOT NULL, machine_id ${T}, instance_id ${T}, agent_version ${T},
     first_seen ${T} NOT NULL, last_seen ${T} NOT NULL, last_seq BIGINT NOT NULL DEFAULT 0,
     digest ${T}, snapshot TEXT, complete INTEGER NOT NULL DEFAULT 0, stale INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE reports (
     host ${T} NOT NULL, seq BIGINT NOT NULL, sent_at ${T} NOT NULL, received_at ${T} NOT NULL, digest ${T} NOT NULL,
     bytes BIGINT NOT NULL, findings INTEGER NOT NULL, complete INTEGER NOT NULL, PRIMARY KEY (host, seq));
   CREATE TABLE findings (
     key ${T} PRIMARY KEY, check_id ${T} NOT NULL, host ${T} NOT NULL, subject ${T} NOT NULL, severity ${T} NOT NULL,
     from_host INTEGER NOT NULL DEFAULT 0, from_fleet INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL,
     first_seen ${T} NOT NULL, last_seen ${T} NOT NULL, resolved_at ${T});
   CREATE INDEX findings_host ON findings (host);
   CREATE TABLE acks (
     key ${T} PRIMARY KEY, state ${T} NOT NULL CHECK (state IN ('acknowledged', 'silenced')),
     who TEXT NOT NULL, why TEXT NOT NULL, until ${T}, at ${T} NOT NULL);
   CREATE TABLE issued_tokens (
     host ${T} PRIMARY KEY, token_hash ${T} NOT NULL UNIQUE, instance_id ${T}, via TEXT NOT NULL, issued_at ${T} NOT NULL);`,
  `CREATE TABLE sections (digest ${T} PRIMARY KEY, kind ${T} NOT NULL, bytes BIGINT NOT NULL, content TEXT NOT NULL, stored_at ${T} NOT NULL);
   ALTER TABLE hosts ADD COLUMN sections TEXT;`,
  // Step 3 rewrites rows only versions before it wrote; no PostgreSQL store is that old (and
  // `serve migrate` copies a SQLite file migrated to the end first): nothing to change.
  'SELECT 1',
  // Protocol 3: the hosts' change logs, and each finding's trigger and resolving change (store-changes.ts).
  `CREATE TABLE changes (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, host ${T} NOT NULL, seq BIGINT NOT NULL, at ${T} NOT NULL, last_at ${T},
     server_at ${T} NOT NULL, last_server_at ${T} NOT NULL, received_at ${T} NOT NULL, kind ${T} NOT NULL, action ${T} NOT NULL,
     subject ${T} NOT NULL, line_before TEXT, line_after TEXT, owner TEXT NOT NULL, count INTEGER NOT NULL);
   CREATE INDEX changes_host_time ON changes (host, last_server_at);
   CREATE INDEX changes_time ON changes (server_at);
   CREATE INDEX changes_subject ON changes (host, kind, subject);
   ALTER TABLE findings ADD COLUMN trigger_change TEXT;
   ALTER TABLE findings ADD COLUMN resolved_by TEXT;`,
  STOPPED_BETWEEN_MIGRATION,
];

interface FindingRow {
  key: string; check_id: string; host: string; subject: string; severity: string; from_host: number; from_fleet: number;
  body: string; first_seen: string; last_seen: string; resolved_at: string | null;
}

interface AckRow { key: string; state: string; who: string; why: string; until: string | null; at: string }

/** A stored body with `pairs` for the old `pair`. */
function withPairs(body: Record<string, unknown>, more: [string, string][] = []): Record<string, unknown> {
  const { pair, pairs, ...rest } = body as { pair?: [string, string]; pairs?: [string, string][] };
  const all = new Map<string, [string, string]>();
  for (const p of [...(pairs ?? []), ...(pair ? [pair] : []), ...more]) all.set(p.join('\u0000'), p);
  return all.size > 0 || pair || pairs ? { ...rest, pairs: [...all.values()] } : rest;
}

/**
 * Step 3: vpn-selector-gap's fleet finding is the gateway's, one per (gateway, remote network),
 * as the host check keys it: `REMOTE from ADDRESS` becomes `REMOTE` (`REMOTE clear` where the
 * packets went on unencrypted). Rows that meet under one key become one (earliest first seen,
 * latest last seen, open if any was, the latest body with every pair); their acknowledgements
 * move with them (the latest stands). Every fleet body's `pair` becomes `pairs`.
 */
function oneFindingPerGateway(db: Database.Database): void {
  const rows = db.prepare("SELECT * FROM findings WHERE check_id = 'vpn-selector-gap' AND subject LIKE '% from %'").all() as FindingRow[];
  const groups = new Map<string, { subject: string; rows: FindingRow[] }>();
  for (const r of rows) {
    const m = /^(\S+) from (\S+)$/.exec(r.subject);
    if (!m) continue;
    const clear = (JSON.parse(r.body) as { summary?: string }).summary?.includes('goes on unencrypted') === true;
    const subject = clear ? `${m[1]} clear` : m[1];
    const key = `vpn-selector-gap|${r.host}|${subject}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { subject, rows: [] }));
    g.rows.push(r);
  }
  const existing = db.prepare('SELECT * FROM findings WHERE key = ?');
  const ackOf = db.prepare('SELECT * FROM acks WHERE key = ?');
  const dropFinding = db.prepare('DELETE FROM findings WHERE key = ?');
  const dropAck = db.prepare('DELETE FROM acks WHERE key = ?');
  const insert = db.prepare(`INSERT INTO findings (key, check_id, host, subject, severity, from_host, from_fleet, body, first_seen, last_seen, resolved_at)
    VALUES (@key, @check_id, @host, @subject, @severity, @from_host, @from_fleet, @body, @first_seen, @last_seen, @resolved_at)`);
  const insertAck = db.prepare('INSERT INTO acks (key, state, who, why, until, at) VALUES (@key, @state, @who, @why, @until, @at)');
  for (const [key, g] of groups) {
    const target = existing.get(key) as FindingRow | undefined;
    const all = target ? [target, ...g.rows] : g.rows;
    const latest = all.reduce((a, b) => (b.last_seen > a.last_seen ? b : a));
    const open = all.some((r) => r.resolved_at === null);
    const pairs = all.flatMap((r) => {
      const b = JSON.parse(r.body) as { pair?: [string, string]; pairs?: [string, string][] };
      return [...(b.pairs ?? []), ...(b.pair ? [b.pair] : [])];
    });
    const body = withPairs({ ...(JSON.parse(latest.body) as Record<string, unknown>), key, subject: g.subject }, pairs);
    const acks = all.map((r) => ackOf.get(r.key) as AckRow | undefined).filter((a): a is AckRow => a !== undefined);
    for (const r of all) { dropFinding.run(r.key); dropAck.run(r.key); }
    insert.run({
      key, check_id: 'vpn-selector-gap', host: latest.host, subject: g.subject, severity: latest.severity,
      from_host: Math.max(...all.map((r) => r.from_host)), from_fleet: Math.max(...all.map((r) => r.from_fleet)), body: JSON.stringify(body),
      first_seen: all.reduce((m, r) => (r.first_seen < m ? r.first_seen : m), all[0].first_seen), last_seen: latest.last_seen,
      resolved_at: open ? null : all.reduce((m, r) => (r.resolved_at! > m ? r.resolved_at! : m), all[0].resolved_at!),
    });
    if (acks.length > 0) insertAck.run({ ...acks.reduce((a, b) => (b.at > a.at ? b : a)), key });
  }
  const update = db.prepare('UPDATE findings SET body = ? WHERE key = ?');
  for (const r of db.prepare(`SELECT key, body FROM findings WHERE body LIKE '%"pair":%'`).all() as { key: string; body: string }[]) {
    update.run(JSON.stringify(withPairs(JSON.parse(r.body) as Record<string, unknown>)), r.key);
  }
}
