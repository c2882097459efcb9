/**
 * What the aggregator asks of its store, and the two stores that answer: one SQLite file
 * (store-sqlite.ts, the embedded default) and a PostgreSQL database that any number of
 * replicas share (store-postgres.ts). Both hold the same tables (store-migrations.ts) and
 * behave the same; test/aggregator/store-contract.test.ts runs one suite against each.
 *
 * Per host: identity, latest snapshot, a bounded report history; findings with first seen,
 * last seen and resolved, from the host's own report, the fleet match, or both (one row per
 * key); acks and silences; tokens issued at enrolment (hashes only); sections (a version 2
 * snapshot's big parts) by digest; the hosts' change logs and each finding's trigger and
 * resolving change (the timeline, store-changes.ts). A report is committed in one transaction
 * before its ack.
 *
 * Every method is asynchronous (PostgreSQL answers over a socket); the SQLite store answers at
 * once. Adding a table: a step in both migration lists, methods here, both implementations,
 * and cases in the contract suite.
 */
import type { Finding, Severity } from '../model/finding.js';
import type { AcceptedHello, ReportMessage, SectionKind } from '../model/protocol.js';
import { triggerFor, type ChangeLog } from './store-changes.js';

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

/** A stored snapshot (without its sections) and the sections it names. */
export interface StoredSnapshot {
  name: string;
  /** The digest of the report whose snapshot this is. */
  digest: string | null;
  snapshot: unknown;
  sections: HostSections;
}

/** A host another replica changed, as a follower reads it back (Store.readBack). */
export interface ReadBackRow {
  name: string;
  digest: string | null;
  /** The snapshot's JSON text (without its sections); null when its digest is the one the reader holds. */
  text: string | null;
  sections: HostSections;
  /** The host's newest report (asked for when someone watches the event stream). */
  latest?: { seq: number; findings: number };
}

/**
 * What the aggregator asks of a store about sections. Whatever a report's digest names must
 * resolve here, not in one process's memory: a store shared by several aggregators (PostgreSQL
 * replicas) answers for all of them.
 */
export interface SectionStore {
  /** Store a section under its digest (a digest already stored is kept as it is). */
  putSection(digest: string, kind: SectionKind, content: string, now: string): Promise<void>;
  section(digest: string): Promise<StoredSection | undefined>;
  /** The sections of the host's stored snapshot. */
  hostSections(host: string): Promise<HostSections>;
  /** Remove sections stored before `cutoff` that no host's snapshot names; returns how many. */
  pruneSections(cutoff: string): Promise<number>;
}

export interface CommitInput {
  hello: AcceptedHello;
  report: ReportMessage;
  bytes: number;
  receivedAt: string;
  /** Fleet findings found / resolved by the match this report triggered. */
  fleetFound: Finding[];
  fleetResolved: Finding[];
}

export interface Store extends SectionStore {
  /** "sqlite" or "postgres" (logs, metrics, tests). */
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Store reports (in arrival order), their host findings and fleet diffs in one transaction.
   * Resolves when committed. Of several reports of one host only the last one's snapshot is written.
   */
  commitReports(inputs: CommitInput[]): Promise<void>;
  /** Apply a fleet diff on its own (start-up reconciliation, host removal, topology). */
  commitFleet(found: Finding[], resolved: string[], now: string): Promise<void>;
  lastSeq(host: string): Promise<number>;
  hasReport(host: string, seq: number): Promise<boolean>;
  /** Record heartbeats' last-seen times in one transaction. */
  touch(lastSeen: Map<string, string>): Promise<void>;
  /** Mark hosts silent since before `cutoff` stale; returns the newly stale names. */
  markStale(cutoff: string): Promise<string[]>;
  hosts(): Promise<HostRow[]>;
  host(name: string): Promise<HostRow | undefined>;
  snapshot(name: string): Promise<unknown>;
  /** Every stored snapshot (without its sections), to rebuild the fleet index at start-up. */
  snapshots(): AsyncIterable<StoredSnapshot>;
  /** The host's report history, newest first; `limit`: only the newest so many. */
  reports(host: string, limit?: number): Promise<ReportRow[]>;
  findings(filter?: FindingFilter, now?: string): Promise<StoredFinding[]>;
  finding(key: string): Promise<StoredFinding | undefined>;
  /** Acknowledge or silence a finding by key; false when no such finding. */
  setAck(key: string, ack: { state: 'acknowledged' | 'silenced'; who: string; why: string; until?: string }): Promise<boolean>;
  clearAck(key: string): Promise<boolean>;
  tokenByHash(hash: string): Promise<IssuedToken | undefined>;
  tokenByHost(host: string): Promise<IssuedToken | undefined>;
  putToken(t: IssuedToken): Promise<void>;
  /** Each host with a stored snapshot and its digest (a replica compares them with its index after a gap). */
  hostDigests(): Promise<Map<string, string | null>>;
  /**
   * Replicas sharing the store: `changed` gets the hosts whose reports another replica committed
   * (`report`) or marked stale (`stale`); `gap` runs when notifications may have been missed (the
   * database restarted), before they flow again. Resolves with a function that stops following.
   * Absent where one process owns the store (SQLite).
   */
  follow?(handlers: FollowHandlers): Promise<() => Promise<void>>;
  /**
   * Read back hosts another replica changed (with follow), in one query: each one's digest and
   * sections, its snapshot text only where the digest differs from `known`'s (a periodic report
   * of an unchanged host costs no snapshot), and with `latest` its newest report.
   */
  readBack?(hosts: string[], known: ReadonlyMap<string, string | null>, latest: boolean): Promise<ReadBackRow[]>;
  /** Tell the other replicas which agents connected to this one, left it, or are still connected (with follow). */
  announce?(kind: 'connected' | 'disconnected' | 'present' | 'ask', hosts: string[]): Promise<void>;
  /** The hosts' change logs, read by the timeline (written inside commitReports; store-changes.ts). */
  readonly changes: ChangeLog;
  /** The highest schema step applied (store-migrations.ts). */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}

