/**
 * PostgreSQL commits a group of reports in a few statements (store-commit-postgres.ts): its host
 * rows, report rows, findings and triggers are worked out in memory and written at once. These
 * tests hold that path to the sequential one, on a real cluster this file starts
 * (test/helpers/postgres.ts): a seeded fleet history committed in groups of every size gives
 * the rows SQLite gives committing it report by report; a group committed again stores nothing
 * twice; two replicas inserting the same new findings meanwhile keep both sources; and through
 * the aggregator's commit queue, with the server killed and restarted under load, every
 * acknowledged report is stored once and no report is half stored.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.js';
import { emptyCredentials } from '../../src/aggregator/auth.js';
import { AggregatorMetrics } from '../../src/aggregator/metrics.js';
import type { CommitInput, Store } from '../../src/aggregator/store.js';
import { PostgresStore } from '../../src/aggregator/store-postgres.js';
import { SqliteStore } from '../../src/aggregator/store-sqlite.js';
import type { HostChange } from '../../src/model/changes.js';
import { findingKey, type Finding } from '../../src/model/finding.js';
import { postgresSuite } from '../helpers/postgres-suite.js';
import { hello, reportOf, tinySnapshot } from '../helpers/aggregator-client.js';

const pgs = postgresSuite();

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();

/** A small deterministic generator (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function finding(check: string, host: string, subject: string, extra: Partial<Finding> = {}): Finding {
  return { check, severity: 'error', host, subject, key: findingKey(check, host, subject), summary: `${check} on ${host}: ${subject}`, evidence: [], why: 'w', fix: [], ...extra };
}

const HOSTS = ['h0', 'h1', 'h2', 'h3', 'h4', 'h5'];

/**
 * A fleet history of `n` reports: hosts' own findings coming and going (some with a kernel
 * verdict), fleet findings pairing two hosts found and resolved (some on a key a host reports
 * too), change logs (added, and churn that folds), receive times that sometimes repeat, and
 * resends of a report already sent.
 */
