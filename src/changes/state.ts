/**
 * What of a snapshot the change log compares: one item per link, address, route, policy rule,
 * xfrm policy and sysctl, keyed by its identity, with the line `ip` (or sysctl) printed for it,
 * normalised so that what moves by itself (route lifetimes, DAD's `tentative`) is not a change.
 */
import { CHANGE_KINDS, type ChangeKind, type ChangeOwner } from '../model/changes.js';
import type { RouteRecord } from '../model/records.js';
import type { HostSnapshot } from '../model/snapshot.js';
import type { XfrmPolicyRecord } from '../model/xfrm.js';
import { addressOwner, interfaceOwners, routeOwner } from './owner.js';

export interface StateItem {
  kind: ChangeKind;
  /** The identity: the same record in two looks has the same id. */
  id: string;
  subject: string;
  line: string;
  owner: ChangeOwner;
  /** The device it belongs to, if any. */
  dev?: string;
  /** The key of the `ip monitor` lines that announce it (src/changes/monitor.ts). */
  match: string;
  /** A route's protocol (`kernel` routes come and go with their addresses). */
  proto?: string;
}

/** Items by id, in the snapshot's order. */
export type ChangeState = Map<string, StateItem>;

/** Above this many routes only the routes off the uplinks are followed (a BGP table's bulk is not). */
export const STATE_MAX_ROUTES = 50_000;

/** The part of a snapshot the change log compares. */
export function changeState(s: HostSnapshot, opts: { maxRoutes?: number } = {}): ChangeState {
  const state: ChangeState = new Map();
  const put = (item: StateItem): void => void state.set(item.id, item);
  const owners = interfaceOwners(s);
  for (const i of s.interfaces) {
    const owner = owners.get(i.name) ?? { type: 'unknown' };
    // The index the kernel gave the link is no change of the host's.
    put({ kind: 'link', id: `link|${i.name}`, subject: `link ${i.name}`, line: oneLine(i.origin.text).replace(/^\d+: /, ''), owner, dev: i.name, match: `link ${i.name}` });
    for (const a of i.addresses) {
      const line = oneLine(a.origin.text).replace(/\s+tentative\b/, '');
      put({ kind: 'address', id: `address|${i.name}|${a.cidr}`, subject: `${i.name} ${a.cidr}`, line, owner: addressOwner(a, owner), dev: i.name, match: `address ${i.name} ${a.cidr}` });
    }
  }
  const routes = s.routes;
  const bulk = routes.length > (opts.maxRoutes ?? STATE_MAX_ROUTES) ? new Set(s.interfaces.filter((i) => i.uplink).map((i) => i.name)) : undefined;
  for (let i = 0; i < routes.length; i++) {
    if (bulk && routes.isPlain(i) && !routes.isDefault(i) && bulk.has(routes.dev(i) ?? '')) continue;
    const r = routes.get(i);
    put(routeItem(r, owners));
  }
  for (const r of s.rules) {
    const line = oneLine(r.origin.text);
    put({ kind: 'rule', id: `rule|${r.family}|${line}`, subject: `rule ${line}`, line, owner: { type: 'unknown' }, match: `rule ${r.priority}` });
  }
  for (const p of s.xfrmPolicies ?? []) put(xfrmItem(p));
  for (const x of s.sysctls ?? []) {
    const item: StateItem = { kind: 'sysctl', id: `sysctl|${x.key}`, subject: x.key, line: `${x.key} = ${x.value}`, owner: { type: 'unknown' }, match: `netconf ${x.family ?? 4} ${x.device ?? 'all'}` };
    if (x.device && x.device !== 'all' && x.device !== 'default') item.dev = x.device;
    put(item);
  }
  return state;
}

/**
 * The same state with strings of its own, for a state kept from one look to the next (the agent's
 * change log). changeState builds its ids, subjects and match keys piece by piece from the
 * records' fields, and some pieces are cut from the dumps: a kept state would hold the trees of
 * pieces and, through the cuts, whole dumps (a million routes' 47 MB `ip route` text kept alive by
 * 30,000 followed routes: 69 MB, 14 MB with flat copies). The items are changed in place.
 */
export function detachedState(state: ChangeState): ChangeState {
  for (const item of state.values()) {
    item.id = ownString(item.id);
    item.subject = ownString(item.subject);
    item.line = ownString(item.line);
    item.match = ownString(item.match);
    if (item.dev !== undefined) item.dev = ownString(item.dev);
    if (item.proto !== undefined) item.proto = ownString(item.proto);
    // An owner may be shared between items (a device's): its name is the same after the copy.
    if (item.owner.name !== undefined) item.owner.name = ownString(item.owner.name);
  }
  return state;
}

