/**
 * Sections: the parts of a snapshot that grow with the host, in the form a version 2 agent sends
 * them (docs/protocol.md, "Sections"). A section is one text: a JSON header line, then its parts.
 *
 * - `routes`: the `ip route show table all` outputs the routes were parsed from (about 45 bytes a
 *   route instead of ~300 as records); above the full-table threshold, the fleet's routes as records;
 * - `netfilter`: the iptables-save / ip6tables-save dumps (~150 bytes a rule instead of ~1.3 KB),
 *   counters zeroed, plus the marks nft gave (`nftHidden`) and the notices about them;
 * - `nft`: the nft tables as JSON, counters zeroed (of iptables-nft's tables only the base chains:
 *   their rules are the iptables rules above, and the snapshot does not keep nft's copy either);
 * - `ipsets`: the sets as JSON.
 *
 * Its sha256 names it: an unchanged part has an unchanged digest, so it is not sent again.
 * The aggregator reads a section back with the same parsers the snapshot was built with, so
 * both ends hold the same records (counters aside). Pure: no I/O.
 */
import { createHash, type Hash } from 'node:crypto';
import { parseRoutes } from '../../parsers/ip-route.js';
import { jsonTooDeep } from '../model/json-depth.js';
import type { IpsetSet } from '../model/ipset.js';
import type { IptablesNotice, IptablesRule } from '../model/netfilter.js';
import type { NftTable } from '../model/nft.js';
import type { RouteRecord } from '../model/records.js';
import type { SectionKind } from '../model/protocol.js';
import { RouteList } from '../model/route-list.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { withoutIptablesNftRules } from './nft-hidden.js';
import { netfilterDump, routeFamilyKept, withLegacyTables } from './snapshot.js';
import { sourceByName } from './sources.js';

/** A part of a snapshot ready to send: its kind, its text and the text's sha256. */
export interface EncodedSection {
  kind: SectionKind;
  digest: string;
  content: string;
}

/** What a section holds once read back: the snapshot fields it stands for. */
export type DecodedSection =
  | { kind: 'routes'; routes: RouteList }
  | { kind: 'netfilter'; netfilter: HostSnapshot['netfilter'] }
  | { kind: 'nft'; nft: NftTable[] }
  | { kind: 'ipsets'; ipsets: IpsetSet[] };

/** A section the reader refuses; `reason` is the aggregator's rejection reason. */
export class SectionError extends Error {
  override name = 'SectionError';
  constructor(readonly reason: 'schema' | 'too_many_routes' | 'too_many_rules', message: string) {
    super(message);
  }
}

export interface SectionLimits {
  maxRoutes: number;
  /** iptables rules (both families) plus nft rules. */
  maxRules: number;
  /** Arrays and objects nested in a JSON body. */
  maxDepth: number;
}

/** A part smaller than this many records stays inline in the report (a typical host sends no section). */
export const SECTION_MIN_RECORDS = 256;

interface Part {
  source: string;
  family?: 4 | 6;
  length: number;
}

interface Header {
  kind: SectionKind;
  /** routes: `records` when the body is JSON route records (the fleet's part of a big table). */
  form?: 'text' | 'records';
  parts: Part[];
  /** netfilter: the marks nft gave, by family, table index and rule index. */
  hidden?: { family: 4 | 6; table: number; rule: number; mark: NonNullable<IptablesRule['nftHidden']> }[];
  /** netfilter: notices that do not come from the dumps (nft-hidden ones). */
  notices?: IptablesNotice[];
}

export function sectionDigest(content: string): string {
  return hashText(createHash('sha256'), content).digest('hex');
}

const HASH_STEP = 1 << 20;

/**
 * `hash.update(text)` a megabyte at a time: one update of a big host's 47 MB route text makes a
 * 47 MB buffer beside it. A surrogate pair is never split, so the digest is the whole text's.
 */
