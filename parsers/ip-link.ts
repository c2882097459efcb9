/**
 * ip-link: `ip link`, `ip -d link`, `ip -s link`, `ip -d -s link` (also `-o`) text, and `ip -j link`
 * JSON (detected by a leading `[`). Text is one block per interface: a header line, an indented
 * `link/TYPE` line and, with `-d`, the kind's line (`vxlan id 1 ...`), a slave line
 * (`bridge_slave ...`) and `altname` lines; `-s` adds RX/TX counters, which are skipped.
 *
 *   2: eth0@if33: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master docker0 state UP mode DEFAULT group default
 *       link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff link-netnsid 0
 *
 * The interface-block reader here is shared with ip-addr.ts, which plugs in address lines.
 */
import type { AddressRecord, InterfaceBlock, LinkKind, LinkRecord, Origin, XdpAttachment } from '../src/model/records.js';

/** The XDP words an interface header can carry after the mtu. */
const XDP_MODES = new Set(['xdp', 'xdpgeneric', 'xdpoffload', 'xdpmulti', 'xdpdrv']);
import { guarded, splitLines, type ParseResult, type ParseWarning, type Parser } from './types.js';

/** Parse `ip link` text or `ip -j link` JSON into one LinkRecord per interface. */
export function parse(text: string): ParseResult<LinkRecord> {
  return guarded(text, (t) => {
    const r = parseInterfaces(t);
    return { records: r.records.map((b) => b.link), warnings: r.warnings, form: r.form };
  });
}

export const parser: Parser<LinkRecord> = {
  name: 'ip-link',
  description: 'ip [-d] [-s] link show (text, -o, or ip -j JSON)',
  parse,
};

/** How ip-addr.ts reads address lines into a block; without one, address lines are skipped. */
export interface AddressReader {
  /** Reads `inet ...`/`inet6 ...` from tokens[start]; returns the record or why it is unreadable. */
  address(tokens: string[], start: number, ifindex: number | undefined, ifname: string, origin: Origin): AddressRecord | string;
  /** Reads `valid_lft X preferred_lft Y` onto `addr`; returns why it is unreadable, or null. */
  lifetime(tokens: string[], addr: AddressRecord): string | null;
  /** Converts one element of a JSON `addr_info` array. */
  jsonAddress(entry: unknown, ifindex: number | undefined, ifname: string, origin: Origin): AddressRecord | string;
}

/** Parse interface blocks from either form; `reader` adds addresses (ip-addr), else they are skipped. */
export function parseInterfaces(text: string, reader?: AddressReader): ParseResult<InterfaceBlock> {
  return firstNonSpace(text) === 91 ? parseInterfaceJson(text, reader) : parseInterfaceText(text, reader);
}

/** Split on spaces and tabs, skipping empty tokens. */
export function tokenize(s: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9) {
      if (start >= 0) { out.push(s.slice(start, i)); start = -1; }
    } else if (start < 0) start = i;
  }
  if (start >= 0) out.push(s.slice(start));
  return out;
}

function firstNonSpace(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return c;
  }
  return -1;
}

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Kinds and `-d` details

/** iproute2's `info_kind` names: a `-d` line starting with one of these describes the link's kind. */
const INFO_KINDS = new Set<string>([
  'bridge', 'veth', 'vxlan', 'geneve', 'bond', 'team', 'vlan', 'macvlan', 'macvtap', 'ipvlan', 'ipvtap',
  'tun', 'wireguard', 'gre', 'gretap', 'ip6gre', 'ip6gretap', 'erspan', 'ip6erspan', 'ipip', 'sit', 'ip6tnl',
  'vti', 'vti6', 'xfrm', 'dummy', 'ifb', 'nlmon', 'vrf', 'openvswitch', 'macsec', 'hsr', 'bareudp', 'amt',
  'gtp', 'netkit', 'batadv', 'ipoib', 'can', 'vcan', 'vxcan', 'virt_wifi', 'rmnet', 'lowpan', 'dsa', 'wwan',
]);

