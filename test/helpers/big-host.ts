/**
 * A big host for the section and aggregator tests: the rich scenario's bundle plus 1,000 routes,
 * about 2,000 kube-proxy rules with counters, nft's view (iptables-nft's filter table with a
 * native set lookup, and a native table of 300 counting rules) and a 300-member ipset.
 */
import { join } from 'node:path';
import { readBundle, type Bundle } from '../../src/collect/bundle.js';
import { kubeProxyDump } from './kube-proxy-dump.js';
import { repoRoot } from './samples.js';

const rich = join(repoRoot, 'fixtures', 'scenarios', 'rich', 'rich');

const saddr = (right: unknown) => ({ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right } });

/** nft -j: iptables-nft's filter table (rule 2 looks @blocked up) and a native table of 300 counting rules. */
function nftJson(packets: number): string {
  const counter = { counter: { packets, bytes: packets * 60 } };
  return JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.6', json_schema_version: 1 } },
    { table: { family: 'ip', name: 'filter', handle: 1 } },
    { chain: { family: 'ip', table: 'filter', name: 'INPUT', handle: 1, type: 'filter', hook: 'input', prio: 0, policy: 'accept' } },
    { rule: { family: 'ip', table: 'filter', chain: 'INPUT', handle: 10, expr: [saddr({ prefix: { addr: '10.1.0.0', len: 16 } }), { accept: null }] } },
    { rule: { family: 'ip', table: 'filter', chain: 'INPUT', handle: 11, expr: [saddr('@blocked'), { drop: null }] } },
    { table: { family: 'inet', name: 'fw', handle: 2 } },
    { chain: { family: 'inet', table: 'fw', name: 'in', handle: 1, type: 'filter', hook: 'input', prio: 10, policy: 'accept' } },
    ...Array.from({ length: 300 }, (_, k) => ({ rule: { family: 'inet', table: 'fw', chain: 'in', handle: 100 + k, expr: [saddr(`10.50.${k >> 8}.${k & 255}`), counter, { accept: null }] } })),
  ] });
}

/** A big host: the rich scenario plus 1,000 routes, ~2,000 kube-proxy rules, an nft view and a 300-member ipset. */
export async function bigBundle(opts: { counters?: number; extraRule?: string } = {}): Promise<Bundle> {
  const bundle = await readBundle(rich);
  const c = opts.counters ?? 0;
  const routes = Array.from({ length: 1000 }, (_, i) => `10.${100 + (i >> 8)}.${i & 255}.0/24 via 172.31.15.253 dev eth0 proto static`).join('\n');
  bundle.files.set('ip-route-v4', `${bundle.files.get('ip-route-v4')}${routes}\n`);
  // iptables-save stamps each dump with the time it ran.
  const at = `Mon Jan  1 00:${String(Math.floor(c / 60) % 60).padStart(2, '0')}:${String(c % 60).padStart(2, '0')} 2024`;
  const filter = ['*filter', `:INPUT ACCEPT [${c}:${c * 60}]`, ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
    `[${c}:${c * 60}] -A INPUT -s 10.1.0.0/16 -j ACCEPT`, `[${c}:0] -A INPUT -j DROP`, ...(opts.extraRule ? [opts.extraRule] : []), 'COMMIT', `# Completed on ${at}`, ''].join('\n');
  const kube = kubeProxyDump(2000).text.replace(/^-A /gm, `[${c}:${c}] -A `).replace(/ on Mon Jan {2}1 00:00:00 2024$/m, ` on ${at}`);
  bundle.files.set('iptables-save', `${kube}${filter}`);
  bundle.files.set('nft', nftJson(c));
  bundle.files.set('ipset', ['create allowed hash:ip family inet hashsize 1024 maxelem 65536', ...Array.from({ length: 300 }, (_, k) => `add allowed 10.60.${k >> 8}.${k & 255}`), ''].join('\n'));
  bundle.meta.startedAt = new Date(Date.UTC(2030, 0, 1, 0, 0, c)).toISOString();
  for (const s of bundle.meta.sources) s.durationMs = c;
  return bundle;
}

