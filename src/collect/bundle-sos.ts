/**
 * A sosreport (sos 3.x and 4.x, directory or archive) read as hostcheck bundles: one host for the
 * network stack sos ran in, one per network namespace it recorded (`HOSTNAME:NETNS`). Files are
 * found by sos's own naming of command outputs (`_mangle_command`); sos 4.x's manifest.json
 * gives each command's exit code. Layouts (from sos's plugins, sosreport/sos on GitHub):
 *
 * - sos 3.0–3.4: `ip address`, `ip link`, no rules; 3.5–4.3: `ip -d address`, `ip -s -d link`,
 *   `ip -4 rule`; 4.4+: `ip -4 rule list`.
 * - namespaces: `sos_commands/networking/ip_netns_exec_NS_...` (3.5–4.2), then the same names
 *   in `sos_commands/networking/namespaces/NS/` (4.3+): `ip address show` (`-d` from 4.3),
 *   `ip route show table all`, `iptables-save`, `ip6tables-save` (4.1+), `ip rule list` (4.1–4.3),
 *   `ip -4/-6 rule list` (4.4+), `sysctl -a` (4.7+).
 * - sysctls: `sos_commands/kernel/sysctl_-a`, the copy of /proc/sys (system plugin), else the
 *   configured /etc/sysctl.conf and sysctl.d files. `ip xfrm policy`: the libreswan plugin.
 *   Files: etc/docker/daemon.json, etc/swanctl or etc/strongswan, etc/ipsec.conf (never
 *   ipsec.secrets). Docker networks: sos_commands/docker/docker_network_inspect_*.
 *
 * sos never runs iptables-save, `nft -j` or `ipset save` for the stack it ran in: it lists the
 * rules with `iptables -vnxL` (filter) and `iptables -t TABLE -nvL` (the tables
 * /proc/net/ip_tables_names names) in its networking plugin (4.0) or firewall_tables (4.1+), read
 * with the listing parser (parsers/iptables-list.ts), and writes `nft list ruleset` (`nft -a` in
 * firewall_tables) as text, read with parsers/nft-text.ts: native tables are evaluated, and
 * iptables-nft's tables the listings lack (sos 4.0 lists only filter on an iptables-nft host) keep
 * the rules nft printed for them (src/collect/snapshot.ts). When sos ran inside a namespace it also
 * recorded, that namespace's iptables-save serves instead (the same stack seen twice).
 */
import { parserFor } from '../../parsers/index.js';
import { parseRoutes } from '../../parsers/ip-route.js';
import type { InterfaceBlock } from '../model/records.js';
import type { Bundle } from './bundle.js';
import { ForeignBundleBuilder } from './bundle-foreign.js';
import type { BundleTree } from './bundle-tree.js';
import { SYSCTL_PATH, sysctlText } from './sysctl.js';

const NET = 'sos_commands/networking';
/** Where sos writes the firewall listings: firewall_tables (4.1+), networking (before). */
const FIREWALL_DIRS = ['sos_commands/firewall_tables', NET];