const TUNNEL_KEYS = ['remote', 'local'];
/** The `-d` attributes kept in `details`, per kind, under their text keyword. */
const DETAIL_KEYS: Record<string, string[]> = {
  vxlan: ['id', 'group', 'remote', 'local', 'dev', 'dstport'],
  geneve: ['id', 'remote', 'dstport'],
  vlan: ['protocol', 'id'],
  bond: ['mode', 'active_slave'],
  bridge: ['stp_state', 'vlan_filtering'],
  macvlan: ['mode'], macvtap: ['mode'], ipvlan: ['mode'], ipvtap: ['mode'],
  tun: ['type'],
  vrf: ['table'],
  gre: TUNNEL_KEYS, gretap: TUNNEL_KEYS, ip6gre: TUNNEL_KEYS, ip6gretap: TUNNEL_KEYS, erspan: TUNNEL_KEYS,
  ipip: TUNNEL_KEYS, sit: TUNNEL_KEYS, ip6tnl: TUNNEL_KEYS, vti: TUNNEL_KEYS, vti6: TUNNEL_KEYS,
};
/** JSON `info_data` names that differ from the text keyword. */
const JSON_DETAIL_NAMES: Record<string, string> = {
  group6: 'group', remote6: 'remote', local6: 'local', link: 'dev', port: 'dstport',
};
/** Slave attributes kept as `slave_<key>` (`bridge_slave state forwarding` -> slave_state). */
const SLAVE_KEYS = ['state', 'mii_status', 'table'];

const KIND_OF_INFO: Record<string, LinkKind> = {
  bridge: 'bridge', veth: 'veth', vxlan: 'vxlan', bond: 'bond', vlan: 'vlan', wireguard: 'wireguard',
  macvlan: 'macvlan', macvtap: 'macvlan', ipvlan: 'ipvlan', ipvtap: 'ipvlan', dummy: 'dummy', vrf: 'vrf',
  openvswitch: 'openvswitch', sit: 'sit', ipip: 'ipip', ip6tnl: 'ipip',
  gre: 'gre', gretap: 'gre', ip6gre: 'gre', ip6gretap: 'gre', erspan: 'gre', ip6erspan: 'gre',
};

/** Kind from the link type when `-d` gave none (`link/ipip`, `link/none` ...). */
const KIND_OF_LINK_TYPE: Record<string, LinkKind> = {
  loopback: 'loopback', ipip: 'ipip', tunnel6: 'ipip', gre: 'gre', ip6gre: 'gre', sit: 'sit',
};

/** Last resort without `-d`: well-known names (docker0, br-*, flannel.1, eth1.96@eth1 ...). */
function kindFromName(name: string, parent: string | undefined, linkType: string | undefined): LinkKind | undefined {
  if (name === 'lo') return 'loopback';
  if (linkType === 'none' || linkType === '[65534]') return name.startsWith('wg') ? 'wireguard' : 'tun';
  if (/^(docker\d+|br-.+|br\d+|virbr\d+|cni\d+|cbr\d+|lxcbr\d+|lxdbr\d+|kube-bridge|weave)$/.test(name)) return 'bridge';
  if (/^(flannel\.\d+|vxlan.*)$/.test(name)) return 'vxlan';
  if (name === 'ovs-system') return 'openvswitch';
  if (parent !== undefined && (name.startsWith(`${parent}.`) || name.startsWith('vlan'))) return 'vlan';
  if (name.startsWith('veth') || (parent !== undefined && /^if\d+$/.test(parent))) return 'veth';
  if (/^bond\d+$/.test(name)) return 'bond';
  if (/^dummy\d*$/.test(name)) return 'dummy';
  if (/^wg\d+$/.test(name)) return 'wireguard';
  if (name.startsWith('tap')) return 'tap';
  if (/^tun\d+$/.test(name)) return 'tun';
  return undefined;
}

/** What kernel knowledge a link's kind is resolved from, gathered while reading its block. */
interface KindEvidence {
  kindText?: string;
  tunType?: string;
  /** `-d` output was seen (promiscuity, a kind line): an absent kind means a plain device. */
  detailed: boolean;
}

/**
 * Kind precedence: the kernel's `info_kind` (`-d`), then the link type, then (only without `-d`)
 * the name. Inferred kinds leave `kindText` unset, so a reader can tell a guess from the kernel's word.
 */
