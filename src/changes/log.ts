/**
 * The agent's change log: `ip monitor` lines say when the kernel announced a change (and how
 * often); the snapshot of each check says what changed, compared with the previous check's.
 * Announcements with no difference between the looks are churn: one entry per record with a
 * count (`rewritten`, or `transient` for a record neither look has), and many such entries of
 * one kind and owner become one. No I/O: the agent passes the lines, their times and snapshots.
 * Started with the state the agent saved at its last check before it stopped (a baseline), the
 * first look's differences not announced since the start are what changed while it was
 * stopped: their time is unknown, so they carry `between` (that check's time to this look's).
 */
import type { ChangeKind, HostChange } from '../model/changes.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { isoTime } from '../model/iso-time.js';
import { changeOf, diffStates } from './diff.js';
import { monitorKey, type MonitorKey } from './monitor.js';
import { routeOwner } from './owner.js';
import { changeState, detachedState, type ChangeState, type StateItem } from './state.js';

/** Announcements kept between two checks (their counts go on beyond it). */
const MAX_SEEN_KEYS = 10_000;
/** More churn entries than this of one kind and owner in one check become one entry. */
const GROUP_MIN = 10;
/** Entries one check sends at most; the rest become one entry that counts them. */
export const MAX_CHANGES_PER_CHECK = 500;

interface Seen {
  key: MonitorKey;
  first: number;
  last: number;
  n: number;
}

/** The state the agent saved at its last check before it stopped, and that check's time (ms). */
export interface ChangeBaseline {
  state: ChangeState;
  at: number;
}

export class ChangeLog {
  private previous: ChangeState | undefined;
  private seen = new Map<string, Seen>();
  private firstLine: number | undefined;
  private byDev = new Map<string, number>();
  /** Set until the first look: when the baseline was saved. */
  private baselineAt: number | undefined;
  private stateChanged = false;

  constructor(baseline?: ChangeBaseline) {
    if (!baseline) return;
    this.previous = baseline.state;
    this.baselineAt = baseline.at;
  }

  /** Whether the last look's state differs from the one before (or was the first): the agent saves it again. */
  get changed(): boolean {
    return this.stateChanged;
  }

  /** The last look's state (what the agent saves as its baseline). */
  get state(): ChangeState | undefined {
    return this.previous;
  }

  /** One `ip monitor` line, at `at` (ms, the agent's clock). */
  observe(line: string, at: number): void {
    const key = monitorKey(line);
    if (!key) return;
    this.firstLine ??= at;
    if (key.dev !== undefined && !this.byDev.has(key.dev)) this.byDev.set(key.dev, at);
    const s = this.seen.get(key.match);
    if (s) {
      s.last = at;
      s.n++;
    } else if (this.seen.size < MAX_SEEN_KEYS) this.seen.set(key.match, { key, first: at, last: at, n: 1 });
  }

  /** The first look (start-up): nothing to compare with yet. */
  get primed(): boolean {
    return this.previous !== undefined;
  }

  /**
   * The changes since the previous look, `now` being this look's time (ms). The first look only
   * remembers the state. Announcements since `lookStarted` (during the collection) that no
   * difference explains may be of a change this look missed: they wait for the next look.
   */
  settle(snapshot: HostSnapshot, now: number, lookStarted = now): HostChange[] {
    // Kept until the next look: detached from the snapshot, which is garbage once the check is done.
    const state = detachedState(changeState(snapshot));
    const before = this.previous;
    const seen = this.seen;
    const firstLine = this.firstLine;
    const byDev = this.byDev;
    const stoppedSince = this.baselineAt;
    this.previous = state;
    this.seen = new Map();
    this.firstLine = undefined;
    this.byDev = new Map();
    this.baselineAt = undefined;
    this.stateChanged = true;
    if (!before) return [];
    const out: HostChange[] = [];
    const explained = new Set<string>();
    const diff = diffStates(before, state);
    this.stateChanged = diff.length > 0;
    for (const item of diff) {
      explained.add(item.match);
      const s = seen.get(item.match);
      // At the start, what no line announced since happened while the agent was stopped.
      if (stoppedSince !== undefined && !s) {
        out.push({ ...changeOf(item), at: isoTime(now), between: { from: isoTime(Math.min(stoppedSince, now)), until: isoTime(now) } });
        continue;
      }
      const at = s?.first ?? (item.dev !== undefined ? byDev.get(item.dev) : undefined) ?? firstLine ?? now;
      out.push({ ...changeOf(item), at: isoTime(Math.min(at, now)) });
    }
    for (const [match, s] of seen) {
      if (explained.has(match) || s.first < lookStarted) continue;
      seen.delete(match);
      this.seen.set(match, s);
    }
    out.push(...churn(seen, explained, before, state));
    out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    if (out.length <= MAX_CHANGES_PER_CHECK) return out;
    const rest = out.splice(MAX_CHANGES_PER_CHECK - 1);
    out.push({ at: rest[0].at, lastAt: rest.at(-1)!.at, count: rest.reduce((n, c) => n + c.count, 0), kind: rest[0].kind, action: 'changed', subject: `${rest.length} more changes (not listed)`, owner: { type: 'unknown' } });
    return out;
  }
}


