/** The aggregator keeps what agents' kernels said: a finding's kernel verdict (also under a fleet body) and the host's last counter window. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.js';
import { emptyCredentials } from '../../src/aggregator/auth.js';
import { AggregatorMetrics } from '../../src/aggregator/metrics.js';
import { SqliteStore } from '../../src/aggregator/store-sqlite.js';
import { findingKey, type Finding } from '../../src/model/finding.js';
import type { KernelWindow } from '../../src/model/kernel.js';
import { hello, reportOf, tempDir, tinySnapshot } from '../helpers/aggregator-client.js';

describe('the kernel in the aggregator', () => {
  it('stores a finding with its kernel verdict, keeps the verdict under the fleet\'s body, and serves the last window', async () => {
    const tmp = tempDir();
    const store = new SqliteStore(join(tmp.dir, 'k.db'));
    try {
      const agg = new Aggregator({ store, credentials: emptyCredentials(), metrics: new AggregatorMetrics() });
      const subject = 'eth1 10.9.0.5';
      const f: Finding = {
        check: 'rp-filter-drop', severity: 'error', host: 'h1', subject, key: findingKey('rp-filter-drop', 'h1', subject), summary: 's', evidence: [], why: 'w', fix: [],
        queries: [{ query: { dst: '10.2.0.10', src: '10.9.0.5', iif: 'eth1' }, expect: { kind: 'error', error: 'Invalid argument' } }],
        signals: [{ kind: 'counter', name: 'TcpExtIPReversePathFilter' }],
        kernel: { status: 'confirmed', evidence: ['TcpExtIPReversePathFilter +4 in 300 s'] },
      };
      const window: KernelWindow = { seconds: 300, counters: [{ name: 'TcpExtIPReversePathFilter', delta: 4 }], missing: [] };
      await agg.report(hello('h1', 'x'.repeat(16)), { ...reportOf(1, tinySnapshot('h1', '10.2.0.10'), [f]), kernel: window }, 10);
      const stored = (await store.findings({ host: 'h1' })).find((s) => s.finding.key === f.key)!.finding;
      expect(stored.kernel).toEqual(f.kernel);
      expect(stored.queries).toEqual(f.queries);
      expect(agg.kernelWindow('h1')?.window).toEqual(window);
      // The same key from the fleet (which asks no kernel): its text wins, the host's verdict stays.
      await store.commitFleet([{ ...f, summary: 'fleet text', kernel: undefined, queries: undefined, signals: undefined }], [], new Date().toISOString());
      const merged = (await store.findings({ host: 'h1' })).find((s) => s.finding.key === f.key)!.finding;
      expect(merged.summary).toBe('fleet text');
      expect(merged.kernel).toEqual(f.kernel);
    } finally {
      await store.close();
      tmp.remove();
    }
  });
});
