/**
 * Bundle → HostSnapshot. Pure: the same bundle gives the same snapshot live, from disk, anywhere.
 * Text forms are parsed (findings quote their lines); each record's origin gets its source name.
 */
import { parserFor } from '../../parsers/index.js';
import { parseRoutes } from '../../parsers/ip-route.js';
import { parseIptablesList } from '../../parsers/iptables-list.js';
import { parseIptables } from '../../parsers/iptables-save.js';
import { parse as parseNft } from '../../parsers/nft.js';
import { parse as parseNftText } from '../../parsers/nft-text.js';
import type { ParseResult, ParseWarning } from '../../parsers/types.js';
import type { ConntrackStatsRecord } from '../model/conntrack.js';
import type { DockerDaemonConfig, DockerNetworkRecord } from '../model/docker.js';
import type { IpsecConnectionRecord } from '../model/ipsec.js';
import type { IptablesNotice, IptablesTable } from '../model/netfilter.js';
import type { NftTable } from '../model/nft.js';
import type { SysctlRecord } from '../model/sysctl.js';
import type { AddressRecord, InterfaceBlock, LinkRecord, NeighbourRecord, Origin, RuleRecord } from '../model/records.js';
import { RouteList } from '../model/route-list.js';
import {
  SNAPSHOT_SCHEMA_VERSION,
  type HostSnapshot,
  type InterfaceModel,
  type InterfaceOwner,
  type SnapshotWarning,
  type SourceReport,
} from '../model/snapshot.js';
import type { Bundle } from './bundle.js';
import { markNftHiddenMatches, nftLookups, nftTextLookups, withoutIptablesNftRules, type NftLookups } from './nft-hidden.js';
import { sourceByName } from './sources.js';

/** Set `origin.source` on every record (and nested records) of a parse result. */
function stampSource(value: unknown, source: string, depth = 0): void {
  if (depth > 6 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const v of value) stampSource(v, source, depth + 1);
    return;
  }
  const o = value as Record<string, unknown>;
  // Anything that quotes a line (an origin, a per-setting line) gets the source name.
  if (typeof o.lineNumber === 'number' && typeof o.text === 'string') o.source = source;
  for (const key in o) {
    const v = o[key];
    if (v && typeof v === 'object') stampSource(v, source, depth + 1);
  }
}

/**
 * The same for flat records (routes, rules): a fresh origin in the same key order costs what
 * adding a property does but keeps 32 bytes less per record (no out-of-object property store).
 */
function stampFlat(records: { origin: Origin }[], source: string): void {
  for (const r of records) {
    const o = r.origin;
    r.origin = { lineNumber: o.lineNumber, text: o.text, source };
  }
}

/**
 * The family a route source keeps. A bundle captured before `-4` was passed holds IPv6 routes in
 * ip-route-v4 too: while ip-route-v6 was read they are dropped there (each route once, quoted from
 * its own file); without it they are kept, quoted from ip-route-v4 where they are.
 */
export function routeFamilyKept(family: 4 | 6 | undefined, v6Read: boolean): 4 | 6 | undefined {
  if (family === 6) return 6;
  return v6Read ? family : undefined;
}

/**
 * One iptables-save / ip6tables-save dump as the snapshot holds it: tables whose records carry
 * the source name, and the dump's notices. The aggregator reads a netfilter section with it too
 * (src/collect/sections.ts), so both ends hold the same records.
 */
export function netfilterDump(source: string, text: string): { tables: IptablesTable[]; notices: IptablesNotice[]; warnings: ParseWarning[] } {
  const result = parseIptables(text, { source });
  return { tables: result.records, notices: result.notices.map((x) => ({ ...x, source })), warnings: result.warnings };
}

/**
 * iptables-save's tables and those iptables-legacy-save printed: the kernel runs both. Where
 * iptables-save is itself the legacy tool, the legacy dump repeats its tables and is left out.
 */
export function withLegacyTables(main: IptablesTable[], legacy: IptablesTable[]): IptablesTable[] {
  if (legacy.length === 0) return main;
  const seen = new Set(main.filter((t) => t.backend === 'legacy').map((t) => t.name));
  return [...main, ...legacy.filter((t) => !seen.has(t.name)).map((t) => ({ ...t, backend: 'legacy' as const }))];
}

