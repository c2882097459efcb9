/**
 * How a replica follows another's reports (Aggregator.follow, PostgresStore.readBack), in process
 * on a real PostgreSQL cluster this file starts: the read-back brings a snapshot only when its
 * digest is not the one the follower indexed (a periodic report of an unchanged host is not
 * parsed again), and the newest report's number only when someone watches the events; the
 * follower's events are the origin's.
 */
import { describe, expect, it } from 'vitest';
import { Aggregator, type FleetEvent } from '../../src/aggregator/aggregator.js';
import { emptyCredentials } from '../../src/aggregator/auth.js';
import { AggregatorMetrics } from '../../src/aggregator/metrics.js';
import { PostgresStore } from '../../src/aggregator/store-postgres.js';
import { RouteList } from '../../src/model/route-list.js';
import { postgresSuite } from '../helpers/postgres-suite.js';
import { hello, reportOf, scenarioSnapshot, tinySnapshot } from '../helpers/aggregator-client.js';

const pgs = postgresSuite();

async function until<T>(what: string, f: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function replicaPair(): Promise<{ a: Aggregator; b: Aggregator; stores: PostgresStore[]; close(): Promise<void> }> {
  const url = await pgs.database('follow');
  const stores = [await PostgresStore.open(url), await PostgresStore.open(url)];
  const [a, b] = stores.map((store) => new Aggregator({ store, credentials: emptyCredentials(), metrics: new AggregatorMetrics() }));
  await a.follow();
  await b.follow();
  return {
    a, b, stores,
    async close() {
      for (const agg of [a, b]) await agg.unfollowReplicas();
      for (const s of stores) await s.close();
    },
  };
}

describe('a replica following another', () => {
  it('reads a snapshot back only when its digest changed; an unchanged host is not parsed again; its events are the same as on the origin', async () => {
    const { a, b, close } = await replicaPair();
    try {
      const events: FleetEvent[] = [];
      const origin: FleetEvent[] = [];
      b.events.on('change', (e: FleetEvent) => events.push(e));
      a.events.on('change', (e: FleetEvent) => origin.push(e));
      const ecs1 = await scenarioSnapshot('first-incident', 'ecs1');
      const ecs3 = await scenarioSnapshot('first-incident', 'ecs3');
      await a.report(hello('ecs1', 'x'.repeat(16)), reportOf(1, ecs1), 100);
      await a.report(hello('ecs3', 'x'.repeat(16)), reportOf(1, ecs3), 100);
      // b indexes both and finds ecs3's docker0 capturing ecs1, as a did.
      await until('the capture on b', () => b.fleetFindings().some((f) => f.check === 'route-captures-peer'));
      expect(b.fleetFindings().map((f) => f.key)).toEqual(a.fleetFindings().map((f) => f.key));
      const indexed = b.index.snapshot('ecs3');
      await until('the report event of ecs3 on b', () => events.some((e) => e.type === 'report' && e.host === 'ecs3'));
      // The same snapshot again (its agent's periodic report): b keeps the object it indexed; its event is a's (the capture confirmed).
      await a.report(hello('ecs3', 'x'.repeat(16)), reportOf(2, ecs3), 100);
      const event = await until('the event of ecs3 report 2 on b', () => events.find((e) => e.type === 'report' && e.host === 'ecs3' && e.seq === 2));
      expect(event).toEqual({ type: 'report', host: 'ecs3', seq: 2, findings: 0, found: [expect.stringContaining('route-captures-peer')], resolved: [] });
      expect(event).toEqual(origin.find((e) => e.type === 'report' && e.host === 'ecs3' && e.seq === 2));
      expect(b.index.snapshot('ecs3')).toBe(indexed);
      // Without docker0 (a new digest): read back, matched, the capture resolved on b too.
      const without = { ...ecs3, interfaces: ecs3.interfaces.filter((i) => i.name !== 'docker0'), routes: RouteList.fromRecords(ecs3.routes.filter((r) => r.dev !== 'docker0')) };
      await a.report(hello('ecs3', 'x'.repeat(16)), reportOf(3, without), 100);
      const resolved = await until('the event of ecs3 report 3 on b', () => events.find((e) => e.type === 'report' && e.host === 'ecs3' && e.seq === 3));
      expect(resolved).toMatchObject({ type: 'report', resolved: [expect.stringContaining('route-captures-peer')] });
      expect(resolved).toEqual(origin.find((e) => e.type === 'report' && e.host === 'ecs3' && e.seq === 3));
      expect(b.index.snapshot('ecs3')).not.toBe(indexed);
      expect(b.fleetFindings()).toEqual([]);
    } finally {
      await close();
    }
  }, 60_000);

  it('readBack: the snapshot text only for a digest the reader does not hold, the newest report only when asked, unknown hosts left out', async () => {
    const { a, stores, close } = await replicaPair();
    try {
      const snap = tinySnapshot('h1', '10.9.0.1');
      const first = reportOf(1, snap);
      await a.report(hello('h1', 'x'.repeat(16)), first, 100);
      await a.report(hello('h1', 'x'.repeat(16)), reportOf(2, snap, []), 100);
      const store = stores[1];
      const [fresh] = await store.readBack(['h1', 'nobody'], new Map(), false);
      expect(fresh).toMatchObject({ name: 'h1', digest: first.digest, sections: {} });
      expect(JSON.parse(fresh.text!)).toMatchObject({ identity: { name: 'h1' } });
      expect(fresh.latest).toBeUndefined();
      const known = await store.readBack(['h1', 'h1'], new Map([['h1', first.digest]]), true);
      expect(known).toEqual([{ name: 'h1', digest: first.digest, text: null, sections: {}, latest: { seq: 2, findings: 0 } }]);
      const other = await store.readBack(['h1'], new Map([['h1', 'f'.repeat(64)]]), false);
      expect(other[0].text).toBe(fresh.text);
    } finally {
      await close();
    }
  }, 60_000);
});
