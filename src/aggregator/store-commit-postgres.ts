/**
 * A group of reports committed on PostgreSQL in a number of round trips that does not grow with
 * the group (PostgresStore.commitReports; the group is what arrived while the previous commit
 * ran, commit-queue.ts). Per group, inside one transaction:
 *
 * 1. one statement writes every host row (one per host: the last report's), every report row
 *    and the history trim, sends the NOTIFY, locks and reads back the finding rows the group can
 *    touch (its findings' keys and the hosts' own) in key order, and reads the trigger candidates
 *    the group's findings most likely ask for;
 * 2. the reports' findings, fleet diffs and triggers are applied to those rows in memory, report
 *    after report, exactly as the sequential steps of store-sqlite.ts would (FindingRows); the
 *    candidates a settling finding asks for besides are read in one statement per run of reports
 *    (a run starts with a report carrying a change log: its changes are inserted first, as the
 *    sequential order has it; two statements per entry, store-changes-postgres.ts);
 * 3. one statement writes the finding rows that changed.
 *
 * A report already in its host's history (its group's commit answer was lost and it came again)
 * keeps the change log it has: nothing is stored twice. A finding key that another replica inserted between 1 and 3 (the INSERT finds it) makes the
 * transaction roll back and run again: the retry locks and merges that replica's row.
 */
import type pg from 'pg';
import type { Finding } from '../model/finding.js';
import type { ChangeRow } from './store-changes.js';
import { settling, triggerHosts, triggerOf, TRIGGER_CANDIDATES } from './store-changes.js';
import { mergedFindingBody, type CommitInput } from './store.js';

/** A finding row as the group commit reads, changes and writes it. */
export interface FindingRowState {
  key: string; check_id: string; host: string; subject: string; severity: string; from_host: number; from_fleet: number; body: string;
  first_seen: string; last_seen: string; resolved_at: string | null; trigger_change: string | null; resolved_by: string | null;
}

/** Names the trigger (or resolving change) of a finding that settles at `now`; undefined when none. */
type Settle = (row: FindingRowState, verb: 'opened' | 'resolved', now: string) => string | undefined;

/**
 * The finding rows of one group in memory: the rows read (and locked) at the start and those the
 * group creates. Each step is the SQL step of the sequential commit, applied to the row.
 */
export class FindingRows {
  readonly rows = new Map<string, FindingRowState>();
  /** Per host, the keys of its rows (a row's host never changes). */
  private readonly byHost = new Map<string, Set<string>>();

  /** The rows as read, to tell what changed (a clone shares its original's). */
  private readonly original: Map<string, string>;

  constructor(read: FindingRowState[], original?: Map<string, string>) {
    this.original = original ?? new Map();
    for (const r of read) {
      this.put({ ...r, from_host: Number(r.from_host), from_fleet: Number(r.from_fleet) });
      if (!original) this.original.set(r.key, JSON.stringify(this.rows.get(r.key)));
    }
  }

  private put(r: FindingRowState): void {
    this.rows.set(r.key, r);
    let keys = this.byHost.get(r.host);
    if (!keys) this.byHost.set(r.host, (keys = new Set()));
    keys.add(r.key);
  }

  /** A copy to try the group on (the rows are copied; what was read stays shared). */
  clone(): FindingRows {
    return new FindingRows([...this.rows.values()], this.original);
  }

  upsert(f: Finding, source: 'host' | 'fleet', now: string): void {
    const fromHost = source === 'host' ? 1 : 0;
    const fromFleet = source === 'fleet' ? 1 : 0;
    const row = this.rows.get(f.key);
    if (!row) {
      this.put({
        key: f.key, check_id: f.check, host: f.host, subject: f.subject, severity: f.severity, from_host: fromHost, from_fleet: fromFleet,
        body: JSON.stringify(f), first_seen: now, last_seen: now, resolved_at: null, trigger_change: null, resolved_by: null,
      });
      return;
    }
    const body = mergedFindingBody(f, source, row, () => JSON.parse(row.body) as Finding);
    const reopened = row.resolved_at !== null;
    Object.assign(row, {
      severity: f.severity, body, last_seen: now, from_host: Math.max(row.from_host, fromHost), from_fleet: Math.max(row.from_fleet, fromFleet),
      first_seen: reopened ? now : row.first_seen, trigger_change: reopened ? null : row.trigger_change, resolved_by: null, resolved_at: null,
    });
  }

