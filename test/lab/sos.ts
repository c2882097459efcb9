/**
 * Debian's `sos report` (sos 4.0) run inside a lab host, quickly and offline: only the networking
 * plugin, only this lab's namespaces (`namespace_pattern`), no ethtool per namespace, the archive
 * in a private temporary directory. sos reads.
 *
 * `allowSystemChanges`: this kernel has no loadable modules (no /proc/modules, `lsmod` fails), so
 * sos 4.0's module predicates find nf_tables and iptable_filter "missing" and skip `iptables
 * -vnxL`, `ip6tables -vnxL` and `nft list ruleset`, which run on any host with those modules
 * loaded. `--allow-system-changes` makes sos skip that test; the change it guards against (a
 * module load) cannot happen on a kernel without module support. `namespaces: false` records no
 * namespace, so the stack sos ran in is read from its own outputs only.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from './lab.js';

export interface SosRun {
  /** The sosreport-*.tar.xz sos wrote. */
  archive: string;
  /** The private directory holding it (the caller removes it). */
  dir: string;
  durationMs: number;
}

export async function sosReport(lab: Lab, host: string, plugins: string[] = ['networking'], opts: { allowSystemChanges?: boolean; namespaces?: boolean } = {}): Promise<SosRun> {
  const dir = mkdtempSync(join(tmpdir(), 'hc-sos-'));
  const started = performance.now();
  const r = await lab.exec(host, [
    'sos', 'report', '--batch', '--quiet', '--tmp-dir', dir, '-z', 'xz', '--no-env-vars',
    '--only-plugins', plugins.join(','),
    ...(opts.allowSystemChanges ? ['--allow-system-changes'] : []),
    '-k', `networking.namespace_pattern=${opts.namespaces === false ? `${lab.prefix}none-recorded` : `${lab.prefix}*`}`,
    '-k', 'networking.ethtool_namespaces=off',
  ], { timeoutMs: 120_000 });
  const durationMs = Math.round(performance.now() - started);
  const archive = readdirSync(dir).find((f) => /^sosreport-.*\.tar\.xz$/.test(f));
  if (r.exitCode !== 0 || !archive) throw new Error(`sos report in ${host} exited ${r.exitCode}: ${r.stderr || r.stdout}`);
  return { archive: join(dir, archive), dir, durationMs };
}