const UPLINK_NAME = /^(eth|ens|enp|eno|em|bond|team|wlan|wlp|p\d)/;

/** Who made an interface, from Docker's networks and well-known names. */
function ownerOf(link: LinkRecord, dockerBridges: Map<string, string>): InterfaceOwner | undefined {
  const docker = dockerBridges.get(link.name);
  if (docker !== undefined) return { type: 'docker', name: docker };
  const n = link.name;
  if (n === 'docker0') return { type: 'docker', name: 'bridge' };
  if (/^br-[0-9a-f]{12}$/.test(n)) return { type: 'docker' };
  if (/^(cni0|flannel\.|cali|vxlan\.calico|tunl0|weave|kube-|cilium_|lxc|genev_sys|antrea)/.test(n)) return { type: n.startsWith('kube-') ? 'kubernetes' : 'cni' };
  if (/^virbr/.test(n)) return { type: 'libvirt' };
  if (/^(tun|tap|wg|ipsec|vti|xfrm|ppp)/.test(n) || link.kind === 'wireguard' || link.kind === 'tun') return { type: 'vpn' };
  return undefined;
}

// A veth can be an uplink (a container's or a lab host's eth0); a bridge port veth has no name like eth*.
const NON_UPLINK_KINDS = new Set(['loopback', 'bridge', 'vxlan', 'tun', 'tap', 'wireguard', 'gre', 'ipip', 'sit', 'dummy', 'vrf', 'openvswitch']);

/** Interfaces listed in two outputs (calicoctl's `ip -4 addr` and `ip -6 addr`) as one block each. */
function mergeBlocks(blocks: InterfaceBlock[], more: InterfaceBlock[]): InterfaceBlock[] {
  if (more.length === 0) return blocks;
  const byName = new Map(blocks.map((b) => [b.link.name, b]));
  const out = [...blocks];
  for (const b of more) {
    const known = byName.get(b.link.name);
    if (known) known.addresses = [...known.addresses, ...b.addresses];
    else {
      byName.set(b.link.name, b);
      out.push(b);
    }
  }
  return out;
}

/** The dumps a netfilter section is made of (src/collect/sections.ts), kept in the bundle by `release`. */
const KEPT_TEXTS = new Set(['iptables-save', 'iptables-legacy-save', 'ip6tables-save', 'ip6tables-legacy-save']);

/**
 * nft's tables as the snapshot keeps them and the lookups of iptables-nft's rules. A function of
 * its own so that, with `release`, nothing but the bundle held the text while the rest is parsed.
 */
function readNft(bundle: Bundle, release: boolean): NftPart | undefined {
  const text = bundle.files.get('nft');
  if (text === undefined) return undefined;
  if (release) bundle.files.delete('nft');
  const meta = bundle.meta.sources.find((m) => m.name === 'nft');
  if (meta?.format === 'nft-text' || isNftText(text)) {
    // `nft list ruleset` text (an nft without JSON, a sosreport): every table's rules are kept
    // until the iptables dumps say which of iptables-nft's tables they hold (settleNftText).
    const parsed = parseNftText(text);
    stampSource(parsed.records, 'nft');
    const handles = parsed.records.some((t) => t.handle !== undefined || t.chains.some((c) => c.rules.some((r) => r.handle !== undefined)));
    return { result: { records: parsed.records, warnings: parsed.warnings }, lookups: nftTextLookups(parsed.records), characters: text.length, text: { handles } };
  }
  const result = parseNft(text, { summarizeIptablesNft: true });
  stampSource(result.records, 'nft');
  for (const chains of result.iptablesNftRules?.values() ?? []) {
    for (const chain of chains.values()) for (const rule of chain.lookups.values()) rule.origin.source = 'nft';
  }
  return { result: { records: withoutIptablesNftRules(result.records), warnings: result.warnings }, lookups: nftLookups(result.records, result.iptablesNftRules), characters: text.length };
}

interface NftPart {
  result: ParseResult<NftTable>;
  lookups: NftLookups;
  characters: number;
  /** Read from `nft list ruleset` text: whether it had handles (`nft -a`). */
  text?: { handles: boolean };
}