/** Announced records that did not change between the looks, one entry each, grouped when many. */
function churn(seen: Map<string, Seen>, explained: Set<string>, before: ChangeState, after: ChangeState): HostChange[] {
  const byMatch = new Map<string, StateItem>();
  for (const x of [...before.values(), ...after.values()]) if (!byMatch.has(x.match)) byMatch.set(x.match, x);
  const devOwners = new Map([...after.values()].filter((x) => x.kind === 'link').map((x) => [x.dev!, x.owner]));
  const entries: HostChange[] = [];
  for (const [match, s] of seen) {
    // Links and settings are announced on many occasions; only routes, rules and addresses churn.
    if (explained.has(match) || s.key.kind === 'link' || s.key.kind === 'netconf') continue;
    const item = byMatch.get(match);
    const timing = { at: isoTime(s.first), ...(s.n > 1 ? { lastAt: isoTime(s.last) } : {}), count: s.n };
    // In one look only: added or removed with a link or address, folded into that change (diff.ts).
    if (item && before.has(item.id) !== after.has(item.id)) continue;
    if (item) entries.push({ ...timing, kind: item.kind, action: 'rewritten', subject: item.subject, before: item.line, after: item.line, owner: item.owner });
    else {
      const owner = s.key.kind === 'route' ? routeOwner({ proto: s.key.proto, dev: s.key.dev, nexthops: [] }, devOwners) : s.key.dev !== undefined ? (devOwners.get(s.key.dev) ?? { type: 'unknown' as const }) : { type: 'unknown' as const };
      entries.push({ ...timing, kind: s.key.kind as ChangeKind, action: 'transient', subject: s.key.subject, after: s.key.line, owner });
    }
  }
  return group(entries);
}

/** Many churn entries of one kind, action and owner → one entry with their count and a few of their lines. */
function group(entries: HostChange[]): HostChange[] {
  const groups = new Map<string, HostChange[]>();
  for (const e of entries) {
    const k = `${e.kind}|${e.action}|${e.owner.type}|${e.owner.name ?? ''}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(e);
  }
  const out: HostChange[] = [];
  for (const g of groups.values()) {
    if (g.length < GROUP_MIN) {
      out.push(...g);
      continue;
    }
    const lines = g.slice(0, 3).map((e) => e.after ?? e.before ?? e.subject);
    const more = g.length > 3 ? `\n… and ${g.length - 3} more` : '';
    const first = g.reduce((a, e) => (e.at < a ? e.at : a), g[0].at);
    const last = g.reduce((a, e) => ((e.lastAt ?? e.at) > a ? (e.lastAt ?? e.at) : a), g[0].lastAt ?? g[0].at);
    const x = g[0];
    out.push({
      at: first, ...(last !== first ? { lastAt: last } : {}), count: g.reduce((n, e) => n + e.count, 0), kind: x.kind, action: x.action,
      subject: `${g.length} ${x.kind === 'address' ? 'addresses' : `${x.kind}s`}`, ...(x.action === 'rewritten' ? { before: lines.join('\n') + more } : {}), after: lines.join('\n') + more, owner: x.owner,
    });
  }
  return out;
}
