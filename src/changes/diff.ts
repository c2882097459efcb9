/**
 * Two looks at a host → what changed between them: records added, removed and changed, with the
 * line before and after. What a change takes with it is folded into it: a removed link's
 * addresses, routes and settings; an added link's settings and kernel-made link-local parts; the
 * kernel's routes of an address added or removed. The agent's change log and `hostcheck diff`
 * both read this.
 */
import type { ChangeAction, ChangeKind, ChangeOwner, HostChange } from '../model/changes.js';
import type { ChangeState, StateItem } from './state.js';

export interface ChangeItem {
  kind: ChangeKind;
  action: Extract<ChangeAction, 'added' | 'removed' | 'changed'>;
  id: string;
  subject: string;
  before?: string;
  after?: string;
  owner: ChangeOwner;
  dev?: string;
  match: string;
}

const KIND_ORDER: Record<ChangeKind, number> = { link: 0, address: 1, route: 2, rule: 3, 'xfrm-policy': 4, sysctl: 5 };

export function diffStates(before: ChangeState, after: ChangeState): ChangeItem[] {
  const items: ChangeItem[] = [];
  const item = (x: StateItem, action: ChangeItem['action'], was?: StateItem): ChangeItem => ({
    kind: x.kind, action, id: x.id, subject: x.subject, owner: x.owner, match: x.match, ...(x.dev ? { dev: x.dev } : {}),
    ...(action === 'added' ? { after: x.line } : action === 'removed' ? { before: x.line } : { before: was!.line, after: x.line }),
  });
  for (const [id, x] of after) {
    const was = before.get(id);
    if (!was) items.push(item(x, 'added'));
    else if (was.line !== x.line) items.push(item(x, 'changed', was));
  }
  for (const [id, x] of before) if (!after.has(id)) items.push(item(x, 'removed'));
  return fold(items, before, after).sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);
}

/** Drop what came or went only because a link or an address did (see the file's comment). */
function fold(items: ChangeItem[], before: ChangeState, after: ChangeState): ChangeItem[] {
  const linksAdded = new Set<string>();
  const linksRemoved = new Set<string>();
  const addressDevs = new Set<string>();
  for (const i of items) {
    if (i.kind === 'link' && i.action === 'added') linksAdded.add(i.dev!);
    if (i.kind === 'link' && i.action === 'removed') linksRemoved.add(i.dev!);
    if (i.kind === 'address' && i.action !== 'changed') addressDevs.add(i.dev!);
  }
  if (linksAdded.size + linksRemoved.size + addressDevs.size === 0) return items;
  const kernelRoute = (i: ChangeItem): boolean => (before.get(i.id) ?? after.get(i.id))?.proto === 'kernel';
  return items.filter((i) => {
    if (i.kind === 'link' || i.dev === undefined) return true;
    if (linksRemoved.has(i.dev)) return false;
    // A new link's settings, and its IPv6 link-local address and routes, are the kernel's doing.
    if (linksAdded.has(i.dev) && (i.kind === 'sysctl' || (i.kind === 'address' && i.owner.type === 'kernel') || (i.kind === 'route' && kernelRoute(i) && / (ff00::\/8|fe80:)/.test(i.subject)))) return false;
    // An address brings (and takes) the kernel's routes for it: local, broadcast and its prefix.
    if (i.kind === 'route' && addressDevs.has(i.dev) && kernelRoute(i) && i.action !== 'changed' && /^route (local|broadcast) /.test(i.subject)) return false;
    return true;
  });
}

/** What changed between two captures of a host (`hostcheck diff`), each change timed at the second capture. */
export function changesBetween(a: ChangeState, b: ChangeState, at: string): HostChange[] {
  return diffStates(a, b).map((i) => ({ ...changeOf(i), at }));
}

/** A difference as a change-log entry, without its time. */
export function changeOf(i: ChangeItem): Omit<HostChange, 'at'> {
  return { count: 1, kind: i.kind, action: i.action, subject: i.subject, ...(i.before !== undefined ? { before: i.before } : {}), ...(i.after !== undefined ? { after: i.after } : {}), owner: i.owner };
}