/**
 * What replicas tell each other: reports committed, hosts marked stale, agents connected or gone,
 * agents still connected, and (`ask`) a request that every replica say which agents it holds.
 */
export type ChangeKind = 'report' | 'stale' | 'connected' | 'disconnected' | 'present' | 'ask';

export interface FollowHandlers {
  /** `replica`: the id of the replica that said it (an agent's `disconnected` from one replica does not undo its `connected` on another). */
  changed(kind: ChangeKind, hosts: string[], replica?: string): void;
  gap(): void;
}

/** Raised when the database cannot be opened or migrated; keeps the driver's error as cause. */
export class StoreError extends Error {
  override name = 'StoreError';
}

/** Whether `--db` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(db);
}

/** A database URL with its password hidden, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}

/** A finding row as both stores return it (flags are 0/1 on both). */
export interface FindingDbRow {
  key: string; body: string; from_host: number; from_fleet: number; first_seen: string; last_seen: string; resolved_at: string | null;
  ack_state: 'acknowledged' | 'silenced' | null; who: string | null; why: string | null; until: string | null; at: string | null;
  trigger_change?: string | null; resolved_by?: string | null;
}

export function hostRow(r: Record<string, unknown>): HostRow {
  return {
    name: r.name as string, hostname: r.hostname as string, machineId: r.machine_id as string | null, instanceId: r.instance_id as string | null,
    agentVersion: r.agent_version as string | null, firstSeen: r.first_seen as string, lastSeen: r.last_seen as string,
    lastSeq: Number(r.last_seq), digest: r.digest as string | null, complete: Number(r.complete) === 1, stale: Number(r.stale) === 1,
  };
}

export function reportRow(r: Record<string, unknown>): ReportRow {
  return {
    seq: Number(r.seq), sentAt: r.sent_at as string, receivedAt: r.received_at as string, digest: r.digest as string,
    bytes: Number(r.bytes), findings: Number(r.findings), complete: Number(r.complete) === 1,
  };
}

export function storedFinding(r: FindingDbRow): StoredFinding {
  const sources: ('host' | 'fleet')[] = [];
  if (Number(r.from_host)) sources.push('host');
  if (Number(r.from_fleet)) sources.push('fleet');
  const ack = r.ack_state ? { state: r.ack_state, who: r.who!, why: r.why!, until: r.until, at: r.at! } : undefined;
  const state: FindingState = r.resolved_at ? 'resolved' : ack ? ack.state : 'open';
  const finding = JSON.parse(r.body) as Finding;
  // The timeline's word on it: set by the store, never by an agent (a body that carries one is not believed).
  delete finding.trigger;
  delete finding.resolvedBy;
  // Only this opening's and this resolution's (a replica of the previous version leaves the last ones behind).
  const trigger = triggerFor(r.trigger_change, r.first_seen);
  const resolvedBy = triggerFor(r.resolved_by, r.resolved_at);
  if (trigger) finding.trigger = trigger;
  if (resolvedBy) finding.resolvedBy = resolvedBy;
  return { finding, sources, firstSeen: r.first_seen, lastSeen: r.last_seen, resolvedAt: r.resolved_at, state, ...(ack ? { ack } : {}) };
}

/**
 * The body a finding row gets when `f` arrives from `source` over a stored row. The fleet's text
 * names both sides: it wins over the host's while the fleet reports it. The host's kernel
 * verdict is the only one (the fleet asks no kernel): it is kept either way. `stored` is the
 * row's body, read only when `needsStored` says so.
 */
export function mergedFindingBody(f: Finding, source: 'host' | 'fleet', row: { from_host: number; from_fleet: number }, stored: () => Finding): string {
  const keepFleetBody = source === 'host' && Number(row.from_fleet) === 1;
  const old = keepFleetBody || (source === 'fleet' && Number(row.from_host) === 1) ? stored() : undefined;
  const kernel = source === 'host' ? f.kernel : old?.kernel;
  const base = keepFleetBody ? old! : f;
  return JSON.stringify(kernel ? { ...base, kernel } : base);
}

/** The LIKE pattern that finds bodies whose pairs may name `host` (the exact test follows in code). */
export function hostLikePattern(host: string): string {
  return `%"pairs":[%"${host.replace(/[%_"\\]/g, '')}"%`;
}

/** Apply the filter parts SQL leaves to code (pairs naming the host, state, limit). */
export function filterFindings(rows: StoredFinding[], filter: FindingFilter): StoredFinding[] {
  let out = rows;
  if (filter.host) out = out.filter((r) => r.finding.host === filter.host || (r.finding as Finding & { pairs?: string[][] }).pairs?.some((p) => p.includes(filter.host!)));
  if (filter.state) out = out.filter((r) => r.state === filter.state);
  return filter.limit ? out.slice(0, filter.limit) : out;
}
