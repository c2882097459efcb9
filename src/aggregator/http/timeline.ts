/**
 * GET /api/timeline and GET /api/hosts/NAME/timeline (docs/api.md, docs/timeline.md): the hosts'
 * changes and their findings opening and resolving, on one time axis, newest first.
 */
import type { FindingTrigger } from '../../model/changes.js';
import type { Severity } from '../../model/finding.js';
import type { Aggregator } from '../aggregator.js';
import type { ServedChange } from '../store-changes.js';
import type { StoredFinding } from '../store.js';

/** A bad query parameter (the API answers 400). */
export class TimelineQueryError extends Error {
  override name = 'TimelineQueryError';
}

/** A finding on the timeline: when it opened and resolved, and the changes that likely did it. */
export interface TimelineFinding {
  key: string;
  check: string;
  severity: Severity;
  host: string;
  summary: string;
  pairs?: string[][];
  state: StoredFinding['state'];
  openedAt: string;
  resolvedAt: string | null;
  trigger?: FindingTrigger;
  resolvedBy?: FindingTrigger;
}

export interface Timeline {
  since: string | null;
  until: string | null;
  changes: ServedChange[];
  findings: TimelineFinding[];
}

/** An ISO time or milliseconds since the epoch, as ISO; undefined when absent. */
function timeParam(params: URLSearchParams, name: string): string | undefined {
  const v = params.get(name);
  if (v === null || v === '') return undefined;
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(ms)) throw new TimelineQueryError(`${name}=${v.slice(0, 64)}: expected an ISO time or milliseconds since 1970`);
  return new Date(ms).toISOString();
}

function limitParam(params: URLSearchParams): number {
  const v = params.get('limit');
  if (v === null) return 1000;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new TimelineQueryError(`limit=${v.slice(0, 32)}: expected 1 to 100000`);
  return n;
}

/** The timeline of `hosts` (all hosts when undefined) between `since` and `until` (query parameters). */
export async function timelineOf(agg: Aggregator, params: URLSearchParams, hosts?: string[]): Promise<Timeline> {
  const since = timeParam(params, 'since');
  const until = timeParam(params, 'until');
  if (since && until && since > until) throw new TimelineQueryError('since is after until');
  const limit = limitParam(params);
  const changes = await agg.store.changes.query({ hosts, since, until, limit });
  const stored = await (hosts?.length === 1 ? agg.store.findings({ host: hosts[0] }) : agg.store.findings());
  const wanted = hosts && hosts.length > 1 ? new Set(hosts) : undefined;
  const findings: TimelineFinding[] = [];
  for (const s of stored) {
    const f = s.finding as StoredFinding['finding'] & { pairs?: string[][] };
    if (wanted && !wanted.has(f.host) && !(f.pairs ?? []).some((p) => p.some((h) => wanted.has(h)))) continue;
    // Its life, from opening to resolving (or now), meets [since, until].
    if ((until && s.firstSeen > until) || (since && s.resolvedAt !== null && s.resolvedAt < since)) continue;
    findings.push({
      key: f.key, check: f.check, severity: f.severity, host: f.host, summary: f.summary, ...(f.pairs ? { pairs: f.pairs } : {}), state: s.state,
      openedAt: s.firstSeen, resolvedAt: s.resolvedAt, ...(f.trigger ? { trigger: f.trigger } : {}), ...(f.resolvedBy ? { resolvedBy: f.resolvedBy } : {}),
    });
  }
  findings.sort((a, b) => (a.openedAt < b.openedAt ? 1 : a.openedAt > b.openedAt ? -1 : 0));
  return { since: since ?? null, until: until ?? null, changes, findings: findings.slice(0, limit) };
}