  drop(key: string, source: 'host' | 'fleet', now: string): void {
    const row = this.rows.get(key);
    if (!row) return;
    row.from_host *= source === 'host' ? 0 : 1;
    row.from_fleet *= source === 'fleet' ? 0 : 1;
    if (row.from_host + row.from_fleet === 0) row.resolved_at = now;
  }

  /** The keys of the host's own findings (from_host) now. */
  hostKeys(host: string): string[] {
    return [...(this.byHost.get(host) ?? [])].filter((k) => this.rows.get(k)!.from_host === 1);
  }

  /** Name the trigger of each of `keys` that opened at `now`, the resolving change of each that resolved at `now`. */
  settle(keys: Iterable<string>, now: string, pick: Settle): void {
    for (const key of new Set(keys)) {
      const row = this.rows.get(key);
      const verb = row && settling(row, now);
      if (!row || !verb) continue;
      const trigger = pick(row, verb, now);
      if (!trigger) continue;
      if (verb === 'opened') row.trigger_change = trigger; else row.resolved_by = trigger;
    }
  }

  /** One report's findings and fleet diff, in the sequential commit's order. */
  apply(input: CommitInput, pick: Settle): void {
    const now = input.receivedAt;
    const before = new Set(this.hostKeys(input.hello.name));
    const touched = [...before];
    for (const f of input.report.findings) {
      before.delete(f.key);
      this.upsert(f, 'host', now);
      touched.push(f.key);
    }
    for (const key of before) this.drop(key, 'host', now);
    for (const f of input.fleetFound) this.upsert(f, 'fleet', now);
    for (const f of input.fleetResolved) this.drop(f.key, 'fleet', now);
    this.settle([...touched, ...input.fleetFound.map((f) => f.key), ...input.fleetResolved.map((f) => f.key)], now, pick);
  }

  /** The rows that differ from what was read: `update` (they existed) and `insert` (new), each in key order. */
  changed(): { update: FindingRowState[]; insert: FindingRowState[] } {
    const update: FindingRowState[] = [];
    const insert: FindingRowState[] = [];
    for (const key of [...this.rows.keys()].sort()) {
      const row = this.rows.get(key)!;
      const was = this.original.get(key);
      if (was === undefined) insert.push(row);
      else if (was !== JSON.stringify(row)) update.push(row);
    }
    return { update, insert };
  }
}

/** Another replica inserted a finding key this group inserts: roll back and run the group again. */
export class FindingInsertRace extends Error {
  override name = 'FindingInsertRace';
}

/** Runs one statement (PostgresStore's, as a named prepared statement) on the transaction's connection. */
export type PgRun = (c: pg.PoolClient, sql: string, args: unknown[]) => Promise<pg.QueryResult>;

/** Between two snapshots' texts in statement 1's $19. */
const SNAPSHOT_SEPARATOR = '\x1e';