/** Whether an nft source holds `nft list ruleset` text rather than `nft -j`'s JSON document. */
function isNftText(text: string): boolean {
  const first = /\S/.exec(text);
  return first !== null && first[0] !== '{';
}

/**
 * iptables-nft's tables of nft's text listing: those an iptables dump of their family holds keep
 * only their base chains (their rules are the dump's); those none holds (a sosreport lists only
 * the filter table) keep the rules nft listed, evaluated by the nft evaluator (`rulesFromNft`).
 */
function settleNftText(tables: NftTable[], dumped: { 4: IptablesTable[]; 6: IptablesTable[] }): { tables: NftTable[]; fromNft: string[] } {
  const fromNft: string[] = [];
  for (const t of tables) {
    if (t.managedBy !== 'iptables-nft') continue;
    const family = t.family === 'ip6' ? 6 : 4;
    if (dumped[family].some((d) => d.name === t.name && d.backend !== 'legacy')) continue;
    t.rulesFromNft = true;
    fromNft.push(`${t.family} ${t.name}`);
  }
  return { tables: withoutIptablesNftRules(tables), fromNft };
}

/** Build the snapshot of one bundle. */
export function buildSnapshot(bundle: Bundle): HostSnapshot {
  return snapshotOf(bundle, false);
}

/**
 * The same for the agent, which needs no more of the bundle than the iptables dumps its netfilter
 * section is made of: each other text leaves the bundle once it is parsed, so a big host's 40 MB
 * of `nft -j` is garbage before iptables-save is read (the routes' texts stay in the RouteList).
 * `afterParse` runs after each source of more than a million characters is parsed.
 */
export function buildSnapshotReleasing(bundle: Bundle, afterParse?: () => void): HostSnapshot {
  return snapshotOf(bundle, true, afterParse);
}

/** Characters a bundle's texts hold. */
export function bundleCharacters(bundle: Bundle): number {
  let n = 0;
  for (const text of bundle.files.values()) n += text.length;
  return n;
}

/** Above this many characters a source's parse is followed by `afterParse` (the agent's garbage collection). */
const BIG_TEXT = 1_000_000;