function resolveKind(link: LinkRecord, ev: KindEvidence): LinkKind {
  if (ev.kindText !== undefined) {
    if (ev.kindText === 'tun') return ev.tunType === 'tap' ? 'tap' : 'tun';
    return KIND_OF_INFO[ev.kindText] ?? 'other';
  }
  if (link.flags.includes('LOOPBACK') || link.linkType === 'loopback') return 'loopback';
  const byType = link.linkType === undefined ? undefined : KIND_OF_LINK_TYPE[link.linkType];
  if (byType) return byType;
  if (ev.detailed) return link.linkType === 'ether' ? 'ethernet' : 'other';
  const byName = kindFromName(link.name, link.parent, link.linkType);
  if (byName) return byName;
  return link.linkType === 'ether' ? 'ethernet' : 'other';
}

function setDetail(link: LinkRecord, key: string, value: string): void {
  (link.details ??= {})[key] = value;
}

// ---------------------------------------------------------------------------------------------
// Text

interface OpenBlock {
  block: InterfaceBlock;
  ev: KindEvidence;
  /** A RX/TX header was seen in this block, so bare counter lines are expected. */
  stats: boolean;
  /** The address a `valid_lft` line belongs to; 'failed' after an unreadable address line. */
  lastAddress: AddressRecord | 'failed' | null;
  /** The header's `NAME@PARENT` word when it holds an `@`: which `@` splits it is decided last. */
  atName?: string;
}

/** Kinds (`-d`'s info_kind) whose devices have no lower device, so iproute2 prints no `@PARENT` for them. */
const PARENTLESS_KINDS = new Set(['bridge', 'bond', 'team', 'dummy', 'tun', 'wireguard', 'vrf', 'ifb', 'nlmon']);

/** `ip -o` joins a record's lines with a backslash before the next line's indent; a backslash inside a name (`a\b`) is followed by no blank. */
const ONELINE_JOIN = /\\(?=[ \t]|$)/;

/** Reads text line by line; one instance per parse, state in fields (no per-line closures). */
class InterfaceTextReader {
  readonly blocks: InterfaceBlock[] = [];
  readonly warnings: ParseWarning[] = [];
  private open: OpenBlock | null = null;
  private readonly opened: OpenBlock[] = [];
  /** `ip -o addr` blocks by "index:name", so repeated one-line addresses join one block. */
  private readonly oneline = new Map<string, OpenBlock>();

  constructor(private readonly reader: AddressReader | undefined) {}

