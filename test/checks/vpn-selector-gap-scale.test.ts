/**
 * vpn-selector-gap on a gateway that also routes a big table back out of its uplink: every one of
 * those networks is a source that would loop. The check used to compare every candidate with
 * every other (a 100,000-route gateway took 69 s) and listed them all in one finding; now the
 * candidates are merged and the finding names a handful, points at 0.0.0.0/0, and stays small.
 */
import { cpSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeSnapshot } from '../../src/checks/analyze.js';
import { readBundle } from '../../src/collect/bundle.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import { repoRoot } from '../helpers/samples.js';

const GATEWAY = join(repoRoot, 'fixtures', 'scenarios', 'second-incident', 'gateway');
const ROUTES = 30_000;

/** /24s from 32.0.0.0 up via the gateway's router, with every seventh a /23 and every 13th a host route. */
function bulk(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const base = 0x20000000 + i * 512;
    const a = `${base >>> 24}.${(base >>> 16) & 255}.${(base >>> 8) & 255}`;
    if (i % 13 === 0) lines.push(`${a}.1 via 10.100.1.253 dev eth0 proto static`);
    else if (i % 7 === 0) lines.push(`${a}.0/23 via 10.100.1.253 dev eth0 proto bgp metric 20`);
    else lines.push(`${a}.0/24 via 10.100.1.253 dev eth0 proto bgp metric 20`);
  }
  return `${lines.join('\n')}\n`;
}

describe('vpn-selector-gap with a big routing table on the gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hostcheck-gw-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`${ROUTES.toLocaleString('en')} routes back out eth0: one loop finding that names a few and points at 0.0.0.0/0`, async () => {
    cpSync(GATEWAY, dir, { recursive: true });
    const file = join(dir, 'ip-route-v4.txt');
    writeFileSync(file, readFileSync(file, 'utf8') + bulk(ROUTES));
    const snapshot = buildSnapshot(await readBundle(dir));
    expect(snapshot.routes.length).toBeGreaterThan(ROUTES);
    const { findings } = analyzeSnapshot(snapshot, { peers: [], remotes: [], ports: [], ignore: [] });
    const gaps = findings.filter((f) => f.check === 'vpn-selector-gap' && f.severity === 'error');
    expect(gaps).toHaveLength(1);
    const f = gaps[0];
    expect(f.summary).toMatch(/from 10\.64\.0\.0\/16, 32\.\S+, .* and \d+ more is not encrypted and goes back out eth0 via 10\.100\.1\.253/);
    expect(f.evidence.length).toBeLessThanOrEqual(12);
    expect(f.peers!.length).toBeLessThanOrEqual(65);
    expect(f.why.length).toBeLessThan(2000);
    expect(f.fix.length).toBeLessThanOrEqual(16);
    expect(f.fix.join('\n')).toMatch(/local subnet .* to 0\.0\.0\.0\/0 .*: \d+ source networks are uncovered/);
    expect(JSON.stringify(f).length).toBeLessThan(20_000);
  });
});
