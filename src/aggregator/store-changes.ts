/**
 * The timeline's part of the store, shared by both stores: the hosts' change logs (table
 * `changes`), and each finding's trigger and resolving change (columns `findings.trigger_change`,
 * `findings.resolved_by`), chosen when the finding opens or resolves, inside the transaction that
 * opens or resolves it, so every aggregator reading the store (every replica) serves the same.
 * What is decided here is plain TypeScript; the SQL is each store's: store-changes-sqlite.ts
 * (synchronous, inside better-sqlite3's transaction) and store-changes-postgres.ts.
 */
import { changeText } from '../changes/text.js';
import { pickTrigger, type TriggerCandidate } from '../changes/trigger.js';
import type { FindingTrigger, HostChange, StoredChange } from '../model/changes.js';
import type { Finding } from '../model/finding.js';

/** Churn entries of one record arriving within this long of the last one are folded into it. */
export const CHANGE_FOLD_MS = 5 * 60_000;
/** Default retention of the change log (`serve --timeline-days`). */
export const DEFAULT_TIMELINE_DAYS = 30;
/** Changes looked at when choosing a trigger: the latest this many of the finding's hosts. */
export const TRIGGER_CANDIDATES = 200;

export interface ChangeFilter {
  hosts?: string[];
  /** ISO times on the aggregator's clock: changes whose time span meets [since, until]. */
  since?: string;
  until?: string;
  limit?: number;
}

/** A stored change as the API serves it, with its words. */
export type ServedChange = StoredChange & { lastServerAt: string; text: string };

/** What the aggregator reads of the change log (`Store.changes`); writes happen inside a store's commit. */
export interface ChangeLog {
  /** Changes newest first. */
  query(filter?: ChangeFilter): Promise<ServedChange[]>;
  /** Remove changes last seen before `cutoff`; returns how many. */
  prune(cutoff: string): Promise<number>;
}

/** A `changes` row as both stores return it. */
export interface ChangeRow {
  id: number; host: string; seq: number; at: string; last_at: string | null; server_at: string; last_server_at: string; received_at: string;
  kind: string; action: string; subject: string; line_before: string | null; line_after: string | null; owner: string; count: number;
  /** Schema step 5: JSON {from, until} for a change found at the agent's start; null otherwise (and in rows of older versions). */
  stopped_between?: string | null;
}

/** The report a change came with: its host, number and times. */
export interface ChangeSource {
  host: string;
  seq: number;
  sentAt: string;
  receivedAt: string;
}

/** One change of a report, ready to insert (`lastAt` null when it folds nothing) or to fold (`foldLastAt`). */
export interface ChangeValues {
  host: string; seq: number; at: string; lastAt: string | null; foldLastAt: string; serverAt: string; lastServerAt: string; receivedAt: string;
  kind: string; action: string; subject: string; before: string | null; after: string | null; owner: string; count: number;
  /** JSON of the change's `between` (found at the agent's start), else null. */
  stoppedBetween: string | null;
  /** A churn entry (rewritten, transient): it may fold into the host's last entry about the same record. */
  churn: boolean;
}

/** The latest entry about a record, as the fold step reads it. */
export interface LatestChange { id: number; action: string; owner: string; last_server_at: string }

/**
 * The rows a report's changes become. `serverAt` is the change's time on this server's clock:
 * the receive time less how long before sending the agent saw it.
 */
export function changeValues(source: ChangeSource, changes: readonly HostChange[]): ChangeValues[] {
  const received = Date.parse(source.receivedAt);
  const sent = Date.parse(source.sentAt);
  const onServer = (at: string): string => {
    const lag = sent - Date.parse(at);
    return new Date(Number.isFinite(lag) && lag > 0 ? received - lag : received).toISOString();
  };
  return changes.map((c) => {
    const serverAt = onServer(c.at);
    return {
      host: source.host, seq: source.seq, at: c.at, lastAt: c.lastAt ?? null, foldLastAt: c.lastAt ?? c.at, serverAt, lastServerAt: c.lastAt ? onServer(c.lastAt) : serverAt,
      receivedAt: source.receivedAt, kind: c.kind, action: c.action, subject: c.subject, before: c.before ?? null, after: c.after ?? null,
      owner: JSON.stringify(c.owner), count: c.count, stoppedBetween: c.between ? JSON.stringify({ from: c.between.from, until: c.between.until }) : null,
      churn: c.action === 'rewritten' || c.action === 'transient',
    };
  });
}

/** Whether churn entry `v` folds into `last` (same action and owner, within CHANGE_FOLD_MS). */
export function foldsInto(v: ChangeValues, last: LatestChange | undefined): last is LatestChange {
  return last !== undefined && last.action === v.action && last.owner === v.owner && Date.parse(v.serverAt) - Date.parse(last.last_server_at) <= CHANGE_FOLD_MS;
}