  readAll(text: string): void {
    const lines = splitLines(text);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const lineNumber = i + 1;
      let reason: string | null = null;
      if (line.indexOf('\\') < 0 || !ONELINE_JOIN.test(line)) {
        reason = this.readLine(line, lineNumber, line);
      } else {
        // `ip -o` and some captures join a record's lines with `\`: each piece is a line of its own.
        const pieces = line.split(ONELINE_JOIN);
        for (const piece of pieces) {
          const r = this.readLine(piece, lineNumber, line);
          if (reason === null) reason = r;
        }
      }
      if (reason !== null) this.warnings.push({ lineNumber, text: line, reason });
    }
    this.splitAtNames();
    for (const ob of this.opened) ob.block.link.kind = resolveKind(ob.block.link, ob.ev);
  }

  /**
   * `x@y@a\b:` is interface "x@y" on parent "a\b", and `q@r:` is a bridge named "q@r": an `@`
   * splits a header where what follows names an interface of the same dump (or `ifN`, a peer in
   * another namespace, or NONE); failing that, a device whose kind (`-d`) never has a parent
   * keeps its whole name, and any other splits at its last `@` as before.
   */
  private splitAtNames(): void {
    const ambiguous = this.opened.filter((ob) => ob.atName !== undefined);
    if (ambiguous.length === 0) return;
    const names = new Set<string>();
    for (const ob of this.opened) {
      if (ob.atName === undefined) { names.add(ob.block.link.name); continue; }
      names.add(ob.atName);
      for (let at = ob.atName.indexOf('@', 1); at > 0; at = ob.atName.indexOf('@', at + 1)) names.add(ob.atName.slice(0, at));
    }
    for (const ob of ambiguous) {
      const word = ob.atName as string;
      let split = -1;
      for (let at = word.lastIndexOf('@'); at > 0 && split < 0; at = word.lastIndexOf('@', at - 1)) {
        const parent = word.slice(at + 1);
        if (parent === 'NONE' || /^if\d+$/.test(parent) || (parent !== word.slice(0, at) && names.has(parent))) split = at;
      }
      if (split < 0 && !(ob.ev.kindText !== undefined && PARENTLESS_KINDS.has(ob.ev.kindText))) split = word.lastIndexOf('@');
      const link = ob.block.link;
      if (split <= 0) {
        link.name = word;
        delete link.parent;
      } else {
        link.name = word.slice(0, split);
        const parent = word.slice(split + 1);
        if (parent === 'NONE' || parent === '') delete link.parent;
        else link.parent = parent;
      }
      for (const a of ob.block.addresses) a.ifname = link.name;
    }
  }

  private readLine(piece: string, lineNumber: number, text: string): string | null {
    const tokens = tokenize(piece);
    if (tokens.length === 0) return null;
    const first = tokens[0];
    const c = first.charCodeAt(0);
    if (c >= 48 && c <= 57 && first.charCodeAt(first.length - 1) === 58) return this.header(tokens, lineNumber, text);
    const ob = this.open;
    if (ob === null) return 'not an interface header, and no interface block is open';
    switch (first) {
      case 'inet':
      case 'inet6':
        return this.address(ob, tokens, 0, lineNumber, text);
      case 'valid_lft':
        if (!this.reader || ob.lastAddress === 'failed') return null;
        if (ob.lastAddress === null) return 'lifetime line without an address before it';
        return this.reader.lifetime(tokens, ob.lastAddress);
      case 'RX:':
      case 'TX:':
        ob.stats = true;
        return null;
      case 'RX':
      case 'TX':
        if (tokens[1] === 'errors:') { ob.stats = true; return null; }
        return 'unrecognised line';
      case 'altname':
        if (tokens.length !== 2) return 'altname without exactly one name';
        (ob.block.link.altnames ??= []).push(tokens[1]);
        return null;
      case 'alias':
      case 'vf':
        return null; // interface alias text and SR-IOV VF lines: valid, not modelled
    }
    if (first.startsWith('link/')) return this.linkLine(ob, tokens);
    if (first.startsWith('prog/')) return this.xdpProgram(ob, tokens, lineNumber, text);
    if (INFO_KINDS.has(first)) return this.kindLine(ob, tokens);
    if (first.endsWith('_slave') && INFO_KINDS.has(first.slice(0, -6))) return this.slaveLine(ob, tokens);
    if (ob.stats && allDigits(tokens)) return null; // -s counters under an RX:/TX: header
    return 'unrecognised line';
  }

  private header(tokens: string[], lineNumber: number, text: string): string | null {
    const idxText = tokens[0].slice(0, -1);
    if (!isDigits(idxText)) return 'bad interface index';
    const ifindex = Number(idxText);
    const nameTok = tokens[1];
    if (nameTok === undefined) return 'interface header without a name';
    if (nameTok.charCodeAt(nameTok.length - 1) !== 58) {
      if (tokens[2] === 'inet' || tokens[2] === 'inet6') return this.onelineAddress(tokens, ifindex, lineNumber, text);
      return 'interface header without a name ending in ":"';
    }
    let name = nameTok.slice(0, -1);
    let parent: string | undefined;
    const at = name.lastIndexOf('@');
    if (at > 0) {
      parent = name.slice(at + 1);
      name = name.slice(0, at);
      if (parent === 'NONE' || parent === '') parent = undefined;
    }
    if (name === '') return 'interface header without a name';
    const flagsTok = tokens[2];
    if (flagsTok === undefined || flagsTok.charCodeAt(0) !== 60 || flagsTok.charCodeAt(flagsTok.length - 1) !== 62) {
      this.open = null;
      return 'interface header without <FLAGS>';
    }
    const inner = flagsTok.slice(1, -1);
    const link: LinkRecord = { ifindex, name, kind: 'other', flags: inner === '' ? [] : inner.split(','), origin: { lineNumber, text } };
    if (parent !== undefined) link.parent = parent;
    let reason: string | null = null;
    for (let j = 3; j < tokens.length; j++) {
      const key = tokens[j];
      const value = tokens[j + 1];
      if (key === 'mtu') {
        if (value !== undefined && isDigits(value)) link.mtu = Number(value);
        else reason = 'bad mtu';
        j++;
      } else if (key === 'state') {
        if (value !== undefined) link.state = value;
        j++;
      } else if (key === 'master') {
        if (value !== undefined) link.master = value;
        j++;
      } else if (XDP_MODES.has(key.split('/')[0])) {
        // `ip addr` prints `xdpgeneric/id:101`, `ip link` `xdpgeneric`.
        link.xdp = { mode: key.split('/')[0], programs: [], origin: { lineNumber, text } };
      }
    }
    const ob = this.startBlock(link);
    if (parent !== undefined || name.indexOf('@') > 0) ob.atName = nameTok.slice(0, -1);
    return reason;
  }

  /** `prog/xdp id 27 name xdp_lb tag 3b18... jited` under a header that named an XDP mode. */
  private xdpProgram(ob: OpenBlock, tokens: string[], lineNumber: number, text: string): string | null {
    const link = ob.block.link;
    const mode = tokens[0].slice('prog/'.length);
    const prog: XdpAttachment['programs'][number] = {};
    if (mode !== 'xdp') prog.mode = mode;
    for (let j = 1; j < tokens.length; j++) {
      const key = tokens[j];
      const value = tokens[j + 1];
      if (key === 'id' && value !== undefined && isDigits(value)) { prog.id = Number(value); j++; }
      else if (key === 'name' && value !== undefined) { prog.name = value; j++; }
      else if (key === 'tag' && value !== undefined) { prog.tag = value; j++; }
    }
    link.xdp ??= { mode, programs: [], origin: { lineNumber, text } };
    link.xdp.programs.push(prog);
    return null;
  }

  private startBlock(link: LinkRecord): OpenBlock {
    const ob: OpenBlock = { block: { link, addresses: [] }, ev: { detailed: false }, stats: false, lastAddress: null };
    this.blocks.push(ob.block);
    this.opened.push(ob);
    this.open = ob;
    return ob;
  }

  /** `ip -o addr`: `2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0` (no link details). */
  private onelineAddress(tokens: string[], ifindex: number, lineNumber: number, text: string): string | null {
    const key = `${ifindex}:${tokens[1]}`;
    let ob = this.oneline.get(key);
    if (ob === undefined) {
      ob = this.startBlock({ ifindex, name: tokens[1], kind: 'other', flags: [], origin: { lineNumber, text } });
      this.oneline.set(key, ob);
    }
    this.open = ob;
    return this.address(ob, tokens, 2, lineNumber, text);
  }

  private address(ob: OpenBlock, tokens: string[], start: number, lineNumber: number, text: string): string | null {
    if (!this.reader) return null;
    const link = ob.block.link;
    const r = this.reader.address(tokens, start, link.ifindex, link.name, { lineNumber, text });
    if (typeof r === 'string') { ob.lastAddress = 'failed'; return r; }
    ob.block.addresses.push(r);
    ob.lastAddress = r;
    return null;
  }

  /** `link/ether aa:bb:.. brd ff:.. [link-netnsid 0 | link-netns NAME] [permaddr ..] [promiscuity 0 ...]` */
  private linkLine(ob: OpenBlock, tokens: string[]): string | null {
    const link = ob.block.link;
    const linkType = tokens[0].slice(5);
    if (linkType === '') return 'link/ without a type';
    link.linkType = linkType;
    let j = 1;
    if (tokens.length > 1 && !LINK_LINE_KEYS.has(tokens[1])) { link.mac = tokens[1]; j = 2; }
    for (; j < tokens.length; j++) {
      const key = tokens[j];
      const value = tokens[j + 1];
      switch (key) {
        case 'link-netnsid':
          if (value !== 'unknown') {
            if (value === undefined || !isDigits(value)) return 'bad link-netnsid';
            link.linkNetnsid = Number(value);
          }
          j++;
          break;
        case 'link-netns':
        case 'permaddr':
        case 'peer':
          if (value === undefined) return `${key} without a value`;
          setDetail(link, key, value);
          j++;
          break;
        case 'promiscuity':
          ob.ev.detailed = true;
          break;
      }
    }
    return null;
  }

  /** `vxlan id 1 local 10.0.0.7 dev ens4 srcport 0 0 dstport 8472 ...`, `veth`, `tun type tap ...` */
  private kindLine(ob: OpenBlock, tokens: string[]): string | null {
    const kind = tokens[0];
    const link = ob.block.link;
    ob.ev.detailed = true;
    ob.ev.kindText = kind;
    link.kindText = kind;
    const keys = DETAIL_KEYS[kind];
    if (keys) {
      for (let j = 1; j < tokens.length; j++) {
        const t = tokens[j];
        if (t === 'external' && (kind === 'vxlan' || kind === 'geneve')) setDetail(link, 'external', 'true');
        else if (keys.includes(t) && j + 1 < tokens.length) { setDetail(link, t, tokens[j + 1]); j++; }
      }
    }
    if (kind === 'tun') ob.ev.tunType = link.details?.type;
    return null;
  }

  /** `bridge_slave state forwarding ...`, `bond_slave state ACTIVE mii_status UP ...`, `openvswitch_slave` */
  private slaveLine(ob: OpenBlock, tokens: string[]): string | null {
    const link = ob.block.link;
    ob.ev.detailed = true;
    setDetail(link, 'slave_kind', tokens[0].slice(0, -6));
    for (let j = 1; j + 1 < tokens.length; j++) {
      if (SLAVE_KEYS.includes(tokens[j])) { setDetail(link, `slave_${tokens[j]}`, tokens[j + 1]); j++; }
    }
    return null;
  }
}

