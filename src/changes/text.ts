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

/** The change and, unless unknown, who likely made it. */
export function changeText(c: Pick<HostChange, 'kind' | 'action' | 'subject' | 'before' | 'after' | 'count' | 'owner'>): string {
  return c.owner.type === 'unknown' ? changeWhat(c) : `${changeWhat(c)} (${ownerText(c.owner)})`;
}