/** A finding row as the trigger step reads it. */
export interface TriggerFindingRow { body: string; first_seen: string; resolved_at: string | null; trigger_change: string | null; resolved_by: string | null }

/** Whether a commit at `now` opened the finding (a trigger to name) or resolved it (a resolving change to name). */
export function settling(row: TriggerFindingRow, now: string): 'opened' | 'resolved' | undefined {
  if (row.resolved_at === null && row.first_seen === now && !triggerFor(row.trigger_change, now)) return 'opened';
  if (row.resolved_at === now && !triggerFor(row.resolved_by, now)) return 'resolved';
  return undefined;
}

/**
 * A stored trigger (or resolving change) if it is the one of the opening (or resolution) at `at`,
 * the finding's first_seen (or resolved_at): triggerOf stamps each with that time as `settledAt`.
 * A replica of the previous version (store steps 1-3, while an upgrade rolls; docs/replicas.md)
 * reopens and resolves findings without knowing these columns, and leaves the last opening's
 * trigger and resolving change behind: those are not this opening's. Stored before the stamp
 * (no `settledAt`): taken as it is.
 */
export function triggerFor(stored: string | null | undefined, at: string | null): FindingTrigger | undefined {
  if (!stored || !at) return undefined;
  const { settledAt, ...trigger } = JSON.parse(stored) as FindingTrigger & { settledAt?: string };
  return settledAt === undefined || settledAt === at ? trigger : undefined;
}

/** The hosts whose changes may have opened or resolved a finding: its host and, for a fleet finding, every host of its pairs. */
export function triggerHosts(body: string): { finding: Finding; hosts: string[] } {
  const finding = JSON.parse(body) as Finding & { pairs?: string[][] };
  return { finding, hosts: [...new Set([finding.host, ...(finding.pairs ?? []).flat()])] };
}

/** The trigger among `rows` (the candidates: those hosts' latest changes that had arrived by `now`), as stored JSON, stamped with `now` (triggerFor). */
export function triggerOf(finding: Finding, rows: ChangeRow[], now: string, verb: 'opened' | 'resolved'): string | undefined {
  const candidates: TriggerCandidate[] = rows.map((r) => ({ host: r.host, change: hostChangeOf(r), time: Date.parse(r.last_server_at), look: `${r.host}#${r.seq}` }));
  const trigger: FindingTrigger | undefined = pickTrigger(finding, candidates, Date.parse(now), verb);
  return trigger ? JSON.stringify({ ...trigger, settledAt: now }) : undefined;
}

function hostChangeOf(r: ChangeRow): HostChange {
  return {
    at: r.at, ...(r.last_at ? { lastAt: r.last_at } : {}), count: Number(r.count), kind: r.kind as HostChange['kind'], action: r.action as HostChange['action'], subject: r.subject,
    ...(r.line_before !== null ? { before: r.line_before } : {}), ...(r.line_after !== null ? { after: r.line_after } : {}), owner: JSON.parse(r.owner) as HostChange['owner'],
    ...(r.stopped_between ? { between: JSON.parse(r.stopped_between) as NonNullable<HostChange['between']> } : {}),
  };
}

export function servedChange(r: ChangeRow): ServedChange {
  const c = hostChangeOf(r);
  return { id: Number(r.id), host: r.host, seq: Number(r.seq), ...c, receivedAt: r.received_at, serverAt: r.server_at, lastServerAt: r.last_server_at, text: changeText(c) };
}

/** The query's row limit: 1,000 unless asked, 1 to 100,000. */
export function changeLimit(filter: ChangeFilter): number {
  return Math.max(1, Math.min(filter.limit ?? 1000, 100_000));
}

/** Schema step 5, the same on both stores: where a change found at the agent's start keeps its `between`. */
export const STOPPED_BETWEEN_MIGRATION = 'ALTER TABLE changes ADD COLUMN stopped_between TEXT';

/** The schema step that adds the timeline to SQLite (store-migrations.ts appends it). */
export const CHANGES_MIGRATION = `CREATE TABLE changes (
     id INTEGER PRIMARY KEY AUTOINCREMENT, host TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, last_at TEXT,
     server_at TEXT NOT NULL, last_server_at TEXT NOT NULL, received_at TEXT NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL,
     subject TEXT NOT NULL, line_before TEXT, line_after TEXT, owner TEXT NOT NULL, count INTEGER NOT NULL);
   CREATE INDEX changes_host_time ON changes (host, last_server_at);
   CREATE INDEX changes_time ON changes (server_at);
   CREATE INDEX changes_subject ON changes (host, kind, subject);
   ALTER TABLE findings ADD COLUMN trigger_change TEXT;
   ALTER TABLE findings ADD COLUMN resolved_by TEXT;`;