/** Words after `link/TYPE` that are keywords, not the link-layer address. */
const LINK_LINE_KEYS = new Set<string>(['brd', 'peer', 'link-netnsid', 'link-netns', 'permaddr', 'promiscuity', 'allmulti', 'minmtu', 'maxmtu']);

function allDigits(tokens: string[]): boolean {
  for (const t of tokens) if (!isDigits(t)) return false;
  return true;
}

/** Read `ip [-d] [-s] [-o] link|addr` text into interface blocks. */
export function parseInterfaceText(text: string, reader?: AddressReader): ParseResult<InterfaceBlock> {
  const r = new InterfaceTextReader(reader);
  r.readAll(text);
  return { records: r.blocks, warnings: r.warnings, form: 'text' };
}

// ---------------------------------------------------------------------------------------------
// JSON

/**
 * Line lookup for JSON text. A JSON record's origin is the line its element starts on and the
 * element's exact text: `ip -j` prints everything on one line, so "the line" would be the whole output.
 */
class LineIndex {
  private readonly starts: number[] = [0];
  constructor(private readonly text: string) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }
  /** Origin of a JSON element: the line it starts on, and its exact text. */
  spanOrigin(span: Span): Origin {
    return { lineNumber: this.lineOf(span.start), text: this.text.slice(span.start, span.end) };
  }

  lineOf(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= offset) lo = mid; else hi = mid - 1;
    }
    return lo + 1;
  }

  /** The whole line holding `offset`. */
  origin(offset: number): Origin {
    const lo = this.lineOf(offset) - 1;
    const s = this.starts[lo];
    let e = lo + 1 < this.starts.length ? this.starts[lo + 1] - 1 : this.text.length;
    if (e > s && this.text.charCodeAt(e - 1) === 13) e--;
    return { lineNumber: lo + 1, text: this.text.slice(s, e) };
  }
}

