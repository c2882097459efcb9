/**
 * `calicoctl node diags` (diags-DATE.tar.gz holding `diagnostics/`), read as a hostcheck bundle.
 * The layout, from calicoctl's node diags command (projectcalico/calico,
 * calicoctl/calicoctl/commands/node/diags.go): one file per command, stdout and stderr together —
 * `hostname`, `date`, `ipv4_route` (`ip -4 route`: the main table only), `ipv6_route`,
 * `ipv4_addr` (`ip -4 addr`), `ipv6_addr`, `ipv4_tables` (`iptables-save -c`), `ipv6_tables`,
 * `ipsets` (`ipset list`), `ipset_container`, netstat, the calico-node journal and logs/.
 * No policy rules, link details, sysctls, IPsec or Docker state: those sources are lacking.
 */
import type { Bundle } from './bundle.js';
import { ForeignBundleBuilder } from './bundle-foreign.js';
import type { BundleTree } from './bundle-tree.js';

/** Files of the diagnostics directory [file, source, argv, message]. */
const FILES: [string, string, string[], string?][] = [
  ['ipv4_route', 'ip-route-v4', ['ip', '-4', 'route'], 'the main table only (ip -4 route): no local or policy-routing tables'],
  ['ipv6_route', 'ip-route-v6', ['ip', '-6', 'route'], 'the main table only (ip -6 route)'],
  ['ipv4_addr', 'ip-addr', ['ip', '-4', 'addr'], 'IPv4 addresses without link details: interface kinds are guessed from names'],
  ['ipv6_addr', 'ip-addr-v6', ['ip', '-6', 'addr']],
  ['ipv4_tables', 'iptables-save', ['iptables-save', '-c']],
  ['ipv6_tables', 'ip6tables-save', ['ip6tables-save', '-c']],
  ['ipsets', 'ipset', ['ipset', 'list']],
];

/** What of a diags archive a reader keeps (paths below `diagnostics/`). */
export const CALICO_WANTED: RegExp[] = [/^(hostname|date|ipv[46]_(route|addr|tables)|ipsets|ipset_container)$/];

export function isCalicoDiags(tree: BundleTree): boolean {
  return tree.text('ipv4_route') !== undefined && tree.text('ipv4_tables') !== undefined && tree.text('hostname') !== undefined;
}

export function calicoDiagsBundle(tree: BundleTree): Bundle {
  const why: Record<string, string> = {
    'ip-rule-v4': 'calicoctl does not run `ip rule`; route lookups assume the kernel\'s default rules',
    'ip-rule-v6': 'calicoctl does not run `ip -6 rule`; route lookups assume the kernel\'s default rules',
  };
  const b = new ForeignBundleBuilder({ kind: 'calicoctl-node-diags' }, (s) => `not in calicoctl node diags: ${why[s] ?? 'calicoctl does not collect it'}`);
  for (const [file, source, argv, message] of FILES) {
    const text = tree.text(file);
    if (text !== undefined) b.collected(source, `diagnostics/${file}`, text, { argv, ...(message && { message }) });
  }
  // calicoctl also runs ipset in the calico/node container; it holds Calico's sets when the host has no ipset.
  const container = tree.text('ipset_container');
  if (container?.includes('Name:') && !tree.text('ipsets')?.includes('Name:')) b.collected('ipset', 'diagnostics/ipset_container', container, { argv: ['docker', 'run', 'calico/node', 'ipset', 'list'] });
  if (b.has('ip-addr')) b.collected('ip-link', 'diagnostics/ipv4_addr', undefined, { message: 'interfaces from ip -4 addr and ip -6 addr (no link details)' });
  const hostname = tree.text('hostname')?.trim().split('\n')[0] || 'calico-node';
  const date = tree.text('date')?.trim().split('\n')[0];
  return b.bundle({ hostname, name: hostname, startedAt: date || 'unknown' }, []);
}