export function hashText(hash: Hash, text: string): Hash {
  if (text.length <= HASH_STEP) return hash.update(text);
  for (let at = 0; at < text.length;) {
    let end = Math.min(at + HASH_STEP, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end++;
    hash.update(text.slice(at, end));
    at = end;
  }
  return hash;
}

/**
 * The section's text and its digest, hashed part by part: the text stays the header and the
 * parts joined (not copied into one flat string here; a big dump is flattened once, when written).
 */
function section(header: Header, texts: readonly string[]): EncodedSection {
  const head = `${JSON.stringify(header)}\n`;
  const hash = createHash('sha256').update(head);
  let content = head;
  for (const t of texts) {
    hashText(hash, t);
    content += t;
  }
  return { kind: header.kind, content, digest: hash.digest('hex') };
}

// iptables-save -c: `[packets:bytes]` before a rule and after a chain's policy.
const RULE_COUNTERS = '^\\[\\d+:\\d+\\]';
const CHAIN_COUNTERS = '^(:\\S+ \\S+ )\\[\\d+:\\d+\\]$';
// nft: counter statements, their JSON in an origin's text, and the summed `counters`.
const NFT_COUNTER_TEXT = /counter packets \d+ bytes \d+/g;
const NFT_COUNTER_JSON = /"counter": ?\{"packets": ?\d+, ?"bytes": ?\d+\}/g;

// The time iptables-save ran, in its first and last comment lines of each table.
const DUMP_TIMES = '^(# Generated by .* on |# Completed on ).*$';
// The three in one pass (a rule, a chain and a comment line start apart): one copy of a big dump, not three.
const DUMP_VOLATILE = new RegExp(`${RULE_COUNTERS}|${CHAIN_COUNTERS}|${DUMP_TIMES}`, 'gm');

/** Counters change with every packet and the dump's times with every run: zeroed, so an unchanged ruleset keeps its digest. */
export function zeroDumpCounters(text: string): string {
  return text.replace(DUMP_VOLATILE, (_, chain: string | undefined, comment: string | undefined) => (chain !== undefined ? `${chain}[0:0]` : comment !== undefined ? `${comment}-` : '[0:0]'));
}

/** Characters of a dump zeroed at a time (whole lines): a piece stays in the young generation. */
const ZERO_STEP = 64 * 1024;

/**
 * zeroDumpCounters of `text`, as pieces of whole lines that join to it. Zeroing a big host's 15 MB
 * dump in one replace allocates ~45 MB for its 15 MB result; in pieces the garbage is young and
 * small, and the pieces are not joined into one flat copy before the section is written (by then
 * the snapshot, with the records and the dump itself, is garbage). Every pattern is anchored within
 * a line and every piece starts at a line, so the pieces hold what one replace gives.
 */
export function zeroDumpCountersInPieces(text: string): string[] {
  if (text.length <= ZERO_STEP) return [zeroDumpCounters(text)];
  const pieces: string[] = [];
  for (let at = 0; at < text.length;) {
    const newline = text.indexOf('\n', at + ZERO_STEP);
    const end = newline < 0 ? text.length : newline + 1;
    pieces.push(zeroDumpCounters(text.slice(at, end)));
    at = end;
  }
  return pieces;
}

/** nft's counter statements in a rule's text or an element's JSON, zeroed. */
export function zeroNftCounterText(text: string): string {
  return text.replace(NFT_COUNTER_TEXT, 'counter packets 0 bytes 0').replace(NFT_COUNTER_JSON, '"counter":{"packets":0,"bytes":0}');
}

function zeroCounters(key: string, value: unknown): unknown {
  if ((key === 'counters' || key === 'counter') && value !== null && typeof value === 'object' && 'packets' in value) return { packets: 0, bytes: 0 };
  if (key === 'text' && typeof value === 'string') return zeroNftCounterText(value);
  return value;
}

function ruleCount(tables: readonly { rules: unknown[] }[]): number {
  let n = 0;
  for (const t of tables) n += t.rules.length;
  return n;
}

function nftRuleCount(tables: readonly NftTable[]): number {
  let n = 0;
  for (const t of tables) for (const c of t.chains) n += c.rules.length;
  return n;
}

/** The routes as a section: their texts, when every route came from them. */
function routesSection(routes: RouteList): EncodedSection | undefined {
  const texts = routes.texts();
  if (texts === undefined || texts.some((t) => t.source === undefined)) return undefined;
  return section({ kind: 'routes', parts: texts.map((t) => ({ source: t.source!, family: sourceByName(t.source!)?.family, length: t.text.length })) }, texts.map((t) => t.text));
}

/** The dumps a netfilter section carries, in the snapshot's order (each family's iptables-save before its legacy tables). */
const NETFILTER_DUMPS = ['iptables-save', 'iptables-legacy-save', 'ip6tables-save', 'ip6tables-legacy-save'] as const;

/** The netfilter tables as a section: the dumps they were parsed from, when the bundle has them. */
function netfilterSection(dumps: ReadonlyMap<string, string>, snapshot: HostSnapshot): EncodedSection | undefined {
  const parts: Part[] = [];
  const texts: string[] = [];
  // Tables read from an -nvL listing: the aggregator reads sections as iptables-save, so they stay inline.
  if ([...snapshot.netfilter.v4, ...snapshot.netfilter.v6].some((t) => t.form === 'listing')) return undefined;
  for (const source of NETFILTER_DUMPS) {
    const family = sourceByName(source)!.family!;
    const text = dumps.get(source);
    if (text === undefined) {
      if ((family === 6 ? snapshot.netfilter.v6 : snapshot.netfilter.v4).some((t) => t.origin.source === source)) return undefined;
      continue;
    }
    const zeroed = zeroDumpCountersInPieces(text);
    parts.push({ source, family, length: zeroed.reduce((n, piece) => n + piece.length, 0) });
    texts.push(...zeroed);
  }
  const hidden: NonNullable<Header['hidden']> = [];
  for (const [family, tables] of [[4, snapshot.netfilter.v4], [6, snapshot.netfilter.v6]] as const) {
    tables.forEach((t, ti) => t.rules.forEach((r, ri) => {
      if (!r.nftHidden) return;
      const { reason, origin } = r.nftHidden;
      hidden.push({ family, table: ti, rule: ri, mark: { reason: zeroNftCounterText(reason), origin: { ...origin, text: zeroNftCounterText(origin.text) } } });
    }));
  }
  // nft-hidden notices quote the rule's line: its counters zeroed like the dump's.
  const notices = snapshot.netfilter.notices.filter((n) => n.kind === 'nft-hidden-match').map((n) => ({ ...n, text: zeroDumpCounters(zeroNftCounterText(n.text)) }));
  return section({ kind: 'netfilter', parts, hidden, notices }, texts);
}

function jsonSection(kind: 'nft' | 'ipsets', value: unknown): EncodedSection {
  const body = JSON.stringify(value, zeroCounters);
  return section({ kind, parts: [{ source: kind, length: body.length }] }, [body]);
}

/**
 * The sections of a snapshot: each big part (SECTION_MIN_RECORDS records or more) that can be
 * sent as one; the others stay inline. `dumps`: the bundle's files (the netfilter section is made
 * of its iptables dumps; without them the rules stay inline). `maxRoutes`: above it the routes are
 * not a section (the report then carries only the fleet's routes, docs/protocol.md "A million routes").
 */
export function encodeSections(snapshot: HostSnapshot, opts: { maxRoutes: number; dumps?: ReadonlyMap<string, string>; fleetRoutes?: readonly RouteRecord[] }): EncodedSection[] {
  const out: EncodedSection[] = [];
  const routes = snapshot.routes.length;
  if (routes >= SECTION_MIN_RECORDS && routes <= opts.maxRoutes) {
    const s = routesSection(snapshot.routes);
    if (s) out.push(s);
  } else if (routes > opts.maxRoutes && opts.fleetRoutes && opts.fleetRoutes.length >= SECTION_MIN_RECORDS) {
    const body = JSON.stringify(opts.fleetRoutes);
    out.push(section({ kind: 'routes', form: 'records', parts: [{ source: 'routes', length: body.length }] }, [body]));
  }
  if (ruleCount(snapshot.netfilter.v4) + ruleCount(snapshot.netfilter.v6) >= SECTION_MIN_RECORDS) {
    const s = opts.dumps && netfilterSection(opts.dumps, snapshot);
    if (s) out.push(s);
  }
  const nft = withoutIptablesNftRules(snapshot.nft);
  if (nftRuleCount(nft) >= SECTION_MIN_RECORDS) out.push(jsonSection('nft', nft));
  let members = 0;
  for (const s of snapshot.ipsets) members += s.members.length;
  if (members >= SECTION_MIN_RECORDS) out.push(jsonSection('ipsets', snapshot.ipsets));
  return out;
}

function readHeader(content: string, kind: SectionKind): { header: Header; body: number } {
  const nl = content.indexOf('\n');
  if (nl < 0) throw new SectionError('schema', `section ${kind}: no header line`);
  let header: Header;
  try {
    const line = content.slice(0, nl);
    if (jsonTooDeep(line, 16)) throw new Error('nested too deeply');
    header = JSON.parse(line) as Header;
  } catch (err) {
    throw new SectionError('schema', `section ${kind}: header is not JSON: ${(err as Error).message}`);
  }
  if (header?.kind !== kind || !Array.isArray(header.parts)) throw new SectionError('schema', `section ${kind}: header names kind ${JSON.stringify(header?.kind)} or has no parts`);
  let total = nl + 1;
  for (const p of header.parts) {
    if (typeof p?.source !== 'string' || !Number.isInteger(p.length) || p.length < 0) throw new SectionError('schema', `section ${kind}: a part has no source or length`);
    total += p.length;
  }
  if (total !== content.length) throw new SectionError('schema', `section ${kind}: parts add up to ${total - nl - 1} characters, the body has ${content.length - nl - 1}`);
  return { header, body: nl + 1 };
}

function partTexts(content: string, header: Header, body: number): { part: Part; text: string }[] {
  let at = body;
  return header.parts.map((part) => {
    const text = content.slice(at, at + part.length);
    at += part.length;
    return { part, text };
  });
}

function jsonBody(content: string, kind: SectionKind, body: number, limits: SectionLimits): unknown[] {
  const text = content.slice(body);
  const deep = jsonTooDeep(text, limits.maxDepth);
  if (deep) throw new SectionError('schema', `section ${kind}: nested deeper than ${limits.maxDepth} levels (at character ${deep.offset})`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SectionError('schema', `section ${kind}: not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(value) || value.some((v) => v === null || typeof v !== 'object' || Array.isArray(v))) throw new SectionError('schema', `section ${kind}: expected an array of objects`);
  return value;
}

/** Read a section back into the snapshot fields it stands for; throws SectionError. */
export function decodeSection(kind: SectionKind, content: string, limits: SectionLimits): DecodedSection {
  const { header, body } = readHeader(content, kind);
  const parts = partTexts(content, header, body);
  switch (kind) {
    case 'routes': {
      if (header.form === 'records') {
        const records = jsonBody(content, kind, body, limits) as RouteRecord[];
        if (records.length > limits.maxRoutes) throw new SectionError('too_many_routes', `section routes: more than ${limits.maxRoutes} routes`);
        records.forEach((r, i) => {
          if (typeof r.dst !== 'string' || typeof r.table !== 'string') throw new SectionError('schema', `section routes: route ${i} has no dst or table`);
        });
        return { kind, routes: RouteList.fromRecords(records) };
      }
      const lists: RouteList[] = [];
      let n = 0;
      // As the snapshot read them: IPv6 routes in an ip-route-v4 text captured before `-4` count once.
      const v6Read = parts.some(({ part }) => part.family === 6);
      for (const { part, text } of parts) {
        const family = part.family === 6 ? 6 : 4;
        const list = parseRoutes(text, { family, source: part.source, only: routeFamilyKept(family, v6Read) }).routes;
        n += list.length;
        if (n > limits.maxRoutes) throw new SectionError('too_many_routes', `section routes: more than ${limits.maxRoutes} routes`);
        lists.push(list);
      }
      return { kind, routes: lists.length === 1 ? lists[0] : RouteList.concat(lists) };
    }
    case 'netfilter': {
      const netfilter: HostSnapshot['netfilter'] = { v4: [], v6: [], notices: [] };
      let n = 0;
      for (const { part, text } of parts) {
        const dump = netfilterDump(part.source, text);
        n += ruleCount(dump.tables);
        if (n > limits.maxRules) throw new SectionError('too_many_rules', `section netfilter: more than ${limits.maxRules} rules`);
        const family = part.family === 6 ? 'v6' : 'v4';
        netfilter[family] = part.source.includes('legacy') ? withLegacyTables(netfilter[family], dump.tables) : [...netfilter[family], ...dump.tables];
        netfilter.notices.push(...dump.notices);
      }
      for (const h of header.hidden ?? []) {
        const rule = (h.family === 6 ? netfilter.v6 : netfilter.v4)[h.table]?.rules[h.rule];
        if (!rule || typeof h.mark?.reason !== 'string') throw new SectionError('schema', `section netfilter: a mark names no rule (table ${h.table}, rule ${h.rule})`);
        rule.nftHidden = h.mark;
      }
      netfilter.notices.push(...(header.notices ?? []));
      return { kind, netfilter };
    }
    case 'nft': {
      const nft = jsonBody(content, kind, body, limits) as NftTable[];
      for (const t of nft) if (!Array.isArray(t.chains) || t.chains.some((c) => !Array.isArray(c?.rules))) throw new SectionError('schema', 'section nft: a table without chains, or a chain without rules');
      const n = nftRuleCount(nft);
      if (n > limits.maxRules) throw new SectionError('too_many_rules', `section nft: ${n} rules, more than ${limits.maxRules}`);
      return { kind, nft };
    }
    case 'ipsets': {
      const ipsets = jsonBody(content, kind, body, limits) as IpsetSet[];
      for (const s of ipsets) if (typeof s.name !== 'string' || !Array.isArray(s.members)) throw new SectionError('schema', 'section ipsets: a set without a name or members');
      return { kind, ipsets };
    }
  }
}

/** Put a decoded section into a snapshot (the report's snapshot without it). */
export function applySection(snapshot: Record<string, unknown>, decoded: DecodedSection): void {
  switch (decoded.kind) {
    case 'routes': snapshot.routes = decoded.routes; break;
    case 'netfilter': snapshot.netfilter = decoded.netfilter; break;
    case 'nft': snapshot.nft = decoded.nft; break;
    case 'ipsets': snapshot.ipsets = decoded.ipsets; break;
  }
}

/** The snapshot as a version 2 report carries it: the sectioned parts left out, nft's iptables-nft rules too. */
export function skeletonOf(snapshot: HostSnapshot, sections: readonly EncodedSection[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...snapshot, nft: withoutIptablesNftRules(snapshot.nft) };
  for (const s of sections) delete out[s.kind];
  return out;
}