/** Where a JSON array element starts and ends in the text. */
interface Span {
  start: number;
  end: number;
}

/** Spans of each element of the top-level array and of each interface's `addr_info` array. */
function scanJsonLayout(text: string): { ifaces: Span[]; addrs: Span[][] } {
  const ifaces: Span[] = [];
  const addrs: Span[][] = [];
  // Open containers: 91 '[' or 123 '{'; `tracked` marks the arrays whose element spans we want.
  const kinds: number[] = [];
  const tracked: (Span[] | null)[] = [];
  let lastString: string | null = null;
  let pendingKey: string | null = null;
  let awaiting = false;
  let prev = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    const depth = kinds.length;
    if (awaiting && c !== 93) {
      awaiting = false;
      const list = tracked[depth - 1];
      if (list) list.push({ start: i, end: text.length });
      if (depth === 1) addrs.push([]);
    }
    if (c === 34) {
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 34) j += text.charCodeAt(j) === 92 ? 2 : 1;
      lastString = text.slice(i + 1, j);
      i = j;
    } else if (c === 58) {
      pendingKey = lastString;
    } else if (c === 91 || c === 123) {
      let list: Span[] | null = null;
      if (c === 91 && depth === 0) list = ifaces;
      else if (c === 91 && depth === 2 && kinds[1] === 123 && pendingKey === 'addr_info' && addrs.length > 0) list = addrs[addrs.length - 1];
      kinds.push(c);
      tracked.push(list);
      awaiting = list !== null;
      pendingKey = null;
    } else if (c === 93 || c === 125 || c === 44) {
      const list = depth > 0 ? tracked[depth - 1] : null;
      // The element before a ',' or the closing ']' of a tracked array ends at the last character read.
      if (list && list.length > 0 && (c === 44 || c === 93) && list[list.length - 1].end === text.length) list[list.length - 1].end = prev + 1;
      if (c === 44) {
        pendingKey = null;
        awaiting = list !== null;
      } else {
        kinds.pop();
        tracked.pop();
        awaiting = false;
      }
    }
    prev = i;
  }
  return { ifaces, addrs };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

