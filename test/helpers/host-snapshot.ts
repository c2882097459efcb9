/**
 * A HostSnapshot as buildSnapshot makes it from a bundle of these command outputs: interfaces
 * with addresses (their `local` routes are added), routes, rules, sysctl lines, iptables-save
 * and xfrm text. For unit tests of the simulator and the checks without a kernel.
 */
import { BUNDLE_FORMAT_VERSION, type Bundle } from '../../src/collect/bundle.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import type { HostSnapshot } from '../../src/model/snapshot.js';

export interface HostText {
  /** Interface → IPv4 CIDRs (lo gets 127.0.0.1/8). */
  addrs: Record<string, string[]>;
  routes: string[];
  /** Rules between `local` and `main`, as `ip rule show` prints them. */
  rules?: string[];
  xfrm?: string;
  iptables?: string;
  /** net.ipv4.ip_forward (and every device's forwarding when `sysctls` does not say). */
  forward?: boolean;
  /** More `sysctl -a` lines ("net.ipv4.conf.eth1.rp_filter = 1"). */
  sysctls?: string[];
}

export function hostSnapshot(name: string, h: HostText): HostSnapshot {
  const ifaces = Object.entries({ lo: ['127.0.0.1/8'], ...h.addrs });
  const addr = ifaces.map(([dev, cidrs], i) => [
    `${i + 1}: ${dev}: <${dev === 'lo' ? 'LOOPBACK' : 'BROADCAST,MULTICAST'},UP,LOWER_UP> mtu 1500 state UP`,
    `    link/ether 02:00:00:00:00:0${i} brd ff:ff:ff:ff:ff:ff`,
    ...cidrs.map((c) => `    inet ${c} scope ${dev === 'lo' ? 'host' : 'global'} ${dev}`),
  ].join('\n')).join('\n');
  const local = ifaces.flatMap(([dev, cidrs]) => cidrs.map((c) => `local ${c.split('/')[0]} dev ${dev} table local proto kernel scope host src ${c.split('/')[0]}`));
  const forward = h.forward ? 1 : 0;
  const sysctl = [`net.ipv4.ip_forward = ${forward}`, 'net.ipv4.ip_default_ttl = 64', ...ifaces.map(([dev]) => `net.ipv4.conf.${dev}.forwarding = ${forward}`), ...(h.sysctls ?? [])];
  const files = new Map<string, string>([
    ['ip-addr', addr + '\n'],
    ['ip-route-v4', [...h.routes, ...local].join('\n') + '\n'],
    ['ip-rule-v4', ['0:\tfrom all lookup local', ...(h.rules ?? []), '32766:\tfrom all lookup main', '32767:\tfrom all lookup default'].join('\n') + '\n'],
    ['sysctl', sysctl.join('\n') + '\n'],
    ['ip-xfrm-policy', h.xfrm ?? ''],
    ['iptables-save', h.iptables ?? ''],
  ]);
  const bundle: Bundle = {
    meta: {
      bundleFormat: BUNDLE_FORMAT_VERSION, hostcheckVersion: 'test', argv: [], hostname: name, name, startedAt: '2026-01-01T00:00:00.000Z', durationMs: 0, toolVersions: {},
      sources: [...files.keys()].map((n) => ({ name: n, file: n, kind: 'command', status: 'collected' as const, durationMs: 0, required: true })),
    },
    files,
  };
  return buildSnapshot(bundle);
}
