/**
 * hostcheck-capture.sh (the no-Node collector for old hosts) against the TypeScript collector,
 * inside the same lab namespace: every source file byte for byte, and meta.json field by field.
 * Volatile, and normalised before the comparison: iptables-save's "# Generated/Completed … on
 * DATE" comments and its [packets:bytes] counters (the kernel bumps them between the two runs),
 * a bridge's running timers (gc_timer, hello_timer…) in `ip -d link/addr` text and JSON, nft's
 * rule counters (packets and bytes), a neighbour entry's state (REACHABLE turns STALE with time) and
 * conntrack's count and counters (the table's entries column, nf_conntrack_count, conntrack -S).
 * Needs a build (`npm run build`): bin/hostcheck runs build/.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { BundleMeta, SourceMeta } from '../../src/collect/bundle.js';
import { SOURCES } from '../../src/collect/sources.js';
import { RICH, richHost, settleIpv6 } from './fixture-topologies.js';
import { repoRoot } from './lab.js';
import { describeLab, useLab } from './suite.js';

const SCRIPT = join(repoRoot, 'hostcheck-capture.sh');
/** Sources whose text holds counters, timers or the time of the dump. */
const IPTABLES = new Set(['iptables-save.txt', 'ip6tables-save.txt', 'iptables-legacy-save.txt', 'ip6tables-legacy-save.txt']);
/** Connection tracking's figures: the table's count and the per-CPU counters move between the two runs. */
const CONNTRACK = new Set(['conntrack-sysctl.txt', 'conntrack-stat.txt', 'conntrack-stats.txt']);
const IP_DETAILS = new Set(['ip-addr.txt', 'ip-addr.json', 'ip-link.txt', 'ip-link.json']);
/** meta.json fields that differ by nature: when, how long, and the command line each was given. */
const TIMES = new Set(['startedAt', 'durationMs', 'argv']);

function stableText(file: string, text: string): string {
  if (file === 'nft.json') return text.replace(/("(?:packets|bytes)":\s*)\d+/g, (_, key: string) => `${key}0`);
  if (file === 'ip-neigh.txt') return text.replace(/\b(REACHABLE|STALE|DELAY|PROBE)\b/g, 'STATE');
  if (IP_DETAILS.has(file)) return text.replace(/("?(?:hello|tcn|topology_change|gc)_timer"?:?\s*)[\d.]+/g, '$1T');
  if (CONNTRACK.has(file)) return text.replace(/(nf_conntrack_count = )\d+/, '$1N').replace(/\b[0-9a-f]{8}\b/g, 'N').replace(/=\d+/g, '=N');
  if (!IPTABLES.has(file)) return text;
  return text
    .replace(/^# (Generated|Completed)( by \S+ v[\d.]+(?: \(\w+\))?)? on .*$/gm, '# $1$2 on DATE')
    .replace(/\[\d+:\d+\]/g, '[0:0]');
}

const withoutTimes = (s: SourceMeta): Omit<SourceMeta, 'durationMs'> => {
  const { durationMs, ...rest } = s;
  expect(durationMs).toBeGreaterThanOrEqual(0);
  return rest;
};

describeLab('hostcheck-capture.sh writes the bundle hostcheck capture writes', () => {
  const lab = useLab(richHost());
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hc-capture-sh-'));
    await settleIpv6(lab());
    const [script, ts] = await Promise.all([
      lab().exec(RICH.host, ['sh', SCRIPT, '--out', join(dir, 'sh'), '--name', RICH.host]),
      lab().hostcheck(RICH.host, ['capture', '--out', join(dir, 'ts'), '--name', RICH.host]),
    ]);
    expect(script.exitCode, script.stderr).toBe(0);
    expect(ts.exitCode, ts.stderr).toBe(0);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes the same files, each identical (volatile lines normalised)', async () => {
    const [shFiles, tsFiles] = await Promise.all([readdir(join(dir, 'sh')), readdir(join(dir, 'ts'))]);
    expect(shFiles.sort()).toEqual(tsFiles.sort());
    // The rich host has iptables, nft, xfrm policies, sysctls: most sources are really there.
    expect(shFiles.length).toBeGreaterThanOrEqual(16);
    for (const file of shFiles.filter((f) => f !== 'meta.json')) {
      const [a, b] = await Promise.all([readFile(join(dir, 'sh', file), 'utf8'), readFile(join(dir, 'ts', file), 'utf8')]);
      expect(stableText(file, a), file).toBe(stableText(file, b));
    }
  });

  it('writes meta.json with the same fields and values, except times and argv', async () => {
    const [sh, ts] = await Promise.all(['sh', 'ts'].map(async (d) => JSON.parse(await readFile(join(dir, d, 'meta.json'), 'utf8')) as BundleMeta));
    const strip = (m: BundleMeta) => Object.fromEntries(Object.entries({ ...m, sources: m.sources.map(withoutTimes) }).filter(([k]) => !TIMES.has(k)));
    expect(strip(sh)).toEqual(strip(ts));
    expect(sh.sources.map((s) => s.name)).toEqual(SOURCES.map((s) => s.name));
    expect(sh.argv).toEqual(['--out', join(dir, 'sh'), '--name', RICH.host]);
    expect(Date.parse(sh.startedAt)).toBeGreaterThan(Date.parse('2024-01-01'));
  });

  it('states the version of hostcheck it matches', async () => {
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect((await readFile(SCRIPT, 'utf8')).match(/^VERSION=(\S+)/m)?.[1]).toBe(pkg.version);
  });

  it('records what it could not read, as the TypeScript collector does (no CAP_NET_ADMIN)', async () => {
    const out = join(dir, 'nobody');
    const ts = join(dir, 'nobody-ts');
    const drop = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];
    const { chmod } = await import('node:fs/promises');
    await chmod(dir, 0o777);
    const [a, b] = await Promise.all([
      lab().exec(RICH.host, [...drop, 'sh', SCRIPT, '--out', out]),
      lab().exec(RICH.host, [...drop, process.execPath, join(repoRoot, 'bin', 'hostcheck'), 'capture', '--out', ts]),
    ]);
    expect(a.exitCode, a.stderr).toBe(0);
    expect([0, 3]).toContain(b.exitCode);
    const [shMeta, tsMeta] = await Promise.all([out, ts].map(async (d) => JSON.parse(await readFile(join(d, 'meta.json'), 'utf8')) as BundleMeta));
    const failed = (m: BundleMeta) => m.sources.filter((s) => s.status !== 'collected').map(({ name, status, message, exitCode }) => ({ name, status, message, exitCode }));
    expect(failed(shMeta)).toEqual(failed(tsMeta));
    expect(failed(shMeta).map((s) => s.name)).toContain('iptables-save');
  });
});
