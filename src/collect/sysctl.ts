/**
 * The routing-relevant sysctls, read from /proc/sys and written in `sysctl -a` form
 * ("net.ipv4.conf.eth0.rp_filter = 1"; a dot in an interface name becomes "/", as sysctl prints it).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const CONF_KEYS_V4 = ['rp_filter', 'forwarding', 'ignore_routes_with_linkdown', 'accept_local', 'src_valid_mark', 'proxy_arp', 'arp_filter', 'log_martians'];
const CONF_KEYS_V6 = ['forwarding', 'force_forwarding', 'ignore_routes_with_linkdown', 'disable_ipv6'];
const GLOBAL_KEYS = [
  'net/ipv4/ip_forward',
  'net/ipv4/fwmark_reflect',
  'net/ipv4/tcp_fwmark_accept',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
  'net/ipv4/icmp_ratelimit',
];

export interface SysctlOutcome {
  status: 'collected' | 'failed';
  text: string;
  message?: string;
  durationMs: number;
}

/** Where the values are read from: /proc/sys itself, or a copy of it in a bundle. */
export interface SysctlTree {
  /** A value file's trimmed text, undefined when unreadable. */
  read(path: string): string | undefined;
  /** A directory's names; throws when it cannot be read. */
  list(dir: string): string[];
}

// Synchronous on purpose: /proc/sys answers at once, and a promise per file costs more than the read.
function procTree(procSys: string): SysctlTree {
  return {
    read(path) {
      try {
        return readFileSync(join(procSys, path), 'utf8').trim();
      } catch {
        return undefined;
      }
    },
    list: (dir) => readdirSync(join(procSys, dir)),
  };
}

/** The `sysctl -a` lines of the routing-relevant keys; `failed` says why net/ipv4/conf was unreadable. */
export function sysctlText(tree: SysctlTree, where: string): { text: string; failed?: string } {
  const out: string[] = [];
  for (const key of GLOBAL_KEYS) {
    const v = tree.read(key);
    if (v !== undefined) out.push(`${key.replaceAll('/', '.')} = ${v}`);
  }
  let failed: string | undefined;
  for (const [fam, keys] of [['ipv4', CONF_KEYS_V4], ['ipv6', CONF_KEYS_V6]] as const) {
    let devices: string[];
    try {
      devices = tree.list(join('net', fam, 'conf')).sort();
    } catch (err) {
      if (fam === 'ipv4') failed = `sysctl: cannot read ${where}/net/ipv4/conf: ${(err as Error).message}`;
      continue;
    }
    const values = devices.flatMap((dev) => keys.map((k) => tree.read(join('net', fam, 'conf', dev, k))));
    let i = 0;
    for (const dev of devices) {
      for (const k of keys) {
        const v = values[i++];
        if (v !== undefined) out.push(`net.${fam}.conf.${dev.replaceAll('.', '/')}.${k} = ${v}`);
      }
    }
  }
  return { text: out.join('\n') + '\n', failed };
}

export async function collectSysctls(procSys = '/proc/sys'): Promise<SysctlOutcome> {
  const started = performance.now();
  const { text, failed } = sysctlText(procTree(procSys), procSys);
  const durationMs = Math.round(performance.now() - started);
  if (failed) return { status: 'failed', text, message: failed, durationMs };
  return { status: 'collected', text, durationMs };
}

/** The /proc/sys paths sysctlText reads (a bundle reader keeps these files of an archive). */
export const SYSCTL_PATH = new RegExp(
  `^(${GLOBAL_KEYS.join('|')}|net/ipv4/conf/[^/]+/(${CONF_KEYS_V4.join('|')})|net/ipv6/conf/[^/]+/(${CONF_KEYS_V6.join('|')}))$`,
);