/** The file sos names a command's output (sos/report/plugins/__init__.py `_mangle_command`). */
export function sosCommandFile(command: string): string {
  return command
    .replace(/^\/(usr\/|)(bin|sbin)\//, '')
    .replace(/[^\p{L}\p{N}_\-./]+/gu, '_')
    .replaceAll('/', '.')
    .replace(/^[ ._-]+|[ ._-]+$/g, '')
    .slice(0, 255);
}

/** What of a sosreport an archive reader keeps in memory (paths below the report's top directory). */
export const SOS_WANTED: RegExp[] = [
  /^sos_commands\/networking\/(namespaces\/[^/]+\/)?(ip_|nft_|iptables|ip6tables)[^/]*$/,
  /^sos_commands\/conntrack\/(ip_netns_exec_[^/]+_)?conntrack_-S$/,
  // proc/net is a link to self/net, self to sos's pid: the copy lands in proc/PID/net.
  /^proc\/((net|self\/net|\d+\/net)\/stat\/nf_conntrack|sys\/net\/netfilter\/nf_conntrack_[a-z_]+)$/,
  /^sos_commands\/(kernel\/(sysctl_-a|uname_-a)|libreswan\/ip_xfrm_policy|docker\/docker_network_(inspect_[^/]+|ls)|host\/hostname|general\/hostname|firewall_tables\/(nft_|iptables|ip6tables)[^/]+|firewalld\/nft_[^/]+)$/,
  /^(sos_reports\/manifest\.json|version\.txt|hostname)$/,
  /^etc\/(hostname|machine-id|os-release|docker\/daemon\.json|sysctl\.conf|sysctl\.d\/[^/]+|swanctl\/swanctl\.conf|strongswan\/swanctl\/swanctl\.conf|ipsec\.conf|strongswan\/ipsec\.conf)$/,
  /^(run|usr\/lib|usr\/local\/lib|lib)\/sysctl\.d\/[^/]+$/,
  new RegExp(`^proc/sys/${SYSCTL_PATH.source.slice(1)}`),
];

/** A sosreport is a tree with sos_commands/ (and sos_logs/ or sos_reports/). */
export function isSosreport(tree: BundleTree): boolean {
  return tree.isDir('sos_commands') && (tree.isDir('sos_logs') || tree.isDir('sos_reports') || tree.text('version.txt') !== undefined);
}

interface ManifestCommand {
  exec: string;
  returnCode?: number;
}

/** sos 4.x's manifest: version, start time and each command's file and exit code. */
function readManifest(tree: BundleTree): { version?: string; start?: string; commands: Map<string, ManifestCommand> } {
  const commands = new Map<string, ManifestCommand>();
  let raw: unknown;
  try {
    raw = JSON.parse(tree.text('sos_reports/manifest.json') ?? 'null');
  } catch {
    return { commands };
  }
  if (!raw || typeof raw !== 'object') return { commands };
  const m = raw as { version?: unknown; start_time?: unknown; components?: { report?: { plugins?: Record<string, { commands?: unknown }> } } };
  for (const plugin of Object.values(m.components?.report?.plugins ?? {})) {
    if (!Array.isArray(plugin?.commands)) continue;
    for (const c of plugin.commands as { exec?: unknown; filepath?: unknown; return_code?: unknown }[]) {
      if (typeof c?.filepath === 'string' && typeof c.exec === 'string') commands.set(c.filepath, { exec: c.exec, ...(typeof c.return_code === 'number' && { returnCode: c.return_code }) });
    }
  }
  return { version: typeof m.version === 'string' ? m.version : undefined, start: typeof m.start_time === 'string' ? m.start_time : undefined, commands };
}

const firstLine = (t: string | undefined) => t?.split('\n').map((l) => l.trim()).find((l) => l !== '');

/** The main stack's command sources: [source, commands in order of preference]. */
const MAIN_COMMANDS: [string, string[]][] = [
  ['ip-route-v4', ['ip route show table all']],
  ['ip-route-v6', ['ip -6 route show table all']],
  ['ip-rule-v4', ['ip -4 rule list', 'ip -4 rule']],
  ['ip-rule-v6', ['ip -6 rule list', 'ip -6 rule']],
  ['ip-addr', ['ip -d address', 'ip address']],
  ['ip-link', ['ip -s -d link', 'ip link']],
  ['ip-neigh', ['ip -s -s neigh show']],
];

/** Per namespace, run as `ip netns exec NS COMMAND`. */
const NETNS_COMMANDS: [string, string[]][] = [
  ['ip-route-v4', ['ip route show table all']],
  ['ip-rule-v4', ['ip -4 rule list', 'ip rule list']],
  ['ip-rule-v6', ['ip -6 rule list']],
  ['ip-addr', ['ip -d address show', 'ip address show']],
  ['iptables-save', ['iptables-save']],
  ['ip6tables-save', ['ip6tables-save']],
  ['sysctl', ['sysctl -a']],
  ['ip-neigh', ['ip -s -s neigh show']],
];

/** The connection tracking sysctls hostcheck reads (src/collect/sources.ts CONNTRACK_SYSCTLS). */
const CONNTRACK_KEYS = ['nf_conntrack_count', 'nf_conntrack_max', 'nf_conntrack_buckets', 'nf_conntrack_udp_timeout', 'nf_conntrack_udp_timeout_stream', 'nf_conntrack_tcp_timeout_established'];

const CONNTRACK_LACKING: Record<string, string> = {
  'conntrack-stats': 'no `conntrack -S` (sos\'s conntrack plugin, sos 4.1 and later, with conntrack-tools installed and nf_conntrack, nf_conntrack_netlink, nf_defrag_ipv4/6 and nfnetlink loaded)',
  'conntrack-stat': 'no proc/net/stat/nf_conntrack (the networking plugin copies /proc/net; it exists only with nf_conntrack loaded)',
  'conntrack-sysctl': 'no net.netfilter.nf_conntrack_* in its `sysctl -a` or /proc/sys copy (nf_conntrack not loaded, or neither was recorded)',
};

const MACHINE_FILES = ['docker-daemon', 'docker-networks', 'swanctl-conf', 'ipsec-conf'];

class SosReader {
  readonly manifest: ReturnType<typeof readManifest>;
  readonly version: string | undefined;
  readonly sos: string;

  constructor(readonly tree: BundleTree) {
    this.manifest = readManifest(tree);
    this.version = this.manifest.version ?? /^sosreport:\s*(\S+)/m.exec(tree.text('version.txt') ?? '')?.[1];
    this.sos = `sos ${this.version ?? '(version not recorded)'}`;
  }

  /** The first command (in preference order) whose output file is in one of `dirs`. */
  command(name: string, dirs: string[], commands: string[], into: ForeignBundleBuilder, prefix = ''): boolean {
    for (const command of commands) {
      const full = prefix + command;
      for (const dir of dirs) {
        const file = `${dir}/${sosCommandFile(full)}`;
        const text = this.tree.text(file);
        if (text === undefined) continue;
        const ran = this.manifest.commands.get(file);
        into.collected(name, file, text, { argv: (ran?.exec ?? full).split(/\s+/), exitCode: ran?.returnCode });
        return true;
      }
    }
    return false;
  }

  /**
   * The stack's `iptables -nvL` listings as one text, a `# COMMAND` line before each table:
   * filter from `-vnxL` (exact counters) else `-t filter -nvL`, every other table from `-t T -nvL`.
   */
  firewallListing(name: 'iptables-save' | 'ip6tables-save', into: ForeignBundleBuilder): boolean {
    const tool = name === 'iptables-save' ? 'iptables' : 'ip6tables';
    const parts = new Map<string, { file: string; command: string; text: string }>();
    const failed: string[] = [];
    for (const dir of FIREWALL_DIRS) {
      const add = (table: string, command: string) => {
        const file = `${dir}/${sosCommandFile(command)}`;
        const text = this.tree.text(file);
        if (text === undefined || parts.has(table)) return;
        const code = this.manifest.commands.get(file)?.returnCode;
        if (code !== undefined && code !== 0) failed.push(`${file} (exit code ${code}: ${firstLine(text) ?? 'no output'})`);
        else parts.set(table, { file, command, text });
      };
      add('filter', `${tool} -vnxL`);
      for (const f of this.tree.list(dir)) {
        const m = new RegExp(`^${tool}_-t_([A-Za-z0-9_]+)_-nvL$`).exec(f);
        if (m) add(m[1], `${tool} -t ${m[1]} -nvL`);
      }
    }
    if (parts.size === 0) return false;
    let text = '';
    let line = 1;
    const read: string[] = [];
    for (const [table, p] of parts) {
      const body = p.text.replace(/\n?$/, '\n');
      const lines = body.split('\n').length - 1;
      read.push(`${table}: ${p.file} (lines ${line + 1}–${line + lines})`);
      text += `# ${p.command}\n${body}`;
      line += lines + 1;
    }
    const family = name === 'iptables-save' ? 'ip' : 'ip6';
    const nftTables = this.nftTables(family);
    const unread = nftTables ? nftTables.filter((t) => !parts.has(t)) : ['nat', 'mangle', 'raw', 'security'].filter((t) => !parts.has(t));
    const missing = unread.length === 0 ? '' : nftTables
      ? `; ${unread.length > 1 ? 'tables' : 'table'} ${unread.join(', ')} ${unread.length > 1 ? 'exist' : 'exists'} (nft list ruleset shows table ${family} ${unread.join(`, table ${family} `)}) but sos did not list ${unread.length > 1 ? 'them' : 'it'}: ${unread.length > 1 ? 'their' : 'its'} rules are read from ${this.nftRuleset()!.file} as nft prints them`
      : `; tables ${unread.join(', ')} were not listed (sos lists the tables /proc/net/${family === 'ip' ? 'ip' : 'ip6'}_tables_names names, empty under iptables-nft): whether they hold rules is not known`;
    into.collected(name, [...parts.values()].map((p) => p.file).join(', '), text, {
      argv: [tool, '-nvL'],
      format: 'iptables-list',
      message: `read from sos's \`${tool} -nvL\` listings, not ${name} (sos runs none for the stack it ran in): ${read.join('; ')}${failed.length ? `; failed: ${failed.join(', ')}` : ''}${missing}`,
    });
    return true;
  }

  /** The `nft list ruleset` text sos wrote, if any. */
  nftRuleset(): { file: string; text: string; command: string } | undefined {
    for (const dir of ['sos_commands/firewall_tables', NET, 'sos_commands/firewalld']) {
      for (const command of ['nft -a list ruleset', 'nft list ruleset']) {
        const file = `${dir}/${sosCommandFile(command)}`;
        const text = this.tree.text(file);
        if (text !== undefined) return { file, text, command };
      }
    }
    return undefined;
  }

  /** sos's `nft list ruleset` text as the nft source (sos runs no `nft -j`). */
  nft(into: ForeignBundleBuilder): void {
    const r = this.nftRuleset();
    if (r === undefined) return;
    const ran = this.manifest.commands.get(r.file);
    const handles = r.command.includes(' -a ');
    into.collected('nft', r.file, r.text, {
      argv: (ran?.exec ?? r.command).split(/\s+/),
      exitCode: ran?.returnCode,
      format: 'nft-text',
      message: `read from sos's \`${r.command}\` text (sos runs no nft -j)${handles ? '' : '; it prints no rule handles'}`,
    });
  }

  /** Names of the tables of one family (`ip`, `ip6`, `inet`, ...) in sos's nft ruleset text, or undefined without one. */
  nftTables(family: string): string[] | undefined {
    const text = this.nftRuleset()?.text;
    if (text === undefined) return undefined;
    return [...text.matchAll(/^table (\S+) (\S+) \{/gm)].filter((m) => m[1] === family).map((m) => m[2]);
  }

  /**
   * Connection tracking: `conntrack -S` (sos's conntrack plugin, 4.1+, per namespace too), the
   * networking plugin's copy of /proc/net/stat/nf_conntrack (the stack sos ran in), and the
   * table's size and fill from the /proc/sys copy or else the `sysctl -a` already read.
   */
  conntrack(into: ForeignBundleBuilder, ns?: string): void {
    this.command('conntrack-stats', ['sos_commands/conntrack'], ['conntrack -S'], into, ns === undefined ? '' : `ip netns exec ${ns} `);
    const viaSysctl = (): void => {
      if (this.sysctlHoldsConntrack(into)) into.collected('conntrack-sysctl', into.fileOf('sysctl'), undefined, { message: 'read with sysctl: its `sysctl -a` holds net.netfilter.nf_conntrack_*' });
    };
    if (ns !== undefined) return viaSysctl();
    this.file('conntrack-stat', ['proc/net/stat/nf_conntrack'], into);
    const keys = CONNTRACK_KEYS.filter((k) => this.tree.text(`proc/sys/net/netfilter/${k}`) !== undefined);
    if (keys.length > 0) {
      const text = keys.map((k) => `net.netfilter.${k} = ${this.tree.text(`proc/sys/net/netfilter/${k}`)!.trim()}\n`).join('');
      into.collected('conntrack-sysctl', 'proc/sys/net/netfilter', text, { path: '/proc/sys/net/netfilter', message: 'connection tracking\'s size and fill from the /proc/sys copy in this sosreport, written as sysctl -a lines' });
    } else viaSysctl();
  }

  private sysctlHoldsConntrack(into: ForeignBundleBuilder): boolean {
    return /^net\.netfilter\.nf_conntrack_max\s*=/m.test(into.textOf('sysctl') ?? '');
  }

  /** A configuration file sos copied, at the first of `paths` present. */
  file(name: string, paths: string[], into: ForeignBundleBuilder): boolean {
    for (const path of paths) {
      const text = this.tree.text(path);
      if (text !== undefined) {
        into.collected(name, path, text, { path: `/${path}` });
        return true;
      }
    }
    return false;
  }

  sysctls(into: ForeignBundleBuilder): void {
    if (this.command('sysctl', ['sos_commands/kernel'], ['sysctl -a'], into)) return;
    const proc = this.tree.sub('proc/sys');
    if (proc.isDir('net/ipv4/conf')) {
      const { text } = sysctlText({ read: (p) => proc.text(p)?.trim(), list: (d) => proc.list(d) }, 'proc/sys');
      into.collected('sysctl', 'proc/sys/net', text, { path: '/proc/sys', message: 'the routing keys of the /proc/sys copy in this sosreport, written as sysctl -a lines' });
      return;
    }
    // sysctl.d(5): *.conf of every directory by file name (/etc first among equals), then /etc/sysctl.conf.
    const byName = new Map<string, string>();
    for (const dir of ['lib/sysctl.d', 'usr/lib/sysctl.d', 'usr/local/lib/sysctl.d', 'run/sysctl.d', 'etc/sysctl.d']) {
      for (const f of this.tree.list(dir)) if (f.endsWith('.conf')) byName.set(f, `${dir}/${f}`);
    }
    const files = [...[...byName.keys()].sort().map((k) => byName.get(k)!), 'etc/sysctl.conf'].filter((f) => this.tree.text(f) !== undefined);
    if (files.length === 0) return;
    const text = files.map((f) => `# ${f}\n${this.tree.text(f)!.replace(/\n?$/, '\n')}`).join('');
    into.collected('sysctl', files.join(', '), text, {
      path: files.map((f) => `/${f}`).join(' '),
      message: `configured values (${files.join(', ')}), not the running ones: this sosreport has no sysctl -a or /proc/sys; keys set nowhere there take the kernel's defaults`,
    });
  }

  /** `docker network inspect NAME` files, one JSON array each, as one array of inspect objects. */
  dockerNetworks(into: ForeignBundleBuilder): void {
    const dir = 'sos_commands/docker';
    const files = this.tree.list(dir).filter((f) => f.startsWith('docker_network_inspect_'));
    if (files.length === 0) return;
    const objects: unknown[] = [];
    for (const f of files) {
      try {
        const v: unknown = JSON.parse(this.tree.text(`${dir}/${f}`) ?? 'null');
        if (Array.isArray(v)) objects.push(...(v as unknown[]));
      } catch {
        // An inspect that failed printed an error, not JSON; the others still count.
      }
    }
    into.collected('docker-networks', files.map((f) => `${dir}/${f}`).join(', '), JSON.stringify(objects, null, 2) + '\n', { argv: ['docker', 'network', 'inspect', '...'] });
  }

  identity(): { hostname: string; machineId?: string; os?: string; kernel?: string; startedAt: string } {
    const t = this.tree;
    const fromName = /sosreport-(.+?)-(\d{4}-\d{2}-\d{2}|\d{8,14})/.exec(t.origin)?.[1];
    const hostname = firstLine(t.text('etc/hostname')) ?? firstLine(t.text('sos_commands/host/hostname')) ?? firstLine(t.text('sos_commands/general/hostname')) ?? firstLine(t.text('hostname')) ?? fromName ?? 'sosreport';
    const osRelease = t.text('etc/os-release') ?? t.text('usr/lib/os-release');
    const os = /^PRETTY_NAME=["']?([^"'\n]*)/m.exec(osRelease ?? '')?.[1];
    const kernel = firstLine(t.text('sos_commands/kernel/uname_-a'))?.split(/\s+/)[2];
    const machineId = firstLine(t.text('etc/machine-id'));
    const startedAt = this.manifest.start?.replace(' ', 'T') ?? 'unknown';
    return { hostname, ...(machineId && { machineId }), ...(os && { os }), ...(kernel && { kernel }), startedAt };
  }

  /** Namespaces sos recorded: `ip netns`'s list, namespaces/ directories, and output file names. */
  namespaces(): string[] {
    const names = new Set<string>();
    for (const line of (this.tree.text(`${NET}/ip_netns`) ?? '').split('\n')) {
      if (line === '' || /^\s/.test(line) || line.startsWith('Object "netns"')) continue;
      names.add(line.split(/\s/)[0]);
    }
    for (const d of this.tree.list(`${NET}/namespaces`)) names.add(d);
    const known = new Set([...names].map((n) => sosCommandFile(`ip netns exec ${n} x`).slice(0, -2)));
    for (const f of this.tree.list(NET)) {
      const m = /^ip_netns_exec_(.+)_ip_route_show_table_all$/.exec(f);
      if (m && !known.has(`ip_netns_exec_${m[1]}`)) names.add(m[1]);
    }
    return [...names];
  }
}

/** Interfaces (name, MAC, global addresses) and IPv4 routes: equal for one stack seen twice. */
function stackSignature(addr: string | undefined, routes: string | undefined): string | undefined {
  if (addr === undefined || routes === undefined) return undefined;
  const blocks = parserFor('ip-addr')!.parse(addr).records as InterfaceBlock[];
  if (!blocks.some((b) => b.link.kind !== 'loopback' && b.link.name !== 'lo')) return undefined;
  const interfaces = blocks.map((b) => `${b.link.name} ${b.link.mac ?? ''} ${b.addresses.filter((a) => a.scope === 'global').map((a) => a.cidr).sort().join(',')}`).sort();
  const list = parseRoutes(routes, { family: 4 }).routes;
  const v4: string[] = [];
  for (let i = 0; i < list.length; i++) if (list.family(i) === 4) v4.push(list.get(i).origin.text.trim());
  return JSON.stringify([interfaces, v4.sort()]);
}

function lackingMain(reader: SosReader): (source: string) => string {
  const listing = (tool: string) => `no \`${tool} -vnxL\` or \`${tool} -t TABLE -nvL\` listing (sos runs them only when it finds the iptable_filter or nf_tables module loaded, or with --allow-system-changes), and sos runs no ${tool}-save for the stack it ran in`;
  const why: Record<string, string> = {
    'iptables-save': listing('iptables'),
    'ip6tables-save': listing('ip6tables'),
    nft: 'no `nft list ruleset` in it (sos runs it only when it finds the nf_tables module loaded, or with --allow-system-changes)',
    ipset: 'sos does not run `ipset save`',
    'ip-xfrm-policy': 'sos runs `ip xfrm policy` only in its libreswan plugin (libreswan installed)',
    'ip-rule-v4': 'no `ip rule` output (sos before 3.5 did not run it); route lookups assume the kernel\'s default rules',
    'ip-rule-v6': 'no `ip -6 rule` output (sos before 3.5 did not run it); route lookups assume the kernel\'s default rules',
    sysctl: 'no `sysctl -a` (kernel plugin), /proc/sys copy (system plugin) or sysctl configuration in it',
    ...CONNTRACK_LACKING,
    'docker-daemon': 'sos\'s docker plugin did not run',
    'docker-networks': 'no `docker network inspect` (sos\'s docker plugin, Docker running)',
    'swanctl-conf': 'no etc/swanctl/swanctl.conf (sos has no strongSwan plugin)',
    'ipsec-conf': 'no etc/ipsec.conf (sos\'s libreswan plugin did not run)',
  };
  return (source) => `not in this sosreport (${reader.sos}): ${why[source] ?? 'sos did not record it'}`;
}

function lackingNetns(reader: SosReader, ns: string): (source: string) => string {
  const why: Record<string, string> = {
    'ip-rule-v4': 'no `ip rule` for this namespace (sos records it from 4.1); route lookups assume the kernel\'s default rules',
    'ip-rule-v6': 'no `ip -6 rule` for this namespace (sos records it from 4.4); route lookups assume the kernel\'s default rules',
    'ip6tables-save': 'no ip6tables-save for this namespace (sos records it from 4.1)',
    'ip-neigh': 'no `ip -s -s neigh show` for this namespace (sos records it from 4.1)',
    sysctl: 'no `sysctl -a` for this namespace (sos records it from 4.7)',
    'conntrack-stats': CONNTRACK_LACKING['conntrack-stats'],
    'conntrack-stat': 'sos copies /proc/net/stat/nf_conntrack only for the stack it ran in',
    'conntrack-sysctl': 'no `sysctl -a` for this namespace (sos records it from 4.7)',
  };
  return (source) => `not in this sosreport (${reader.sos}) for network namespace ${ns}: ${why[source] ?? 'sos runs only addresses, routes, rules, iptables-save and sysctl -a in each namespace'}`;
}

/** Every host of a sosreport: the stack sos ran in first, then one per namespace. */
export function sosreportBundles(tree: BundleTree): Bundle[] {
  const reader = new SosReader(tree);
  const id = reader.identity();
  const layout = { kind: 'sosreport' as const, ...(reader.version && { version: reader.version }) };

  const main = new ForeignBundleBuilder({ ...layout }, lackingMain(reader));
  for (const [name, commands] of MAIN_COMMANDS) reader.command(name, [NET], commands, main);
  reader.firewallListing('iptables-save', main);
  reader.firewallListing('ip6tables-save', main);
  reader.nft(main);
  reader.command('ip-xfrm-policy', ['sos_commands/libreswan'], ['ip xfrm policy'], main);
  reader.sysctls(main);
  reader.conntrack(main);
  if (!reader.file('docker-daemon', ['etc/docker/daemon.json'], main) && tree.isDir('sos_commands/docker')) {
    main.absent('docker-daemon', 'etc/docker/daemon.json: absent (sos\'s docker plugin ran; Docker defaults apply)');
  }
  reader.dockerNetworks(main);
  reader.file('swanctl-conf', ['etc/swanctl/swanctl.conf', 'etc/strongswan/swanctl/swanctl.conf'], main);
  if (!reader.file('ipsec-conf', ['etc/ipsec.conf', 'etc/strongswan/ipsec.conf'], main) && tree.isDir('sos_commands/libreswan')) {
    main.absent('ipsec-conf', 'etc/ipsec.conf: absent (sos\'s libreswan plugin ran)');
  }

  const hosts: { ns: string; builder: ForeignBundleBuilder }[] = [];
  for (const ns of reader.namespaces()) {
    const b = new ForeignBundleBuilder({ ...layout, netns: ns }, lackingNetns(reader, ns));
    const dirs = [`${NET}/namespaces/${ns}`, NET];
    for (const [name, commands] of NETNS_COMMANDS) reader.command(name, dirs, commands, b, `ip netns exec ${ns} `);
    reader.conntrack(b, ns);
    if (!b.has('ip-route-v4') && !b.has('ip-addr')) continue;
    const same = (from: string, what: string) => b.collected(what, b.fileOf(from), undefined, { message: `read with ${from}: its output holds both` });
    if (b.has('ip-route-v4')) same('ip-route-v4', 'ip-route-v6');
    if (b.has('ip-addr')) same('ip-addr', 'ip-link');
    for (const name of MACHINE_FILES) b.absent(name, `a file of the machine, not of network namespace ${ns}`);
    hosts.push({ ns, builder: b });
  }

  // sos ran inside one of the namespaces it recorded: one stack, kept once, with what each view adds.
  const notes: string[] = [];
  const mainBundle = main.bundle({ ...id, name: id.hostname }, []);
  const signature = stackSignature(mainBundle.files.get('ip-addr'), mainBundle.files.get('ip-route-v4'));
  const twins = signature === undefined ? [] : hosts.filter((h) => {
    const b = h.builder.bundle({ ...id, name: '' }, []);
    return stackSignature(b.files.get('ip-addr'), b.files.get('ip-route-v4')) === signature;
  });
  let mainName = id.hostname;
  if (twins.length === 1) {
    const twin = twins[0];
    mainName = `${id.hostname}:${twin.ns}`;
    main.layout.netns = twin.ns;
    // The namespace's iptables-save is the whole ruleset; sos's own -nvL listing of the same stack is not.
    for (const name of ['iptables-save', 'ip6tables-save', 'ip-rule-v4', 'ip-rule-v6', 'sysctl', 'ip-neigh']) {
      if ((main.isLacking(name) || main.formatOf(name) !== undefined) && !twin.builder.isLacking(name)) main.adopt(twin.builder, name);
    }
    hosts.splice(hosts.indexOf(twin), 1);
    notes.push(`sos ran inside network namespace ${twin.ns}: its own outputs and ${twin.ns}'s describe one network stack (same interfaces, addresses and IPv4 routes), analysed once as ${mainName}`);
  } else if (twins.length > 1) {
    notes.push(`the stack sos ran in looks the same as ${twins.map((t) => t.ns).join(', ')}: kept apart`);
  }
  return [
    main.bundle({ ...id, name: mainName }, notes),
    ...hosts.map((h) => h.builder.bundle({ ...id, name: `${id.hostname}:${h.ns}` }, [])),
  ];
}