/**
 * A flat copy of `s` that refers to no other string. V8 keeps a string of fewer than 13 characters
 * flat and whole; a longer one may be a tree of concatenated pieces or a cut of a bigger text.
 */
function ownString(s: string): string {
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string);
}

/** The version of stateToJson's text: a state saved by another version is not compared with. */
const STATE_FORMAT = 1;

/** A state as text, for the agent to keep between runs (src/agent/state.ts, BaselineFile). */
export function stateToJson(state: ChangeState): string {
  return JSON.stringify({ format: STATE_FORMAT, items: [...state.values()] });
}

/** A state stateToJson wrote; undefined for anything else (another format, a damaged file). */
export function stateFromJson(text: string): ChangeState | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const { format, items } = (parsed ?? {}) as { format?: unknown; items?: unknown };
  if (format !== STATE_FORMAT || !Array.isArray(items)) return undefined;
  const state: ChangeState = new Map();
  for (const x of items as Partial<StateItem>[]) {
    const ok = typeof x === 'object' && x !== null && (CHANGE_KINDS as readonly unknown[]).includes(x.kind)
      && [x.id, x.subject, x.line, x.match].every((v) => typeof v === 'string') && typeof x.owner?.type === 'string'
      && (x.dev === undefined || typeof x.dev === 'string') && (x.proto === undefined || typeof x.proto === 'string');
    if (!ok) return undefined;
    state.set(x.id!, x as StateItem);
  }
  return state;
}

/** One line of text, spaces folded and trimmed; a route's remaining lifetime dropped. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/ expires -?\d+sec\b/, '').trim();
}

function routeItem(r: RouteRecord, owners: ReadonlyMap<string, ChangeOwner>): StateItem {
  const dst = r.dst === '0.0.0.0/0' || r.dst === '::/0' ? 'default' : r.dst;
  const dev = r.dev ?? r.nexthops.find((n) => n.dev)?.dev;
  // IPv6 keeps one route per device for the same prefix and metric (fe80::/64 on every link).
  const id = `route|${r.family}|${r.table}|${r.type}|${r.dst}|${r.metric ?? ''}|${r.tos ?? ''}${r.family === 6 ? `|${dev ?? ''}` : ''}`;
  const subject = `route ${r.type === 'unicast' ? '' : `${r.type} `}${dst}${r.via ? ` via ${r.via}` : ''}${dev ? ` dev ${dev}` : ''}${r.table === 'main' ? '' : ` table ${r.table}`}`;
  return { kind: 'route', id, subject, line: oneLine(r.origin.text), owner: routeOwner(r, owners), ...(dev ? { dev } : {}), ...(r.proto ? { proto: r.proto } : {}), match: `route ${r.family} ${r.table} ${r.dst}${r.family === 6 ? ` ${dev ?? ''}` : ''}` };
}

function xfrmItem(p: XfrmPolicyRecord): StateItem {
  const sel = p.selector;
  const dir = p.dir ?? `socket ${p.socket ?? ''}`;
  const selector = `${sel.src} → ${sel.dst}${sel.proto ? ` ${sel.proto}` : ''}${sel.sport !== undefined ? ` sport ${sel.sport}` : ''}${sel.dport !== undefined ? ` dport ${sel.dport}` : ''}${sel.dev ? ` dev ${sel.dev}` : ''}`;
  const mark = p.mark ? ` mark ${p.mark.value}/${p.mark.mask}` : '';
  const templates = p.templates.map((t) => ` tmpl ${t.src} → ${t.dst}${t.proto ? ` ${t.proto}` : ''}${t.mode ? ` ${t.mode}` : ''}${t.reqid !== undefined ? ` reqid ${t.reqid}` : ''}${t.level === 'use' ? ' level use' : ''}`).join('');
  return {
    kind: 'xfrm-policy', id: `xfrm-policy|${p.family}|${dir}|${selector}|${p.ptype ?? ''}${mark}|${p.ifId ?? ''}`,
    subject: `xfrm policy ${dir} ${selector}`, line: `${selector} dir ${dir} priority ${p.priority} ${p.action}${mark}${templates}`,
    // xfrm policies are an IPsec daemon's (strongSwan, Libreswan): read from what they are, not from a name.
    owner: { type: 'vpn' }, match: 'xfrm',
  };
}