/** Statement 1: host rows, report rows and the history trim, the NOTIFY, and the finding rows read and locked. */
const WRITE_REPORTS_SQL = `WITH n AS (
    SELECT h COLLATE "C" AS host, s AS seq, sa AS sent_at, ra AS received_at, d AS digest, b AS bytes, f AS findings, cp AS complete, o
    FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::int[], $8::int[]) WITH ORDINALITY AS t(h, s, sa, ra, d, b, f, cp, o)),
  old AS (SELECT host, seq FROM reports WHERE host IN (SELECT host FROM n)),
  k AS (SELECT host, seq, row_number() OVER (PARTITION BY host ORDER BY seq DESC) AS rank FROM (SELECT host, seq FROM old UNION SELECT host, seq FROM n) u),
  r AS (INSERT INTO reports (host, seq, sent_at, received_at, digest, bytes, findings, complete)
    SELECT DISTINCT ON (n.host, n.seq) n.host, n.seq, n.sent_at, n.received_at, n.digest, n.bytes, n.findings, n.complete
    FROM n JOIN k ON k.host = n.host AND k.seq = n.seq WHERE k.rank <= $9 ORDER BY n.host, n.seq, n.o
    ON CONFLICT DO NOTHING RETURNING 1),
  d AS (DELETE FROM reports USING k WHERE reports.host = k.host AND reports.seq = k.seq AND k.rank > $9 RETURNING 1),
  h AS (INSERT INTO hosts (name, hostname, machine_id, instance_id, agent_version, first_seen, last_seen, last_seq, digest, snapshot, sections, complete, stale)
    SELECT t.name, t.hostname, t.machine_id, t.instance_id, t.agent_version, t.first_seen, t.last_seen, t.last_seq, t.digest, s.snapshot, t.sections, t.complete, 0
    FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::bigint[], $18::text[], $20::text[], $21::int[]) WITH ORDINALITY
      AS t(name, hostname, machine_id, instance_id, agent_version, first_seen, last_seen, last_seq, digest, sections, complete, o)
    JOIN string_to_table($19, E'\\x1e') WITH ORDINALITY AS s(snapshot, o) ON s.o = t.o
    ON CONFLICT (name) DO UPDATE SET hostname = excluded.hostname, machine_id = excluded.machine_id, instance_id = excluded.instance_id,
      agent_version = excluded.agent_version, last_seen = excluded.last_seen, last_seq = GREATEST(hosts.last_seq, excluded.last_seq), digest = excluded.digest,
      snapshot = CASE WHEN hosts.digest IS NOT DISTINCT FROM excluded.digest THEN hosts.snapshot ELSE excluded.snapshot END,
      sections = CASE WHEN hosts.digest IS NOT DISTINCT FROM excluded.digest THEN hosts.sections ELSE excluded.sections END,
      complete = excluded.complete, stale = 0 RETURNING 1)
  SELECT (SELECT count(*) FROM r) + (SELECT count(*) FROM d) + (SELECT count(*) FROM h) AS written,
    (SELECT json_agg(json_build_array(host, seq)) FROM old WHERE (host, seq) IN (SELECT host, seq FROM n)) AS stored,
    (SELECT count(pg_notify($22, p)) FROM unnest($23::text[]) p) AS notified,
    (SELECT json_agg(f) FROM (SELECT key, check_id, host, subject, severity, from_host, from_fleet, body, first_seen, last_seen, resolved_at, trigger_change, resolved_by
      FROM findings WHERE key = ANY($24::text[]) OR (host = ANY($25::text[]) AND from_host = 1) ORDER BY key FOR UPDATE) f) AS findings,
    (SELECT json_agg(x) FROM (${candidatesSql('$26', '$27')}) x) AS candidates`;

/** The trigger candidates of several findings at once: per ask (hosts as JSON, a time), those hosts' latest changes that had arrived by then. */
function candidatesSql(hosts: string, now: string): string {
  return `SELECT q.i, c.* FROM unnest(${hosts}::text[], ${now}::text[]) WITH ORDINALITY AS q(hosts, now, i)
  CROSS JOIN LATERAL (SELECT * FROM changes WHERE host IN (SELECT jsonb_array_elements_text(q.hosts::jsonb)) AND received_at <= q.now COLLATE "C"
    ORDER BY last_server_at DESC, id DESC LIMIT ${TRIGGER_CANDIDATES}) c`;
}
const CANDIDATES_SQL = candidatesSql('$1', '$2');

/** Statement 3: the finding rows that changed (updated where they were read, inserted where new). */
const WRITE_FINDINGS_SQL = `WITH u AS (UPDATE findings SET severity = t.severity, from_host = t.from_host, from_fleet = t.from_fleet, body = t.body,
      first_seen = t.first_seen, last_seen = t.last_seen, resolved_at = t.resolved_at, trigger_change = t.trigger_change, resolved_by = t.resolved_by
    FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
      AS t(key, severity, from_host, from_fleet, body, first_seen, last_seen, resolved_at, trigger_change, resolved_by)
    WHERE findings.key = t.key RETURNING 1),
  i AS (INSERT INTO findings (key, check_id, host, subject, severity, from_host, from_fleet, body, first_seen, last_seen, resolved_at, trigger_change, resolved_by)
    SELECT * FROM unnest($11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::int[], $17::int[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[])
    ON CONFLICT (key) DO NOTHING RETURNING 1)
  SELECT (SELECT count(*) FROM u) AS updated, (SELECT count(*) FROM i) AS inserted`;

