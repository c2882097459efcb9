/**
 * What hostcheck collects: one entry per source, each written to the bundle as one file exactly
 * as the command printed it. Text forms are what findings quote (and all that iproute2 older than
 * 4.17 can give); JSON forms are collected beside them where they work.
 */

export interface SourceSpec {
  /** Source name: also the bundle file's base name. */
  name: string;
  /** File name inside the bundle. */
  file: string;
  /** How to get it. */
  kind: 'command' | 'file' | 'docker-api' | 'sysctl';
  /** For commands: argv. For files: the path. */
  argv?: string[];
  path?: string;
  /** Parser format for the snapshot; undefined for raw sources kept only for the record. */
  format?: string;
  family?: 4 | 6;
  /** A failure of a required source makes the collection incomplete. */
  required: boolean;
  /** The advice when the command says permission denied. */
  permissionHint?: string;
  /** What it means when the tool or file is absent. */
  absentMeaning?: string;
}

const NET_ADMIN_HINT = 'run as root, or grant CAP_NET_ADMIN and CAP_NET_RAW';

/** Every device's ingress and egress tc filters, each under a `dev DEV ingress|egress` line (hostcheck-capture.sh runs the same). */
export const TC_FILTERS = 'for d in $(ls /sys/class/net); do for dir in ingress egress; do out=$(tc filter show dev "$d" $dir 2>/dev/null) && [ -n "$out" ] && printf "dev %s %s\\n%s\\n" "$d" "$dir" "$out"; done; done; true';

/** Connection tracking's size and fill, written as `sysctl -a` lines; nothing when nf_conntrack is not loaded (hostcheck-capture.sh runs the same). */
export const CONNTRACK_SYSCTLS = 'cd /proc/sys/net/netfilter 2>/dev/null && for k in nf_conntrack_count nf_conntrack_max nf_conntrack_buckets nf_conntrack_udp_timeout nf_conntrack_udp_timeout_stream nf_conntrack_tcp_timeout_established; do [ -r "$k" ] && echo "net.netfilter.$k = $(cat "$k")"; done; true';

/**
 * `conntrack -S` only where nf_conntrack is loaded and conntrack-tools installed: asking ctnetlink
 * otherwise can load kernel modules, and hostcheck changes nothing on a host (capture script: the same).
 */
export const CONNTRACK_STATS = 'if [ -e /proc/net/stat/nf_conntrack ] && command -v conntrack >/dev/null 2>&1; then exec conntrack -S; fi';