/** Convert one `ip -j link` object; returns why it is unreadable when it is. */
function linkFromJson(o: Record<string, unknown>, origin: Origin): LinkRecord | string {
  const name = o.ifname;
  if (typeof name !== 'string' || name === '') return 'interface without "ifname"';
  const flags = Array.isArray(o.flags) ? o.flags.filter((f): f is string => typeof f === 'string') : [];
  const link: LinkRecord = { name, kind: 'other', flags, origin };
  if (typeof o.ifindex === 'number') link.ifindex = o.ifindex;
  if (typeof o.link === 'string') link.parent = o.link;
  else if (typeof o.link_index === 'number') link.parent = `if${o.link_index}`;
  if (typeof o.mtu === 'number') link.mtu = o.mtu;
  if (typeof o.operstate === 'string') link.state = o.operstate;
  if (typeof o.master === 'string') link.master = o.master;
  if (typeof o.address === 'string') link.mac = o.address;
  if (typeof o.link_type === 'string') link.linkType = o.link_type;
  if (typeof o.link_netnsid === 'number') link.linkNetnsid = o.link_netnsid;
  if (typeof o.permaddr === 'string') setDetail(link, 'permaddr', o.permaddr);
  if (o.link_pointtopoint === true && typeof o.broadcast === 'string') setDetail(link, 'peer', o.broadcast);
  const ev: KindEvidence = { detailed: 'promiscuity' in o || 'linkinfo' in o };
  const info = o.linkinfo;
  if (info && typeof info === 'object') {
    const li = info as Record<string, unknown>;
    const data = li.info_data && typeof li.info_data === 'object' ? (li.info_data as Record<string, unknown>) : undefined;
    if (typeof li.info_kind === 'string') {
      const kind = li.info_kind;
      ev.kindText = kind;
      link.kindText = kind;
      const keys = DETAIL_KEYS[kind];
      if (keys && data) {
        for (const k of Object.keys(data)) {
          const textKey = JSON_DETAIL_NAMES[k] ?? k;
          const v = str(data[k]);
          if (keys.includes(textKey) && v !== undefined) setDetail(link, textKey, v);
        }
        if ((kind === 'vxlan' || kind === 'geneve') && data.collect_metadata === true) setDetail(link, 'external', 'true');
      }
      if (kind === 'tun') ev.tunType = link.details?.type;
    }
    if (typeof li.info_slave_kind === 'string') {
      setDetail(link, 'slave_kind', li.info_slave_kind);
      const sd = li.info_slave_data;
      if (sd && typeof sd === 'object') {
        for (const k of SLAVE_KEYS) {
          const v = str((sd as Record<string, unknown>)[k]);
          if (v !== undefined) setDetail(link, `slave_${k}`, v);
        }
      }
    }
  }
  if (Array.isArray(o.altnames)) {
    const alt = o.altnames.filter((a): a is string => typeof a === 'string');
    if (alt.length) link.altnames = alt;
  }
  const xdp = xdpFromJson(o.xdp, origin);
  if (xdp !== undefined) link.xdp = xdp;
  link.kind = resolveKind(link, ev);
  return link;
}

