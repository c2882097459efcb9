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

// Synchronous on purpose: /proc/sys answers at once, and a promise per file costs more than the read.
function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export async function collectSysctls(procSys = '/proc/sys'): Promise<SysctlOutcome> {
  const started = performance.now();
  const out: string[] = [];
  for (const key of GLOBAL_KEYS) {
    const v = tryRead(join(procSys, key));
    if (v !== undefined) out.push(`${key.replaceAll('/', '.')} = ${v}`);
  }
  let failed: string | undefined;
  for (const [fam, keys] of [['ipv4', CONF_KEYS_V4], ['ipv6', CONF_KEYS_V6]] as const) {
    let devices: string[];
    try {
      devices = readdirSync(join(procSys, 'net', fam, 'conf')).sort();
    } catch (err) {
      if (fam === 'ipv4') failed = `sysctl: cannot read ${procSys}/net/ipv4/conf: ${(err as Error).message}`;
      continue;
    }
    const values = devices.flatMap((dev) => keys.map((k) => tryRead(join(procSys, 'net', fam, 'conf', dev, k))));
    let i = 0;
    for (const dev of devices) {
      for (const k of keys) {
        const v = values[i++];
        if (v !== undefined) out.push(`net.${fam}.conf.${dev.replaceAll('.', '/')}.${k} = ${v}`);
      }
    }
  }
  const durationMs = Math.round(performance.now() - started);
  if (failed) return { status: 'failed', text: out.join('\n') + '\n', message: failed, durationMs };
  return { status: 'collected', text: out.join('\n') + '\n', durationMs };
}