export interface GroupCommit {
  run: PgRun;
  historyPerHost: number;
  channel: string;
  /** The NOTIFY payloads naming the hosts (in parts below PostgreSQL's limit). */
  payloads: string[];
  /** Insert one report's change log (store-changes-postgres.ts, on the transaction's connection). */
  insertChanges(c: pg.PoolClient, input: CommitInput): Promise<void>;
}

/** The group's reports, host rows and findings, in the transaction on `c` (see the file's comment). */
export async function commitGroup(c: pg.PoolClient, inputs: CommitInput[], g: GroupCommit): Promise<void> {
  const last = new Map<string, { first: CommitInput; last: CommitInput; seq: number }>();
  for (const input of inputs) {
    const h = last.get(input.hello.name);
    if (h) {
      h.last = input;
      h.seq = Math.max(h.seq, input.report.seq);
    } else {
      last.set(input.hello.name, { first: input, last: input, seq: input.report.seq });
    }
  }
  const hosts = [...last.keys()].sort();
  const keys = new Set<string>();
  for (const i of inputs) for (const f of [...i.report.findings, ...i.fleetFound, ...i.fleetResolved]) keys.add(f.key);
  const hostRows = hosts.map((name) => last.get(name)!);
  // Runs of reports: a report with a change log starts one (its changes go in before its findings settle).
  const runs: CommitInput[][] = [];
  for (const input of inputs) {
    if (runs.length === 0 || input.report.changes?.length) runs.push([]);
    runs[runs.length - 1].push(input);
  }
  // The trigger candidates the first run will most likely ask for (a finding's hosts as it arrives), read by the
  // first statement when no change log goes in before them; what the findings' stored bodies ask besides is read after.
  const predicted = new Map<string, Ask>();
  if (!runs[0][0].report.changes?.length) {
    for (const i of runs[0]) {
      for (const f of [...i.report.findings, ...i.fleetFound, ...i.fleetResolved]) {
        const hosts = JSON.stringify([...new Set([f.host, ...((f as Finding & { pairs?: string[][] }).pairs ?? []).flat()])]);
        predicted.set(`${hosts}\n${i.receivedAt}`, { hosts, now: i.receivedAt });
      }
    }
  }
  const [s1] = (await g.run(c, WRITE_REPORTS_SQL, [
    inputs.map((i) => i.hello.name), inputs.map((i) => i.report.seq), inputs.map((i) => i.report.sentAt), inputs.map((i) => i.receivedAt),
    inputs.map((i) => i.report.digest), inputs.map((i) => i.bytes), inputs.map((i) => i.report.findings.length), inputs.map((i) => (i.report.complete ? 1 : 0)),
    g.historyPerHost,
    hosts, hostRows.map((h) => h.last.hello.identity.hostname), hostRows.map((h) => h.last.hello.identity.machineId ?? null),
    hostRows.map((h) => h.last.hello.identity.instanceId ?? null), hostRows.map((h) => h.last.hello.agentVersion), hostRows.map((h) => h.first.receivedAt),
    hostRows.map((h) => h.last.receivedAt), hostRows.map((h) => h.seq), hostRows.map((h) => h.last.report.digest),
    // The snapshots' texts joined by U+001E, which JSON text never holds raw (JSON.stringify escapes every control character):
    // no array literal to escape 22 KB into, and PostgreSQL splits the text without parsing JSON (a json array cost it ~130 µs per 22 KB snapshot).
    hostRows.map((h) => JSON.stringify(h.last.report.snapshot)).join(SNAPSHOT_SEPARATOR), hostRows.map((h) => (h.last.report.sections ? JSON.stringify(h.last.report.sections) : null)),
    hostRows.map((h) => (h.last.report.complete ? 1 : 0)),
    g.channel, g.payloads, [...keys], hosts, [...predicted.values()].map((a) => a.hosts), [...predicted.values()].map((a) => a.now),
  ])).rows as { stored: [string, number][] | null; findings: FindingRowState[] | null; candidates: (ChangeRow & { i: number })[] | null }[];
  const stored = new Set((s1.stored ?? []).map(([h, s]) => `${h}\n${s}`));
  const state = new FindingRows(s1.findings ?? []);
  const read = byAsk(s1.candidates ?? [], [...predicted.values()]);
  for (const run of runs) {
    const head = run[0];
    // A report already stored (its group's commit answer was lost, then it came again) keeps the change log it has.
    if (head.report.changes?.length && !stored.has(`${head.hello.name}\n${head.report.seq}`)) await g.insertChanges(c, head);
    // Which findings settle depends on the triggers found; trying the run without any gives every one that may.
    const asks = new Map<string, Ask>();
    const trial = state.clone();
    for (const input of run) {
      trial.apply(input, (row, _verb, now) => {
        const hosts = JSON.stringify(triggerHosts(row.body).hosts);
        asks.set(`${hosts}\n${now}`, { hosts, now });
        return undefined;
      });
    }
    const candidates = run === runs[0] ? read : new Map<string, ChangeRow[]>();
    const more = [...asks].filter(([k]) => !candidates.has(k)).map(([, a]) => a);
    if (more.length) for (const [k, rows] of byAsk((await g.run(c, CANDIDATES_SQL, [more.map((a) => a.hosts), more.map((a) => a.now)])).rows as (ChangeRow & { i: number })[], more)) candidates.set(k, rows);
    for (const input of run) {
      state.apply(input, (row, verb, now) => {
        const { finding, hosts } = triggerHosts(row.body);
        return triggerOf(finding, candidates.get(`${JSON.stringify(hosts)}\n${now}`) ?? [], now, verb);
      });
    }
  }
  const { update, insert } = state.changed();
  if (update.length === 0 && insert.length === 0) return;
  const [w] = (await g.run(c, WRITE_FINDINGS_SQL, [
    update.map((r) => r.key), update.map((r) => r.severity), update.map((r) => r.from_host), update.map((r) => r.from_fleet), update.map((r) => r.body),
    update.map((r) => r.first_seen), update.map((r) => r.last_seen), update.map((r) => r.resolved_at), update.map((r) => r.trigger_change), update.map((r) => r.resolved_by),
    insert.map((r) => r.key), insert.map((r) => r.check_id), insert.map((r) => r.host), insert.map((r) => r.subject), insert.map((r) => r.severity),
    insert.map((r) => r.from_host), insert.map((r) => r.from_fleet), insert.map((r) => r.body), insert.map((r) => r.first_seen), insert.map((r) => r.last_seen),
    insert.map((r) => r.resolved_at), insert.map((r) => r.trigger_change), insert.map((r) => r.resolved_by),
  ])).rows as { updated: number; inserted: number }[];
  if (Number(w.inserted) !== insert.length) throw new FindingInsertRace(`another replica inserted ${insert.length - Number(w.inserted)} of this group's new findings`);
}

/** What a trigger asks the change log: the finding's hosts (as JSON) and the commit's time. */
interface Ask { hosts: string; now: string }

/** Candidate rows (numbered by ask, from 1) by `hosts\nnow`, in the order the sequential commit reads them. */
function byAsk(rows: (ChangeRow & { i: number })[], asks: Ask[]): Map<string, ChangeRow[]> {
  const lists = asks.map(() => [] as ChangeRow[]);
  for (const { i, ...r } of rows) lists[Number(i) - 1].push(r);
  const out = new Map<string, ChangeRow[]>();
  for (const [n, a] of asks.entries()) {
    // A lateral join's rows need not keep the subquery's order.
    out.set(`${a.hosts}\n${a.now}`, lists[n].sort((x, y) => (x.last_server_at < y.last_server_at ? 1 : x.last_server_at > y.last_server_at ? -1 : Number(y.id) - Number(x.id))));
  }
  return out;
}