export const SOURCES: SourceSpec[] = [
  { name: 'ip-route-v4', file: 'ip-route-v4.txt', kind: 'command', argv: ['ip', '-4', 'route', 'show', 'table', 'all'], format: 'ip-route', family: 4, required: true },
  { name: 'ip-route-v6', file: 'ip-route-v6.txt', kind: 'command', argv: ['ip', '-6', 'route', 'show', 'table', 'all'], format: 'ip-route', family: 6, required: true },
  { name: 'ip-rule-v4', file: 'ip-rule-v4.txt', kind: 'command', argv: ['ip', '-4', 'rule', 'show'], format: 'ip-rule', family: 4, required: true },
  { name: 'ip-rule-v6', file: 'ip-rule-v6.txt', kind: 'command', argv: ['ip', '-6', 'rule', 'show'], format: 'ip-rule', family: 6, required: true },
  { name: 'ip-addr', file: 'ip-addr.txt', kind: 'command', argv: ['ip', '-d', 'addr', 'show'], format: 'ip-addr', required: true },
  { name: 'ip-link', file: 'ip-link.txt', kind: 'command', argv: ['ip', '-d', 'link', 'show'], format: 'ip-link', required: true },
  // Who lives on a bridge (a VM, a container) answers ARP/ND there: the capture check tells them from a captured peer.
  { name: 'ip-neigh', file: 'ip-neigh.txt', kind: 'command', argv: ['ip', 'neigh', 'show'], format: 'ip-neigh', required: false },
  // JSON forms: kept in the bundle for tools and for the form-equivalence tests; the snapshot uses the text.
  { name: 'ip-route-v4-json', file: 'ip-route-v4.json', kind: 'command', argv: ['ip', '-4', '-j', 'route', 'show', 'table', 'all'], required: false, absentMeaning: 'iproute2 older than 4.17 has no usable -j' },
  { name: 'ip-route-v6-json', file: 'ip-route-v6.json', kind: 'command', argv: ['ip', '-6', '-j', 'route', 'show', 'table', 'all'], required: false },
  { name: 'ip-rule-v4-json', file: 'ip-rule-v4.json', kind: 'command', argv: ['ip', '-4', '-j', 'rule', 'show'], required: false },
  { name: 'ip-rule-v6-json', file: 'ip-rule-v6.json', kind: 'command', argv: ['ip', '-6', '-j', 'rule', 'show'], required: false },
  { name: 'ip-addr-json', file: 'ip-addr.json', kind: 'command', argv: ['ip', '-d', '-j', 'addr', 'show'], required: false },
  { name: 'ip-link-json', file: 'ip-link.json', kind: 'command', argv: ['ip', '-d', '-j', 'link', 'show'], required: false },
  { name: 'iptables-save', file: 'iptables-save.txt', kind: 'command', argv: ['iptables-save', '-c'], format: 'iptables-save', family: 4, required: true, permissionHint: NET_ADMIN_HINT, absentMeaning: 'iptables not installed' },
  { name: 'ip6tables-save', file: 'ip6tables-save.txt', kind: 'command', argv: ['ip6tables-save', '-c'], format: 'iptables-save', family: 6, required: true, permissionHint: NET_ADMIN_HINT, absentMeaning: 'iptables not installed' },
  // The other backend's rules: the kernel runs legacy x_tables and nf_tables side by side, each tool shows only its own.
  { name: 'iptables-legacy-save', file: 'iptables-legacy-save.txt', kind: 'command', argv: ['iptables-legacy-save', '-c'], format: 'iptables-save', family: 4, required: false, permissionHint: NET_ADMIN_HINT, absentMeaning: 'iptables-legacy not installed' },
  { name: 'ip6tables-legacy-save', file: 'ip6tables-legacy-save.txt', kind: 'command', argv: ['ip6tables-legacy-save', '-c'], format: 'iptables-save', family: 6, required: false, permissionHint: NET_ADMIN_HINT, absentMeaning: 'iptables-legacy not installed' },
  { name: 'nft', file: 'nft.json', kind: 'command', argv: ['nft', '-j', 'list', 'ruleset'], format: 'nft', required: false, permissionHint: NET_ADMIN_HINT, absentMeaning: 'nftables CLI not installed; native nft tables cannot be seen' },
  { name: 'ipset', file: 'ipset.txt', kind: 'command', argv: ['ipset', 'save'], format: 'ipset', required: false, permissionHint: NET_ADMIN_HINT, absentMeaning: 'ipset not installed' },
  { name: 'ip-xfrm-policy', file: 'ip-xfrm-policy.txt', kind: 'command', argv: ['ip', 'xfrm', 'policy', 'show'], format: 'ip-xfrm', required: true, permissionHint: NET_ADMIN_HINT },
  { name: 'sysctl', file: 'sysctl.txt', kind: 'sysctl', format: 'sysctl', required: true },
  // tc filters on every device's ingress and egress (Cilium, Calico eBPF): hostcheck names them, it does not evaluate them.
  { name: 'tc-filter', file: 'tc-filter.txt', kind: 'command', argv: ['sh', '-c', TC_FILTERS], format: 'tc-filter', required: false, permissionHint: NET_ADMIN_HINT },
  { name: 'ipvs', file: 'ipvs.txt', kind: 'file', path: '/proc/net/ip_vs', format: 'ipvs', required: false, absentMeaning: 'absent (no IPVS here: kube-proxy does not run in ipvs mode)' },
  { name: 'conntrack-sysctl', file: 'conntrack-sysctl.txt', kind: 'command', argv: ['sh', '-c', CONNTRACK_SYSCTLS], format: 'sysctl', required: false },
  { name: 'conntrack-stat', file: 'conntrack-stat.txt', kind: 'file', path: '/proc/net/stat/nf_conntrack', format: 'conntrack-stats', required: false, absentMeaning: 'absent (nf_conntrack not loaded: no connection tracking here)' },
  { name: 'conntrack-stats', file: 'conntrack-stats.txt', kind: 'command', argv: ['sh', '-c', CONNTRACK_STATS], format: 'conntrack-stats', required: false, permissionHint: NET_ADMIN_HINT },
  { name: 'docker-daemon', file: 'docker-daemon.json', kind: 'file', path: '/etc/docker/daemon.json', format: 'docker-daemon', required: false, absentMeaning: 'absent (Docker defaults apply if Docker is installed)' },
  { name: 'docker-networks', file: 'docker-networks.json', kind: 'docker-api', path: '/var/run/docker.sock', format: 'docker-network', required: false, absentMeaning: 'Docker not installed or not running' },
  { name: 'swanctl-conf', file: 'swanctl.conf', kind: 'file', path: '/etc/swanctl/swanctl.conf', format: 'swanctl-conf', required: false, absentMeaning: 'absent (no strongSwan swanctl configuration)' },
  { name: 'ipsec-conf', file: 'ipsec.conf', kind: 'file', path: '/etc/ipsec.conf', format: 'ipsec-conf', required: false, absentMeaning: 'absent (no strongSwan/libreswan ipsec.conf)' },
];

/**
 * Sources only other collectors' bundles have: calicoctl node diags keeps `ip -6 addr` apart
 * from `ip -4 addr`; the snapshot merges its interfaces' addresses into ip-addr's.
 */
export const BUNDLE_ONLY_SOURCES: SourceSpec[] = [
  { name: 'ip-addr-v6', file: 'ip-addr-v6.txt', kind: 'command', argv: ['ip', '-6', 'addr'], format: 'ip-addr', family: 6, required: false },
];

export function sourceByName(name: string): SourceSpec | undefined {
  return SOURCES.find((s) => s.name === name) ?? BUNDLE_ONLY_SOURCES.find((s) => s.name === name);
}
