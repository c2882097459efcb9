/**
 * A finding's likely trigger: of the changes on its hosts that came before it opened (or
 * resolved) — additions, removals and changes; churn leaves both looks alike — the last one that
 * names something the finding names (a device, or an address or prefix overlapping one of its
 * own). The changes one look found (one report; without looks, those within half a second) are
 * one moment, in which an address beats a route, a route a rule, a rule an xfrm policy, that a
 * link, that a sysctl (an address is what brings its routes). Only when no change within the
 * lookback names anything of the finding is the plain last change named, with `related: false`.
 * The aggregator (src/aggregator/store-changes.ts) and `hostcheck diff` use it.
 */
import type { ChangeKind, FindingTrigger, HostChange } from '../model/changes.js';
import type { Finding } from '../model/finding.js';
import { parsePrefix, prefixesOverlap, type Prefix } from '../net/address.js';
import { changeText } from './text.js';

export interface TriggerCandidate {
  host: string;
  change: HostChange;
  /** The change's time in ms on the clock the finding's time is on (the aggregator's: serverAt). */
  time: number;
  /** The look it came from (host and report): changes of one look are one moment. */
  look?: string;
}

/** Related changes older than this before the finding are not looked at; the last change still is. */
export const TRIGGER_LOOKBACK_MS = 3_600_000;
const MOMENT_MS = 500;
const CHURN = new Set(['rewritten', 'transient']);
const KIND_RANK: Record<ChangeKind, number> = { address: 0, route: 1, rule: 2, 'xfrm-policy': 3, link: 4, sysctl: 5 };

/** What a text names: words that may be devices, and addresses or prefixes. */
interface Names {
  words: Set<string>;
  prefixes: Prefix[];
}

const TOKEN = /[A-Za-z0-9_.:@/-]+/g;

function namesOf(texts: readonly string[]): Names {
  const words = new Set<string>();
  const prefixes: Prefix[] = [];
  for (const t of texts) {
    for (const token of t.match(TOKEN) ?? []) {
      const p = /[.:]/.test(token) ? parsePrefix(token.replace(/[.:]+$/, ''), token.includes(':') ? 6 : 4, true) : null;
      if (p && p.len > 0) prefixes.push(p);
      else words.add(token.replace(/[.:]+$/, ''));
    }
  }
  return { words, prefixes };
}

function findingNames(f: Pick<Finding, 'subject' | 'summary' | 'evidence'>): Names {
  return namesOf([f.subject, f.summary, ...f.evidence.map((e) => e.text)]);
}

/** The change's own names: its devices (from "dev X", "link X", "X 10.0.0.1/24") and prefixes. */
function changeNames(c: HostChange): Names {
  const devices = new Set<string>();
  const text = [c.subject, c.before ?? '', c.after ?? ''].join(' ');
  for (const m of text.matchAll(/\b(?:dev|link|master) ([A-Za-z0-9_.@-]+)/g)) devices.add(m[1].replace(/@.*/, ''));
  if (c.kind === 'address') devices.add(c.subject.split(' ')[0]);
  const { prefixes } = namesOf([c.subject]);
  return { words: devices, prefixes };
}

function related(f: Names, c: Names): boolean {
  for (const w of c.words) if (f.words.has(w)) return true;
  for (const p of c.prefixes) for (const q of f.prefixes) if (prefixesOverlap(p, q)) return true;
  return false;
}

/**
 * The trigger of a finding that opened (or resolved) at `time` (ms), from `candidates` on its
 * hosts (any order; only those at or before `time` count); undefined when there is none.
 */
export function pickTrigger(f: Pick<Finding, 'host' | 'subject' | 'summary' | 'evidence'>, candidates: readonly TriggerCandidate[], time: number, verb: 'opened' | 'resolved'): FindingTrigger | undefined {
  // Churn (rewritten, transient) left both looks the same: it cannot open or resolve anything.
  const before = candidates.filter((c) => c.time <= time && !CHURN.has(c.change.action)).sort((a, b) => b.time - a.time);
  if (before.length === 0) return undefined;
  const names = findingNames(f);
  const near = before.filter((c) => c.time >= time - TRIGGER_LOOKBACK_MS && related(names, changeNames(c.change)));
  let pick: TriggerCandidate;
  if (near.length > 0) {
    const latest = near[0];
    const moment = near.filter((c) => (latest.look !== undefined ? c.look === latest.look : c.time >= latest.time - MOMENT_MS));
    pick = moment.reduce((best, c) => (KIND_RANK[c.change.kind] < KIND_RANK[best.change.kind] ? c : best));
  } else pick = before[0];
  const seconds = Math.max(0, Math.round((time - pick.time) / 1000));
  const isRelated = near.length > 0;
  return {
    at: pick.change.at, host: pick.host, change: pick.change, seconds, related: isRelated,
    // A change found at the agent's start has no time of its own: the start's look is when it was seen.
    text: `${verb} ${seconds} s after ${pick.change.between ? `${pick.host === f.host ? 'the' : `${pick.host}'s`} agent's start found that ` : pick.host === f.host ? '' : `${pick.host}'s `}${changeText(pick.change)}${isRelated ? '' : ' (the last change before it; none names what the finding names)'}`,
  };
}

/** The trigger of a finding that opened between two captures (`hostcheck diff`): the related change, else none. */
export function triggerBetween(f: Pick<Finding, 'subject' | 'summary' | 'evidence'>, host: string, changes: readonly HostChange[], verb: 'opened' | 'resolved'): FindingTrigger | undefined {
  const names = findingNames(f);
  const rel = changes.filter((c) => !CHURN.has(c.action) && related(names, changeNames(c)));
  if (rel.length === 0) return undefined;
  const pick = rel.reduce((best, c) => (KIND_RANK[c.kind] < KIND_RANK[best.kind] ? c : best));
  return { at: pick.at, host, change: pick, related: true, text: `${verb} between the captures, likely after ${changeText(pick)}` };
}
