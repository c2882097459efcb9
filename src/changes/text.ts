/** A change in words: "docker0 172.17.0.1/16 appeared (Docker network "bridge")". */
import type { HostChange } from '../model/changes.js';
import { ownerText } from './owner.js';

function sysctlValue(line: string | undefined): string {
  return line === undefined ? '?' : line.slice(line.indexOf('=') + 1).trim();
}

/** What happened to the subject, without the owner. */
export function changeWhat(c: Pick<HostChange, 'kind' | 'action' | 'subject' | 'before' | 'after' | 'count'>): string {
  switch (c.action) {
    case 'added': return `${c.subject} appeared`;
    case 'removed': return `${c.subject} went away`;
    case 'changed': return c.kind === 'sysctl' ? `${c.subject} changed from ${sysctlValue(c.before)} to ${sysctlValue(c.after)}` : `${c.subject} changed`;
    case 'rewritten': return `${c.subject} was rewritten ${c.count} time${c.count === 1 ? '' : 's'} without change`;
    case 'transient': return `${c.subject} came and went ${c.count} time${c.count === 1 ? '' : 's'}`;
  }
}

/** The change and, unless unknown, who likely made it; for one found at the agent's start, when it may have happened. */
export function changeText(c: Pick<HostChange, 'kind' | 'action' | 'subject' | 'before' | 'after' | 'count' | 'owner' | 'between'>): string {
  const text = c.owner.type === 'unknown' ? changeWhat(c) : `${changeWhat(c)} (${ownerText(c.owner)})`;
  return c.between ? `${text}, while the agent was stopped (${betweenText(c.between)})` : text;
}

/** "some time between 2026-12-05 00:40:01 and 00:45:10, agent clock": the day again only when it differs. */
export function betweenText(w: NonNullable<HostChange['between']>): string {
  const short = (iso: string): string => new Date(iso).toISOString().slice(0, 19).replace('T', ' ');
  const from = short(w.from);
  const until = short(w.until);
  return `some time between ${from} and ${until.slice(0, 10) === from.slice(0, 10) ? until.slice(11) : until}, agent clock`;
}
