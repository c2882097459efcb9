/**
 * Topologies used for lab-captured fixtures and collection tests (beside the incident topologies
 * of topologies.ts). `richHost()` packs one host with every kind of state hostcheck reads: policy
 * routing in several tables, every route type, iptables with a user chain, NAT and a comment, a
 * native nft table, xfrm policies, strict rp_filter and several link kinds.
 */
import type { Lab } from './lab.js';
import type { Topology } from './topology.js';

/** Addresses and names of the rich host, for assertions. */
export const RICH = {
  host: 'rich',
  eth0: '10.100.1.18/24',
  eth0v6: '2001:db8:100::18/64',
  gateway: '10.100.1.1',
  gatewayV6: '2001:db8:100::1',
  eth1: '10.16.0.10/16',
  eth1v6: '2001:db8:16::10/64',
  lanPeer: '10.16.0.20',
  lanPeerV6: '2001:db8:16::20',
  /** The peer the filter table drops. */
  droppedPeer: '10.16.0.20',
  dropRule: '-A INPUT -s 10.16.0.20/32 -m comment --comment "lan peer blocked" -j DROP',
  nftTable: 'hcnative',
  xfrmOut: 'src 10.16.0.0/16 dst 10.200.0.0/20 dir out tmpl src 10.100.1.18 dst 203.0.113.5 proto esp reqid 1 mode tunnel',
  xfrmFwd: 'src 10.200.0.0/20 dst 10.16.0.0/16 dir fwd tmpl src 203.0.113.5 dst 10.100.1.18 proto esp reqid 1 mode tunnel',
  xfrmIn: 'src 10.200.0.0/20 dst 10.16.0.0/16 dir in tmpl src 203.0.113.5 dst 10.100.1.18 proto esp reqid 1 mode tunnel',
  docker0: '172.17.0.1/16',
} as const;

const IPTABLES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:HC-ALLOW - [0:0]
${RICH.dropRule}
-A INPUT -i eth0 -j HC-ALLOW
-A HC-ALLOW -s 10.100.1.0/24 -p tcp -m tcp --dport 22 -j ACCEPT
-A HC-ALLOW -p icmp -j ACCEPT
-A HC-ALLOW -j RETURN
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
COMMIT
`;

const IP6TABLES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -s 2001:db8:16::20/128 -j DROP
COMMIT
`;

/** The native nft table, as the `nft -f` file loaded in the rich host. */
export const RICH_NFT_LINES = [
  `table inet ${RICH.nftTable} {`,
  '  chain input {',
  '    type filter hook input priority 10; policy accept;',
  '    ip saddr 10.9.9.9 drop',
  '  }',
  '}',
];

/**
 * One host `rich` with two NICs: eth0 to `gw` (the default route) and eth1 to `lan`. Only `rich`
 * carries the interesting state; `gw` and `lan` are plain peers.
 */