/** Read `ip -j link|addr` JSON into interface blocks; origins point at each object's first line. */
export function parseInterfaceJson(text: string, reader?: AddressReader): ParseResult<InterfaceBlock> {
  const records: InterfaceBlock[] = [];
  const warnings: ParseWarning[] = [];
  const lines = new LineIndex(text);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec((err as Error).message);
    const at = lines.origin(m ? Number(m[1]) : 0);
    warnings.push({ lineNumber: at.lineNumber, text: at.text, reason: `invalid JSON: ${(err as Error).message}` });
    return { records, warnings, form: 'json' };
  }
  if (!Array.isArray(data)) {
    const at = lines.origin(0);
    warnings.push({ lineNumber: at.lineNumber, text: at.text, reason: 'JSON is not an array of interfaces' });
    return { records, warnings, form: 'json' };
  }
  const layout = scanJsonLayout(text);
  for (let k = 0; k < data.length; k++) {
    const span = layout.ifaces[k];
    const origin = span ? lines.spanOrigin(span) : { lineNumber: 1, text: '' };
    const entry: unknown = data[k];
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      warnings.push({ lineNumber: origin.lineNumber, text: origin.text, reason: 'interface entry is not an object' });
      continue;
    }
    const o = entry as Record<string, unknown>;
    const link = linkFromJson(o, origin);
    if (typeof link === 'string') {
      warnings.push({ lineNumber: origin.lineNumber, text: origin.text, reason: link });
      continue;
    }
    const block: InterfaceBlock = { link, addresses: [] };
    records.push(block);
    if (reader && Array.isArray(o.addr_info)) {
      const spans = layout.addrs[k] ?? [];
      for (let m = 0; m < o.addr_info.length; m++) {
        const ao = m < spans.length ? lines.spanOrigin(spans[m]) : origin;
        const a = reader.jsonAddress(o.addr_info[m], link.ifindex, link.name, ao);
        if (typeof a === 'string') warnings.push({ lineNumber: ao.lineNumber, text: ao.text, reason: a });
        else block.addresses.push(a);
      }
    }
  }
  return { records, warnings, form: 'json' };
}

/** `"xdp": {"mode": 2, "prog": {"id": 27, "name": "xdp_lb", "tag": "..."}}` (mode: 1 drv, 2 generic, 3 offload, 4 multi). */
function xdpFromJson(v: unknown, origin: Origin): XdpAttachment | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const x = v as Record<string, unknown>;
  const modes: Record<number, string> = { 1: 'xdp', 2: 'xdpgeneric', 3: 'xdpoffload', 4: 'xdpmulti' };
  if (typeof x.mode !== 'number' || modes[x.mode] === undefined) return undefined;
  const programs: XdpAttachment['programs'] = [];
  const add = (p: unknown, mode?: string): void => {
    if (p === null || typeof p !== 'object') return;
    const q = p as Record<string, unknown>;
    const prog: XdpAttachment['programs'][number] = {};
    if (typeof q.id === 'number') prog.id = q.id;
    if (typeof q.name === 'string') prog.name = q.name;
    if (typeof q.tag === 'string') prog.tag = q.tag;
    if (mode !== undefined) prog.mode = mode;
    programs.push(prog);
  };
  add(x.prog);
  if (Array.isArray(x.attached)) for (const a of x.attached) if (a && typeof a === 'object') add((a as Record<string, unknown>).prog, modes[(a as Record<string, unknown>).mode as number]);
  return { mode: modes[x.mode], programs, origin };
}