function snapshotOf(bundle: Bundle, release: boolean, afterParse?: () => void): HostSnapshot {
  const warnings: SnapshotWarning[] = [];
  const parsed = new Map<string, ParseResult<unknown>>();
  const routeLists = new Map<string, RouteList>();
  const dumpNotices: IptablesNotice[] = [];
  const sources: SourceReport[] = [];
  // nft first: of iptables-nft's tables only their lookups are kept (markNftHiddenMatches), and
  // the parser makes no records of their rules (a kube-proxy host's ~1 KB of JSON a rule).
  const nftPart = bundle.meta.sources.some((m) => m.name === 'nft') ? readNft(bundle, release) : undefined;
  const lookups: NftLookups = nftPart?.lookups ?? new Map();
  if (nftPart) parsed.set('nft', nftPart.result);
  if (nftPart && nftPart.characters > BIG_TEXT) afterParse?.();
  for (const meta of bundle.meta.sources) {
    const spec = sourceByName(meta.name);
    const text = bundle.files.get(meta.name);
    let warningCount = 0;
    let message = meta.message;
    if (meta.format === 'iptables-list' && spec?.format === 'iptables-save' && text !== undefined) {
      // Another collector's `iptables -nvL` listing: the same records, some rules read approximately.
      const listing = parseIptablesList(text, { family: spec.family });
      stampSource(listing.records, meta.name);
      for (const w of listing.warnings) warnings.push({ source: meta.name, lineNumber: w.lineNumber, text: w.text, reason: w.reason });
      warningCount = listing.warnings.length;
      parsed.set(meta.name, { records: listing.records, warnings: listing.warnings });
      dumpNotices.push(...listing.notices.map((x) => ({ ...x, source: meta.name })));
      const lines = listing.approximate.map((w) => w.lineNumber);
      const approx = lines.length === 0 ? 'every rule read back whole' : `rule${lines.length > 1 ? 's' : ''} at line${lines.length > 1 ? 's' : ''} ${lines.join(', ')} read approximately (what the listing printed of them is not read back: they are undecided)`;
      message = `${message ? `${message}; ` : ''}${approx}${listing.abbreviatedCounters ? '; counters abbreviated by the listing (lower bounds)' : ''}`;
    } else if (meta.name === 'nft' && parsed.has('nft')) {
      const result = parsed.get('nft')!;
      for (const w of result.warnings) warnings.push({ source: meta.name, lineNumber: w.lineNumber, text: w.text, reason: w.reason });
      warningCount = result.warnings.length;
      if (nftPart?.text !== undefined) {
        const form = `read as \`nft list ruleset\` text${nftPart.text.handles ? ' with rule handles (nft -a)' : ', without rule handles (a fix that deletes a rule says how to find its handle with nft -a)'}`;
        message = message ? `${message}; ${form}` : form;
      }
    } else if (spec?.format && text !== undefined) {
      const parser = parserFor(spec.format);
      if (spec.format === 'ip-route') {
        // Routes stay a RouteList (a million of them are not made records up front).
        const result = parseRoutes(text, { family: spec.family, source: meta.name, only: routeFamilyKept(spec.family, bundle.files.has('ip-route-v6')) });
        for (const w of result.warnings) warnings.push({ source: meta.name, lineNumber: w.lineNumber, text: w.text, reason: w.reason });
        warningCount = result.warnings.length;
        routeLists.set(meta.name, result.routes);
      } else if (spec.format === 'iptables-save') {
        const dump = netfilterDump(meta.name, text);
        for (const w of dump.warnings) warnings.push({ source: meta.name, lineNumber: w.lineNumber, text: w.text, reason: w.reason });
        warningCount = dump.warnings.length;
        parsed.set(meta.name, { records: dump.tables, warnings: dump.warnings });
        dumpNotices.push(...dump.notices);
      } else if (parser) {
        const result = parser.parse(text, { family: spec.family });
        if (spec.format === 'ip-rule') stampFlat(result.records as { origin: Origin }[], meta.name);
        else stampSource(result.records, meta.name);
        for (const w of result.warnings) warnings.push({ source: meta.name, lineNumber: w.lineNumber, text: w.text, reason: w.reason });
        warningCount = result.warnings.length;
        parsed.set(meta.name, result);
      }
    }
    if (release && !KEPT_TEXTS.has(meta.name)) bundle.files.delete(meta.name);
    if (text !== undefined && text.length > BIG_TEXT && meta.name !== 'nft') afterParse?.();
    const report: SourceReport = { name: meta.name, status: meta.status, message, required: meta.required, warnings: warningCount };
    // Only a bundle of another collector names its files: a live run and hostcheck's bundle read alike.
    if (bundle.meta.layout && meta.file) report.file = meta.file;
    if (meta.lacking) report.lacking = true;
    if (meta.redacted) report.redacted = meta.redacted;
    sources.push(report);
  }
  const records = <T>(name: string): T[] => (parsed.get(name)?.records as T[] | undefined) ?? [];

  const routeParts = ['ip-route-v4', 'ip-route-v6'].flatMap((n) => routeLists.get(n) ?? []);
  const routes = routeParts.length === 1 ? routeParts[0] : RouteList.concat(routeParts);
  const rules = [...records<RuleRecord>('ip-rule-v4'), ...records<RuleRecord>('ip-rule-v6')];

  // Rules iptables-nft printed without a native nft match nft -j shows: evaluated as undecided.
  let nft = records<NftTable>('nft');
  if (nftPart?.text !== undefined) {
    const settled = settleNftText(nft, { 4: records<IptablesTable>('iptables-save'), 6: records<IptablesTable>('ip6tables-save') });
    nft = settled.tables;
    const report = sources.find((r) => r.name === 'nft');
    if (report && settled.fromNft.length > 0) {
      report.message = `${report.message ? `${report.message}; ` : ''}the rules of iptables-nft's ${settled.fromNft.length > 1 ? 'tables' : 'table'} ${settled.fromNft.join(', ')} are read from it (no iptables dump holds ${settled.fromNft.length > 1 ? 'them' : 'it'})`;
    }
  }
  const nftHidden = [
    ...markNftHiddenMatches(records<IptablesTable>('iptables-save'), lookups, 4).map((n) => ({ ...n, source: 'iptables-save' })),
    ...markNftHiddenMatches(records<IptablesTable>('ip6tables-save'), lookups, 6).map((n) => ({ ...n, source: 'ip6tables-save' })),
  ];

  const conntrackStats = [...records<ConntrackStatsRecord>('conntrack-stat'), ...records<ConntrackStatsRecord>('conntrack-stats')];

  const dockerNetworks = records<DockerNetworkRecord>('docker-networks');
  const dockerBridges = new Map<string, string>();
  for (const n of dockerNetworks) if (n.bridgeName) dockerBridges.set(n.bridgeName, n.name);

  const defaultDevs = new Set<string>();
  for (let i = 0; i < routes.length; i++) {
    if (!routes.isDefault(i) || routes.table(i) !== 'main') continue;
    const r = routes.get(i);
    for (const d of [r.dev, ...r.nexthops.map((n) => n.dev)]) if (d) defaultDevs.add(d);
  }
  const blocks = mergeBlocks(records<InterfaceBlock>('ip-addr'), records<InterfaceBlock>('ip-addr-v6'));
  const links = blocks.length ? blocks.map((b) => b.link) : records<LinkRecord>('ip-link');
  const addressesByIf = new Map<string, AddressRecord[]>();
  for (const b of blocks) addressesByIf.set(b.link.name, b.addresses);
  const interfaces: InterfaceModel[] = links.map((link) => {
    const owner = ownerOf(link, dockerBridges);
    const uplink = !owner && !NON_UPLINK_KINDS.has(link.kind) && !link.master && (defaultDevs.has(link.name) || (UPLINK_NAME.test(link.name) && link.kind !== 'veth') || (link.kind === 'veth' && /^(eth|ens|enp)\d/.test(link.name)));
    return {
      name: link.name,
      ifindex: link.ifindex,
      kind: link.kind,
      kindText: link.kindText,
      state: link.state,
      flags: link.flags,
      mtu: link.mtu,
      master: link.master,
      mac: link.mac,
      noCarrier: link.flags.includes('NO-CARRIER'),
      uplink,
      owner,
      addresses: addressesByIf.get(link.name) ?? [],
      ...(link.xdp !== undefined && { xdp: link.xdp }),
      ...(link.details !== undefined && { details: link.details }),
      origin: link.origin,
    };
  });

  // Complete: nothing failed, every required source was read (an optional one may be absent), and
  // the bundle lacks nothing the snapshot reads.
  const complete = sources.every((s) => !s.lacking && (s.status === 'collected' || (!s.required && s.status === 'unavailable')));
  const meta = bundle.meta;
  return {
    schemaVersion: SNAPSHOT_SCHEMA_VERSION,
    identity: {
      name: meta.name ?? meta.hostname,
      hostname: meta.hostname,
      machineId: meta.machineId,
      os: meta.os,
      kernel: meta.kernel,
      cloud: meta.cloud as HostSnapshot['identity']['cloud'],
    },
    collectedAt: meta.startedAt,
    interfaces,
    routes,
    rules,
    netfilter: {
      v4: withLegacyTables(records('iptables-save'), records('iptables-legacy-save')),
      v6: withLegacyTables(records('ip6tables-save'), records('ip6tables-legacy-save')),
      // "iptables-legacy tables present" and similar: rules this view cannot show.
      notices: [...dumpNotices, ...nftHidden],
    },
    nft,
    ipsets: records('ipset'),
    xfrmPolicies: records('ip-xfrm-policy'),
    ...(parsed.has('ip-neigh') && { neighbours: records<NeighbourRecord>('ip-neigh') }),
    ipsecConnections: [...records<IpsecConnectionRecord>('swanctl-conf'), ...records<IpsecConnectionRecord>('ipsec-conf')],
    sysctls: [...records<SysctlRecord>('sysctl'), ...records<SysctlRecord>('conntrack-sysctl')],
    ...(conntrackStats.length > 0 && { conntrack: { stats: conntrackStats } }),
    tcFilters: records('tc-filter'),
    ipvs: records('ipvs'),
    docker: { daemon: records<DockerDaemonConfig>('docker-daemon')[0], networks: dockerNetworks },
    sources,
    complete,
    warnings,
  };
}