export function richHost(): Topology {
  return {
    hosts: {
      rich: {
        bridges: [{ name: 'docker0', addresses: [RICH.docker0] }],
        devices: [
          // The lab gives bridges and veths stable MACs; devices get theirs here (and so stable link-local addresses).
          { name: 'vx0', link: 'address 02:00:00:00:42:05 type vxlan id 42 dstport 4789 local 10.100.1.18 remote 10.100.1.1 dev eth0', addresses: ['10.42.0.1/24'] },
          { name: 'mv0', link: 'link eth1 address 02:00:00:00:42:06 type macvlan mode bridge', addresses: ['10.16.0.11/16'] },
          { name: 'tap0', tuntap: 'tap' },
        ],
        addresses: ['10.9.0.1/32 dev lo'],
        routes: [
          `default via ${RICH.gateway} dev eth0`,
          `default via ${RICH.gatewayV6} dev eth0 metric 1024`,
          '192.0.2.0/24 via 10.100.1.1 dev eth0 proto static metric 50 src 10.100.1.18',
          '10.200.0.0/20 via 10.100.1.1 dev eth0 table 100',
          'blackhole 10.66.0.0/16 table 100',
          'unreachable 10.67.0.0/16 table 100',
          'prohibit 10.68.0.0/16 table 100',
          'throw 10.69.0.0/16 table 100',
          'default via 10.16.0.20 dev eth1 table 200 metric 10',
          '10.50.0.0/16 table 200 proto static nexthop via 10.100.1.1 dev eth0 weight 1 nexthop via 10.16.0.20 dev eth1 weight 2',
          '2001:db8:200::/48 via 2001:db8:100::1 dev eth0 table 100 metric 1024',
          'unreachable 2001:db8:dead::/48',
          'blackhole 2001:db8:bad::/48 table 200',
          '2001:db8:300::/48 nexthop via 2001:db8:100::1 dev eth0 weight 1 nexthop via 2001:db8:16::20 dev eth1 weight 1',
        ],
        rules: [
          'from 10.16.0.0/16 lookup 100 pref 1000',
          'to 10.200.0.0/20 lookup 100 pref 1100',
          'iif eth1 lookup 200 pref 1200',
          'fwmark 0x10/0xff lookup 200 pref 1300',
          'not from 10.0.0.0/8 goto 1600 pref 1400',
          'nop pref 1500',
          'lookup main suppress_prefixlength 0 pref 1600',
          'uidrange 1000-2000 lookup 100 pref 1700',
          'ipproto tcp dport 443 lookup 200 pref 1800',
        ],
        sysctls: {
          // No duplicate address detection: link-local addresses are final at once (never `tentative`), so
          // two captures a second apart show the same addresses and local routes.
          'net.ipv6.conf.all.accept_dad': 0,
          'net.ipv6.conf.default.accept_dad': 0,
          'net.ipv4.conf.eth1.rp_filter': 1,
          'net.ipv4.conf.eth0.rp_filter': 2,
        },
        xfrmPolicies: [RICH.xfrmOut, RICH.xfrmFwd, RICH.xfrmIn],
        iptables: IPTABLES,
        ip6tables: IP6TABLES,
        // `ip -batch` lines cannot say -6, and IPv6 rules need it: they go in setup.
        setup: [
          'ip link set tap0 address 02:00:00:00:42:07',
          'ip -6 rule add from 2001:db8:16::/64 lookup 100 pref 1000',
          'ip -6 rule add to 2001:db8:200::/48 lookup 200 pref 1100',
          'ip -6 rule add fwmark 0x20/0xff lookup 200 pref 1300',
          'ip -6 rule add iif eth1 lookup main suppress_prefixlength 0 pref 1600',
          // Setup lines are single shell lines: printf writes the file's lines into `nft -f -`.
          `printf '%s\\n' ${RICH_NFT_LINES.map((l) => `'${l}'`).join(' ')} | nft -f -`,
        ],
      },
      gw: { routes: ['default via 10.100.1.18 dev eth0'] },
      lan: { routes: ['default via 10.16.0.10 dev eth0'] },
    },
    links: [
      { a: { host: 'rich', iface: 'eth0', addresses: [RICH.eth0, RICH.eth0v6] }, b: { host: 'gw', iface: 'eth0', addresses: ['10.100.1.1/24', '2001:db8:100::1/64'] } },
      { a: { host: 'rich', iface: 'eth1', addresses: [RICH.eth1, RICH.eth1v6] }, b: { host: 'lan', iface: 'eth0', addresses: ['10.16.0.20/16', '2001:db8:16::20/64'] } },
    ],
  };
}

/**
 * Waits until the IPv6 side of every host has settled after Lab.create: every interface that is up
 * with carrier has its link-local address, and no address is still `tentative`. Link-local
 * addresses (and their fe80::/64, ff00::/8 and local routes) arrive asynchronously, when a veth's
 * peer comes up and the kernel's link watcher runs; two collections made before that differ.
 */
export async function settleIpv6(lab: Lab, hosts: readonly string[] = lab.hosts, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const waiting = (await Promise.all(hosts.map((h) => unsettled(lab, h)))).flat();
    if (waiting.length === 0) return;
    if (Date.now() > deadline) throw new Error(`IPv6 not settled after ${timeoutMs} ms: ${waiting.join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function unsettled(lab: Lab, host: string): Promise<string[]> {
  const [links, addrs] = await Promise.all([
    lab.exec(host, ['ip', '-j', 'link', 'show'], { check: true }),
    lab.exec(host, ['ip', '-j', '-6', 'addr', 'show'], { check: true }),
  ]);
  type JLink = { ifname: string; flags: string[] };
  type JAddr = { ifname: string; addr_info: { local: string; scope: string; tentative?: boolean }[] };
  const withLinkLocal = new Set<string>();
  const out: string[] = [];
  for (const a of JSON.parse(addrs.stdout) as JAddr[]) {
    for (const i of a.addr_info) {
      if (i.tentative) out.push(`${host}/${a.ifname} ${i.local} tentative`);
      else if (i.scope === 'link') withLinkLocal.add(a.ifname);
    }
  }
  for (const l of JSON.parse(links.stdout) as JLink[]) {
    const live = l.flags.includes('UP') && l.flags.includes('LOWER_UP') && !l.flags.includes('LOOPBACK');
    if (live && !withLinkLocal.has(l.ifname)) out.push(`${host}/${l.ifname} has no link-local address yet`);
  }
  return out;
}