function history(seed: number, n: number): CommitInput[] {
  const rnd = random(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const seqs = new Map<string, number>();
  const sent: CommitInput[] = [];
  let ms = 0;
  for (let k = 0; k < n; k++) {
    if (sent.length > 0 && rnd() < 0.08) {
      // A resend (the agent reconnected before its ack): the same report, received later.
      const again = pick(sent);
      if (!again.report.changes) {
        ms += 1;
        sent.push({ ...again, receivedAt: at(ms) });
        continue;
      }
    }
    if (rnd() < 0.7) ms += Math.floor(rnd() * 3000);
    const name = pick(HOSTS);
    const seq = (seqs.get(name) ?? 0) + 1;
    seqs.set(name, seq);
    const own = ['a', 'b', 'c'].filter(() => rnd() < 0.4).map((s) => finding('rp-filter-drop', name, `eth1 ${s}`, rnd() < 0.3 ? { kernel: { status: 'confirmed', evidence: [`k${seq}`] } } : {}));
    const peer = pick(HOSTS.filter((h) => h !== name));
    const pair = (host: string, other: string): Finding => ({ ...finding('route-captures-peer', host, `captures ${other}`, { summary: `fleet: ${host} captures ${other}` }), pairs: [[host, other]] } as Finding);
    const found = rnd() < 0.4 ? [pair(name, peer)] : [];
    const resolved = rnd() < 0.3 ? [pair(pick(HOSTS), peer)] : [];
    // The fleet also speaks of a key the host reports itself (the fleet's words over the host's).
    if (own.length && rnd() < 0.2) found.push({ ...own[0], summary: 'fleet words' });
    const changes: HostChange[] = [];
    if (rnd() < 0.3) changes.push({ at: at(ms - 500), count: 1, kind: 'address', action: 'added', subject: `docker0 172.17.${seq}.1/16`, owner: { type: 'docker', name: 'bridge', guess: true } });
    if (rnd() < 0.25) changes.push({ at: at(ms - 200), count: 2, kind: 'rule', action: 'rewritten', subject: 'rule 100: lookup 100', owner: { type: 'unknown' } });
    const report = { ...reportOf(seq, { ...tinySnapshot(name, `10.0.${seq % 250}.${HOSTS.indexOf(name) + 1}`), collectedAt: at(ms) }, own), sentAt: at(ms) };
    sent.push({
      hello: hello(name, 'x'.repeat(16), 'token', { machineId: `m-${name}` }), report: changes.length ? { ...report, changes } : report,
      bytes: 100 + seq, receivedAt: at(ms), fleetFound: found, fleetResolved: resolved,
    });
  }
  return sent;
}

/** Every row a store holds that a commit writes. */
async function rows(store: Store, end: string): Promise<unknown> {
  const reports: Record<string, unknown> = {};
  for (const h of HOSTS) reports[h] = await store.reports(h);
  const snapshots: Record<string, unknown> = {};
  for (const h of HOSTS) snapshots[h] = await store.snapshot(h);
  return { hosts: await store.hosts(), findings: await store.findings({}, end), reports, snapshots, changes: await store.changes.query({ limit: 100_000 }) };
}

async function pgStore(): Promise<PostgresStore> {
  return PostgresStore.open(await pgs.database('g'), { historyPerHost: 5 });
}

describe('a group commit on PostgreSQL', () => {
  it('gives, for groups of every size, the rows SQLite gives committing the same reports one by one', async () => {
    for (const seed of [1, 2, 3]) {
      const reports = history(seed, 220);
      const lite = new SqliteStore(join(pgs.tmp.dir, `ref${seed}.db`), { historyPerHost: 5 });
      for (const r of reports) await lite.commitReports([r]);
      const end = at(10_000_000);
      const want = await rows(lite, end);
      await lite.close();
      const store = await pgStore();
      try {
        const rnd = random(seed * 7);
        // Groups of 1 to 60 reports, as the commit queue forms them.
        for (let i = 0; i < reports.length;) {
          const size = 1 + Math.floor(rnd() * rnd() * 60);
          await store.commitReports(reports.slice(i, i + size));
          i += size;
        }
        const got = await rows(store, end);
        expect(got).toEqual(want);
        // The history exercised what it should: triggers named, findings resolved and reopened, churn folded.
        const findings = (want as { findings: { finding: Finding; state: string }[] }).findings;
        expect(findings.some((f) => f.finding.trigger)).toBe(true);
        expect(findings.some((f) => f.state === 'resolved')).toBe(true);
        expect((want as { changes: { count: number }[] }).changes.some((c) => c.count > 2)).toBe(true);
      } finally {
        await store.close();
      }
    }
  }, 120_000);

  it('stores nothing twice when a group is committed again (its commit answer lost, its reports sent again)', async () => {
    const reports = history(5, 60);
    // Within the hosts' report history (100 reports each by default) a report is known as stored.
    const store = await PostgresStore.open(await pgs.database('g'));
    try {
      await store.commitReports(reports);
      const once = await rows(store, at(10_000_000));
      await store.commitReports(reports);
      expect(await rows(store, at(10_000_000))).toEqual(once);
    } finally {
      await store.close();
    }
  }, 60_000);

  it('two replicas committing groups that open the same new findings at once keep one row per key with both sources', async () => {
    const url = await pgs.database('g');
    const [a, b] = await Promise.all([PostgresStore.open(url), PostgresStore.open(url)]);
    try {
      for (let round = 0; round < 15; round++) {
        // New hosts each round: a host's next report without the finding would drop its source.
        const shared = [0, 1, 2, 3].map((k) => finding('rp-filter-drop', `gw${round}-${k}`, 's'));
        // Replica a: the hosts' own reports; replica b: the fleet finds the same keys, in one group each.
        const own = shared.map((f, k) => ({ hello: hello(`gw${round}-${k}`, 'x'.repeat(16)), report: { ...reportOf(1, tinySnapshot(`gw${round}-${k}`, `10.1.${k}.1`), [f]), sentAt: at(round) }, bytes: 1, receivedAt: at(round), fleetFound: [], fleetResolved: [] }));
        const fleet = shared.map((f, k) => ({ hello: hello(`peer${k}`, 'x'.repeat(16)), report: { ...reportOf(round + 1, tinySnapshot(`peer${k}`, `10.2.${k}.1`)), sentAt: at(round) }, bytes: 1, receivedAt: at(round), fleetFound: [{ ...f, summary: 'fleet' }], fleetResolved: [] }));
        await Promise.all([a.commitReports(own), b.commitReports(fleet.reverse())]);
      }
      const all = await a.findings();
      expect(all).toHaveLength(60);
      for (const s of all) expect(s.sources).toEqual(['host', 'fleet']);
      for (const s of all) expect(s.finding.summary).toBe('fleet');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 60_000);
});

describe('a replica reading the stored snapshots ahead', () => {
  it('yields every host in name order over several pages, and a page that fails while the caller is busy fails the iteration, not the process', async () => {
    const store = await pgStore();
    try {
      const names = Array.from({ length: 1201 }, (_, i) => `s${String(i).padStart(5, '0')}`);
      await store.commitReports(names.map((n, i) => ({ hello: hello(n, 'x'.repeat(16)), report: reportOf(1, tinySnapshot(n, `10.4.${i >> 8}.${i & 255}`)), bytes: 1, receivedAt: at(0), fleetFound: [], fleetResolved: [] })));
      const seen: string[] = [];
      for await (const s of store.snapshots()) seen.push(s.name);
      expect(seen).toEqual(names);
      // The database goes away while the caller works on the first page: the page read ahead fails meanwhile.
      const it = store.snapshots()[Symbol.asyncIterator]();
      expect((await it.next()).value.name).toBe(names[0]);
      await pgs.cluster.stopServer('immediate');
      await new Promise((r) => setTimeout(r, 300));
      let failed: unknown;
      try {
        for (let r = await it.next(); !r.done; r = await it.next());
      } catch (err) {
        failed = err;
      }
      expect(failed).toBeInstanceOf(Error);
    } finally {
      await pgs.cluster.startServer();
      await store.close();
    }
  }, 60_000);
});

describe('the aggregator on PostgreSQL, group commits under load', () => {
  it('acknowledges only stored reports: the server killed mid-stream and started again, every acked report is stored once, none half, none past a failed one, and the resends complete it', async () => {
    const store = await PostgresStore.open(await pgs.database('g'));
    const agg = new Aggregator({ store, credentials: emptyCredentials(), metrics: new AggregatorMetrics() });
    const hosts = Array.from({ length: 20 }, (_, i) => `a${i}`);
    const acked = new Set<string>();
    const failed = new Set<string>();
    const input = (name: string, seq: number) => ({
      hello: hello(name, 'x'.repeat(16)),
      report: {
        ...reportOf(seq, tinySnapshot(name, `10.3.${hosts.indexOf(name)}.${(seq % 200) + 1}`)),
        // One change per report: a report stored twice, or half, shows in the change log.
        changes: [{ at: new Date().toISOString(), count: 1, kind: 'address', action: 'added', subject: `eth0 report ${seq}`, owner: { type: 'unknown' } }] as HostChange[],
      },
    });
    const submit = (name: string, seq: number): Promise<void> => new Promise((resolve) => {
      const { hello: h, report } = input(name, seq);
      const key = `${name}#${seq}`;
      agg.submit(h, report, 100, (err) => {
        if (err) failed.add(key); else acked.add(key);
        resolve();
      }).catch(() => {
        failed.add(key);
        resolve();
      });
    });
    try {
      const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
      const round = async (from: number, to: number, during?: () => Promise<void>): Promise<void> => {
        const sends: Promise<void>[] = [];
        let also: Promise<void> | undefined;
        for (let seq = from; seq <= to; seq++) {
          for (const h of hosts) sends.push(submit(h, seq));
          if (seq === from + 1 && during) also = during();
          await pause(2);
        }
        await also;
        await Promise.all(sends);
        await agg.flushReports();
      };
      // Up: every report stored and acknowledged.
      await round(1, 10);
      expect(acked.size).toBe(200);
      // The server is killed while reports are in flight (some in a commit, some before the queue).
      await round(11, 15, () => pgs.cluster.stopServer('immediate'));
      await pgs.cluster.startServer();
      // Back before the agents reconnect: a host's reports after one that failed are not committed past it.
      await round(16, 20);
      expect(acked.size + failed.size).toBe(400);
      // The killed commits failed some reports: they were not acknowledged.
      expect(failed.size).toBeGreaterThan(0);
      const stored = async (): Promise<{ reports: Set<string>; changes: Map<string, number> }> => {
        const reports = new Set<string>();
        const changes = new Map<string, number>();
        for (const h of hosts) {
          for (const r of await store.reports(h)) reports.add(`${h}#${r.seq}`);
          for (const c of await store.changes.query({ hosts: [h], limit: 100_000 })) {
            const k = `${h}#${c.subject.split(' ').pop()}`;
            changes.set(k, (changes.get(k) ?? 0) + 1);
          }
        }
        return { reports, changes };
      };
      const first = await stored();
      for (const k of acked) expect(first.reports.has(k), `acked ${k} is stored`).toBe(true);
      // All of a report or none of it: its report row and its change together, once.
      for (const k of first.reports) expect(first.changes.get(k), `${k}'s change`).toBe(1);
      for (const k of first.changes.keys()) expect(first.reports.has(k), `${k} has a report row`).toBe(true);
      // No gap: a host's reports after one that failed were not committed past it.
      for (const h of hosts) {
        const seqs = [...first.reports].filter((k) => k.startsWith(`${h}#`)).map((k) => Number(k.split('#')[1])).sort((x, y) => x - y);
        expect(seqs, `${h}'s stored reports`).toEqual(seqs.map((_, i) => i + 1));
      }
      // The agents reconnect (a welcome each) and send what was not acknowledged again.
      for (const h of hosts) await agg.welcomeSeq(h);
      const again = [...failed].map((k) => k.split('#')).map(([h, s]) => submit(h, Number(s)));
      failed.clear();
      await Promise.all(again);
      expect(failed.size).toBe(0);
      const after = await stored();
      expect(after.reports.size).toBe(400);
      for (const k of after.reports) expect(after.changes.get(k), `${k}'s change after the resends`).toBe(1);
    } finally {
      await agg.flushReports().catch(() => undefined);
      await store.close();
    }
  }, 120_000);
});
