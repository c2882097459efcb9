/**
 * One contract for both stores: the same cases run against a SQLite file and a database in a
 * real PostgreSQL cluster this file starts (test/helpers/postgres.ts) and removes. A scripted
 * fleet history written to both gives the same rows. On PostgreSQL also: replicas that start
 * together migrate once, two replicas merging one finding keep both sources, a commit notifies
 * the hosts it changed, and a store rides out a server restart.
 */
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { HostChange } from '../../src/model/changes.js';
import { findingKey, type Finding } from '../../src/model/finding.js';
import type { CommitInput, Store } from '../../src/aggregator/store.js';
import { MIGRATIONS, PG_MIGRATIONS } from '../../src/aggregator/store-migrations.js';
import { CHANGES_CHANNEL, PostgresStore } from '../../src/aggregator/store-postgres.js';
import { SqliteStore } from '../../src/aggregator/store-sqlite.js';
import { postgresSuite } from '../helpers/postgres-suite.js';
import { hello, reportOf, tinySnapshot } from '../helpers/aggregator-client.js';

const pgs = postgresSuite();
let dbs = 0;

interface Kind {
  name: 'sqlite' | 'postgres';
  open(options?: { historyPerHost?: number }): Promise<{ store: Store; reopen(): Promise<Store> }>;
}

const KINDS: Kind[] = [
  {
    name: 'sqlite',
    async open(options) {
      const file = join(pgs.tmp.dir, `s${++dbs}.db`);
      return { store: new SqliteStore(file, options), reopen: async () => new SqliteStore(file, options) };
    },
  },
  {
    name: 'postgres',
    async open(options) {
      const url = await pgs.database('c');
      return { store: await PostgresStore.open(url, options), reopen: () => PostgresStore.open(url, options) };
    },
  },
];

const T0 = '2030-01-01T00:00:00.000Z';
const at = (s: number): string => new Date(Date.parse(T0) + s * 1000).toISOString();

function finding(check: string, host: string, subject: string, extra: Partial<Finding> = {}): Finding {
  return { check, severity: 'error', host, subject, key: findingKey(check, host, subject), summary: `${check} on ${host}`, evidence: [], why: 'w', fix: [], ...extra };
}

function input(name: string, seq: number, s: number, findings: Finding[] = [], fleet: { found?: Finding[]; resolved?: Finding[] } = {}, address = `10.0.${seq % 250}.1`): CommitInput {
  return {
    hello: hello(name, 'x'.repeat(16), 'token', { machineId: `m-${name}` }), report: { ...reportOf(seq, { ...tinySnapshot(name, address), collectedAt: at(s) }, findings), sentAt: at(s) },
    bytes: 100 + seq, receivedAt: at(s), fleetFound: fleet.found ?? [], fleetResolved: fleet.resolved ?? [],
  };
}

/** A change the agent saw at `s` (its clock runs with the server's here). */
function change(s: number, kind: HostChange['kind'], action: HostChange['action'], subject: string, extra: Partial<HostChange> = {}): HostChange {
  return { at: at(s), count: 1, kind, action, subject, owner: { type: 'unknown' }, ...extra };
}

/** `i` carrying a change log (protocol 3). */
function withChanges(i: CommitInput, changes: HostChange[]): CommitInput {
  return { ...i, report: { ...i.report, changes } };
}

/**
 * What a replica of the previous version (93dae31, store steps 1-3, which knows no trigger
 * columns) does to a host finding: its exact statements for a reopen (upsertFinding) and a
 * resolve (dropSource, the host's source gone). test/aggregator/upgrade-roll.test.ts runs that
 * version itself (HOSTCHECK_TEST_UPGRADE=1).
 */
async function previousVersion(store: Store, what: 'reopen' | 'resolve', key: string, now: string): Promise<void> {
  if (store instanceof SqliteStore) {
    const body = (store.db.prepare('SELECT body FROM findings WHERE key = ?').get(key) as { body: string }).body;
    if (what === 'reopen') {
      store.db.prepare(`UPDATE findings SET severity = @severity, body = @body, last_seen = @now,
        from_host = max(from_host, @fromHost), from_fleet = max(from_fleet, @fromFleet),
        first_seen = CASE WHEN resolved_at IS NULL THEN first_seen ELSE @now END, resolved_at = NULL WHERE key = @key`).run({ key, severity: 'error', body, now, fromHost: 1, fromFleet: 0 });
    } else {
      store.db.prepare(`UPDATE findings SET from_host = from_host * @keepHost, from_fleet = from_fleet * @keepFleet,
        resolved_at = CASE WHEN from_host * @keepHost + from_fleet * @keepFleet = 0 THEN @now ELSE resolved_at END WHERE key = @key`).run({ key, keepHost: 0, keepFleet: 1, now });
    }
    return;
  }
  const c = new pg.Client({ connectionString: (store as PostgresStore).url });
  await c.connect();
  try {
    const body = (await c.query<{ body: string }>('SELECT body FROM findings WHERE key = $1', [key])).rows[0].body;
    if (what === 'reopen') {
      await c.query(`UPDATE findings SET severity = $2, body = $3, last_seen = $4,
        from_host = GREATEST(from_host, $5), from_fleet = GREATEST(from_fleet, $6),
        first_seen = CASE WHEN resolved_at IS NULL THEN first_seen ELSE $4 END, resolved_at = NULL WHERE key = $1`, [key, 'error', body, now, 1, 0]);
    } else {
      await c.query(`UPDATE findings SET from_host = from_host * $2, from_fleet = from_fleet * $3,
        resolved_at = CASE WHEN from_host * $2 + from_fleet * $3 = 0 THEN $4 ELSE resolved_at END WHERE key = $1`, [key, 0, 1, now]);
    }
  } finally {
    await c.end();
  }
}

const CAPTURE = finding('route-captures-peer', 'h1', 'docker0 172.17.0.0/16 captures 172.17.0.64', { summary: 'docker0 172.17.0.0/16 captures the peer 172.17.0.64' });
const DOCKER0 = change(9, 'address', 'added', 'docker0 172.17.0.1/16', { after: 'inet 172.17.0.1/16 scope global docker0', owner: { type: 'docker', name: 'bridge', guess: true } });

/** A fleet's history: reports, a fleet finding over a host finding, resolutions, a re-open, acks. */
async function script(store: Store): Promise<unknown> {
  const own = finding('rp-filter-drop', 'web-1', 'eth1 10.0.0.9');
  const pairF = { ...finding('route-captures-peer', 'B-gw', 'docker0 captures'), pairs: [['web-1', 'B-gw']] } as Finding;
  await store.commitReports([input('web-1', 1, 1, [own]), input('B-gw', 1, 2), input('a-db', 1, 3)]);
  await store.commitReports([input('web-1', 2, 10, [{ ...own, kernel: { verdict: 'confirmed' } as never }], { found: [pairF] })]);
  await store.commitFleet([{ ...own, summary: 'fleet words' }], [], at(11));
  await store.commitReports([input('web-1', 3, 20, [], { resolved: [pairF] })]);
  await store.commitFleet([], [own.key], at(21));
  await store.commitReports([input('B-gw', 2, 30, [], { found: [pairF] })]);
  await store.commitReports([withChanges(input('h1', 1, 32), [{ ...DOCKER0, at: at(31) }, change(31, 'route', 'added', 'route 172.17.0.0/16 dev docker0')])]);
  await store.commitReports([withChanges(input('h1', 2, 33, [CAPTURE]), [change(32, 'rule', 'rewritten', 'rule 100: lookup 100', { count: 3 })])]);
  await store.commitReports([withChanges(input('h1', 3, 34, [CAPTURE]), [change(34, 'rule', 'rewritten', 'rule 100: lookup 100', { count: 4 })])]);
  await store.touch(new Map([['a-db', at(40)]]));
  const stale = await store.markStale(at(25));
  return {
    stale, hosts: await store.hosts(), findings: await store.findings({}, at(50)), web1: await store.findings({ host: 'web-1' }, at(50)),
    reports: await store.reports('web-1'), lastSeq: await store.lastSeq('web-1'), version: await store.schemaVersion(), changes: await store.changes.query(),
  };
}

describe('the migration lists', () => {
  it('have one PostgreSQL step for each SQLite step', () => {
    expect(PG_MIGRATIONS).toHaveLength(MIGRATIONS.length);
  });
});

describe.each(KINDS)('the $name store', (kind) => {
  it('migrates to the last step, and opening again runs nothing twice', async () => {
    const { store, reopen } = await kind.open();
    expect(await store.schemaVersion()).toBe(MIGRATIONS.length);
    await store.close();
    const again = await reopen();
    expect(await again.schemaVersion()).toBe(MIGRATIONS.length);
    await again.close();
  });

  it('stores hosts and reports: history bounded, a resent seq ignored, last seq never goes back, an unchanged digest keeps the snapshot', async () => {
    const { store } = await kind.open({ historyPerHost: 3 });
    try {
      for (let seq = 1; seq <= 5; seq++) await store.commitReports([input('h1', seq, seq)]);
      expect((await store.reports('h1')).map((r) => r.seq)).toEqual([5, 4, 3]);
      expect((await store.reports('h1', 1)).map((r) => r.seq)).toEqual([5]);
      expect(await store.reports('h1')).toContainEqual({ seq: 5, sentAt: at(5), receivedAt: at(5), digest: input('h1', 5, 5).report.digest, bytes: 105, findings: 0, complete: true });
      expect(await store.hasReport('h1', 5)).toBe(true);
      expect(await store.hasReport('h1', 1)).toBe(false);
      await store.commitReports([input('h1', 5, 6)]);
      expect(await store.reports('h1')).toHaveLength(3);
      await store.commitReports([input('h1', 2, 7)]);
      expect(await store.lastSeq('h1')).toBe(5);
      expect(await store.lastSeq('nobody')).toBe(0);
      const h = await store.host('h1');
      expect(h).toMatchObject({ name: 'h1', hostname: 'h1', machineId: 'm-h1', instanceId: null, agentVersion: 'test', firstSeen: at(1), lastSeen: at(7), lastSeq: 5, complete: true, stale: false });
      expect(await store.snapshot('h1')).toMatchObject({ identity: { name: 'h1' } });
      // Two reports of one host in one batch: the last one's snapshot is stored.
      await store.commitReports([input('h2', 1, 1, [], {}, '10.9.0.1'), input('h2', 2, 2, [], {}, '10.9.0.2')]);
      expect(JSON.stringify(await store.snapshot('h2'))).toContain('10.9.0.2');
      // Control characters in a snapshot's strings come back as they went, in a group of several hosts
      // (PostgreSQL's statement joins the group's snapshot texts with U+001E).
      const odd = input('h3', 1, 8);
      (odd.report.snapshot as { identity: { hostname: string } }).identity.hostname = 'a\u001eb\u0000c\u001f{"x":[1]}';
      await store.commitReports([input('h0', 1, 8, [], {}, '10.9.0.5'), odd, input('h4', 1, 8, [], {}, '10.9.0.4')]);
      expect(((await store.snapshot('h3')) as { identity: { hostname: string } }).identity.hostname).toBe('a\u001eb\u0000c\u001f{"x":[1]}');
      expect(JSON.stringify(await store.snapshot('h0'))).toContain('10.9.0.5');
      expect(JSON.stringify(await store.snapshot('h4'))).toContain('10.9.0.4');
      expect((await store.hosts()).map((x) => x.name)).toEqual(['h0', 'h1', 'h2', 'h3', 'h4']);
      expect(await store.host('nobody')).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('merges a finding from the host and the fleet: the fleet\'s words, the host\'s kernel verdict, resolved when both sources drop, reopened with a new first seen', async () => {
    const { store } = await kind.open();
    try {
      const f = finding('rp-filter-drop', 'h1', 'eth1 10.0.0.9');
      await store.commitReports([input('h1', 1, 1, [{ ...f, kernel: { verdict: 'confirmed' } as never }])]);
      await store.commitFleet([{ ...f, summary: 'fleet words' }], [], at(2));
      let [s] = await store.findings({}, at(3));
      expect(s).toMatchObject({ sources: ['host', 'fleet'], firstSeen: at(1), lastSeen: at(2), resolvedAt: null, state: 'open' });
      expect(s.finding).toMatchObject({ summary: 'fleet words', kernel: { verdict: 'confirmed' } });
      await store.commitReports([input('h1', 2, 4, [{ ...f, summary: 'host words' }])]);
      [s] = await store.findings({}, at(5));
      expect(s.finding.summary).toBe('fleet words');
      await store.commitReports([input('h1', 3, 6, [])]);
      [s] = await store.findings({}, at(7));
      expect(s).toMatchObject({ sources: ['fleet'], resolvedAt: null });
      await store.commitFleet([], [f.key], at(8));
      [s] = await store.findings({}, at(9));
      expect(s).toMatchObject({ sources: [], resolvedAt: at(8), state: 'resolved' });
      await store.commitReports([input('h1', 4, 10, [f])]);
      [s] = await store.findings({}, at(11));
      expect(s).toMatchObject({ sources: ['host'], firstSeen: at(10), resolvedAt: null, state: 'open' });
    } finally {
      await store.close();
    }
  });

  it('filters and orders findings the same way: severity, check, host (pairs too), state, limit; bytewise order, resolved last', async () => {
    const { store } = await kind.open();
    try {
      const paired = { ...finding('vpn-selector-gap', 'gw', '10.200.0.0/20'), pairs: [['client', 'gw']] } as Finding;
      await store.commitReports([
        input('b', 1, 1, [finding('rp-filter-drop', 'b', 'x', { severity: 'warning' })]),
        input('B', 1, 1, [finding('rp-filter-drop', 'B', 'x')]),
        input('a', 1, 1, [finding('rp-filter-drop', 'a', 'x'), finding('mtu-mismatch', 'a', 'y')]),
      ]);
      await store.commitFleet([paired], [], at(2));
      await store.commitReports([input('a', 2, 3, [finding('rp-filter-drop', 'a', 'x')])]);
      const keys = (await store.findings({}, at(4))).map((s) => s.finding.key);
      expect(keys).toEqual(['rp-filter-drop|B|x', 'rp-filter-drop|a|x', 'rp-filter-drop|b|x', paired.key, 'mtu-mismatch|a|y']);
      expect((await store.findings({ severity: 'warning' })).map((s) => s.finding.host)).toEqual(['b']);
      expect((await store.findings({ check: 'vpn-selector-gap' })).map((s) => s.finding.key)).toEqual([paired.key]);
      expect((await store.findings({ host: 'client' })).map((s) => s.finding.key)).toEqual([paired.key]);
      expect((await store.findings({ host: 'a' })).map((s) => s.finding.key)).toEqual(['rp-filter-drop|a|x', 'mtu-mismatch|a|y']);
      expect((await store.findings({ state: 'resolved' })).map((s) => s.finding.key)).toEqual(['mtu-mismatch|a|y']);
      expect(await store.findings({ limit: 2 })).toHaveLength(2);
      expect((await store.finding(paired.key))?.finding).toMatchObject({ pairs: [['client', 'gw']] });
      expect(await store.finding('no|such|key')).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('acknowledges and silences findings until a time, and clears them', async () => {
    const { store } = await kind.open();
    try {
      const f = finding('rp-filter-drop', 'h1', 's');
      await store.commitReports([input('h1', 1, 1, [f])]);
      expect(await store.setAck('no|such|key', { state: 'acknowledged', who: 'a', why: 'b' })).toBe(false);
      expect(await store.setAck(f.key, { state: 'silenced', who: 'alice', why: 'lab', until: at(100) })).toBe(true);
      expect(await store.findings({}, at(50))).toMatchObject([{ state: 'silenced', ack: { state: 'silenced', who: 'alice', why: 'lab', until: at(100) } }]);
      expect((await store.findings({}, at(150)))[0].state).toBe('open');
      expect(await store.setAck(f.key, { state: 'acknowledged', who: 'bob', why: 'known' })).toBe(true);
      expect(await store.findings({ state: 'acknowledged' }, at(150))).toMatchObject([{ ack: { who: 'bob', until: null } }]);
      expect(await store.clearAck(f.key)).toBe(true);
      expect(await store.clearAck(f.key)).toBe(false);
      expect((await store.findings())[0]).not.toHaveProperty('ack');
    } finally {
      await store.close();
    }
  });

  it('keeps issued tokens by hash and by host; a new one replaces the old', async () => {
    const { store } = await kind.open();
    try {
      await store.putToken({ host: 'h1', tokenHash: 'a'.repeat(64), instanceId: 'i-1', via: 'enrolment:e' });
      expect(await store.tokenByHash('a'.repeat(64))).toEqual({ host: 'h1', tokenHash: 'a'.repeat(64), instanceId: 'i-1', via: 'enrolment:e' });
      await store.putToken({ host: 'h1', tokenHash: 'b'.repeat(64), instanceId: null, via: 'first-use' });
      expect(await store.tokenByHash('a'.repeat(64))).toBeUndefined();
      expect(await store.tokenByHost('h1')).toEqual({ host: 'h1', tokenHash: 'b'.repeat(64), instanceId: null, via: 'first-use' });
      expect(await store.tokenByHost('h2')).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('stores sections once by digest, names a host\'s, and prunes only old ones no host names', async () => {
    const { store } = await kind.open();
    try {
      await store.putSection('d1', 'routes', '[1]', at(1));
      await store.putSection('d1', 'routes', 'other', at(5));
      await store.putSection('d2', 'nft', '[2]', at(1));
      await store.putSection('d3', 'ipsets', '[3]', at(10));
      expect(await store.section('d1')).toEqual({ kind: 'routes', content: '[1]' });
      expect(await store.section('dx')).toBeUndefined();
      const named = input('h1', 1, 1);
      named.report = { ...named.report, sections: { routes: 'd1' } };
      await store.commitReports([named]);
      expect(await store.hostSections('h1')).toEqual({ routes: 'd1' });
      expect(await store.hostSections('nobody')).toEqual({});
      expect(await store.pruneSections(at(5))).toBe(1);
      expect(await store.section('d1')).toBeDefined();
      expect(await store.section('d2')).toBeUndefined();
      expect(await store.section('d3')).toBeDefined();
    } finally {
      await store.close();
    }
  });

  it('keeps the change log: times on the server\'s clock, churn folded into one entry, newest first, filtered, pruned by last seen', async () => {
    const { store } = await kind.open();
    try {
      // The agent saw them 2 s before it sent the report; its clock is 1 h ahead of the server's.
      const ahead = (s: number): string => new Date(Date.parse(at(s)) + 3_600_000).toISOString();
      const sent = (i: CommitInput): CommitInput => ({ ...i, report: { ...i.report, sentAt: ahead(Date.parse(i.receivedAt) / 1000 - Date.parse(T0) / 1000) } });
      await store.commitReports([withChanges(sent(input('h1', 1, 10)), [
        change(8, 'link', 'added', 'link eth1', { at: ahead(8), after: '2: eth1: <UP> mtu 1500' }), change(8, 'address', 'added', 'eth1 10.0.0.9/24', { at: ahead(8), after: 'inet 10.0.0.9/24 scope global eth1' }),
      ])]);
      const churn = (count: number, s: number): HostChange => change(s, 'rule', 'rewritten', 'rule 100: lookup 100', { count, before: '100: lookup 100', after: '100: lookup 100' });
      await store.commitReports([withChanges(input('h1', 2, 20), [churn(3, 19)])]);
      await store.commitReports([withChanges(input('h1', 3, 30), [{ ...churn(4, 28), lastAt: at(29) }])]);
      await store.commitReports([withChanges(input('h2', 1, 31), [change(31, 'route', 'removed', 'route 10.1.0.0/16 via 10.0.0.1', { before: '10.1.0.0/16 via 10.0.0.1 dev eth0' })])]);
      // More than five minutes after the last: a new entry.
      await store.commitReports([withChanges(input('h1', 4, 400), [churn(2, 400)])]);
      const all = await store.changes.query();
      expect(all.map((c) => [c.host, c.seq, c.action, c.subject, c.count, c.serverAt, c.lastServerAt])).toEqual([
        ['h1', 4, 'rewritten', 'rule 100: lookup 100', 2, at(400), at(400)],
        ['h2', 1, 'removed', 'route 10.1.0.0/16 via 10.0.0.1', 1, at(31), at(31)],
        ['h1', 2, 'rewritten', 'rule 100: lookup 100', 7, at(19), at(29)],
        ['h1', 1, 'added', 'eth1 10.0.0.9/24', 1, at(8), at(8)],
        ['h1', 1, 'added', 'link eth1', 1, at(8), at(8)],
      ]);
      expect(all[2]).toMatchObject({ at: at(19), lastAt: at(29), receivedAt: at(20), before: '100: lookup 100', owner: { type: 'unknown' }, text: 'rule 100: lookup 100 was rewritten 7 times without change' });
      expect(all[3]).toMatchObject({ at: ahead(8), receivedAt: at(10), after: 'inet 10.0.0.9/24 scope global eth1', text: 'eth1 10.0.0.9/24 appeared' });
      expect(all[3]).not.toHaveProperty('before');
      expect(all[3]).not.toHaveProperty('lastAt');
      expect(new Set(all.map((c) => c.id)).size).toBe(5);
      expect((await store.changes.query({ hosts: ['h2'] })).map((c) => c.subject)).toEqual(['route 10.1.0.0/16 via 10.0.0.1']);
      expect((await store.changes.query({ hosts: ['h1', 'h2'], limit: 2 })).map((c) => c.seq)).toEqual([4, 1]);
      // Its span meets [since, until]: the folded entry runs from 19 to 29 s.
      expect((await store.changes.query({ since: at(25), until: at(100) })).map((c) => [c.host, c.seq])).toEqual([['h2', 1], ['h1', 2]]);
      expect(await store.changes.query({ hosts: [] })).toEqual([]);
      expect(await store.changes.prune(at(30))).toBe(3);
      expect((await store.changes.query()).map((c) => c.seq)).toEqual([4, 1]);
    } finally {
      await store.close();
    }
  });

  it('names a finding\'s trigger and resolving change in its commit; a reopened finding gets a new trigger; a body\'s own is not believed', async () => {
    const { store } = await kind.open();
    try {
      await store.commitReports([withChanges(input('h1', 1, 1), [change(1, 'sysctl', 'changed', 'net.ipv4.ip_forward', { before: 'net.ipv4.ip_forward = 0', after: 'net.ipv4.ip_forward = 1' })])]);
      const forged = { at: at(0), host: 'h1', change: DOCKER0, related: true, text: 'forged' };
      await store.commitReports([withChanges(input('h1', 2, 10, [{ ...CAPTURE, trigger: forged, resolvedBy: forged }]), [DOCKER0, change(9, 'route', 'added', 'route 172.17.0.0/16 dev docker0')])]);
      let s = (await store.finding(CAPTURE.key))!;
      expect(s.state).toBe('open');
      expect(s.finding.trigger).toEqual({ at: at(9), host: 'h1', change: DOCKER0, seconds: 1, related: true, text: 'opened 1 s after docker0 172.17.0.1/16 appeared (Docker network "bridge", guessed from the name)' });
      expect(s.finding.resolvedBy).toBeUndefined();
      const opened = s.finding.trigger;
      // Still open: the trigger stays what it was, whatever arrives later.
      await store.commitReports([withChanges(input('h1', 3, 15, [CAPTURE]), [change(14, 'address', 'added', 'docker0 172.17.0.2/16')])]);
      expect((await store.finding(CAPTURE.key))!.finding.trigger).toEqual(opened);
      await store.commitReports([withChanges(input('h1', 4, 20), [change(19, 'link', 'removed', 'link docker0', { before: '3: docker0: <UP> mtu 1500' })])]);
      s = (await store.finding(CAPTURE.key))!;
      expect(s.state).toBe('resolved');
      expect(s.finding.trigger).toEqual(opened);
      expect(s.finding.resolvedBy).toMatchObject({ host: 'h1', related: true, seconds: 1, change: { kind: 'link', action: 'removed', subject: 'link docker0' }, text: 'resolved 1 s after link docker0 went away' });
      // Reopened: a new trigger, no resolving change.
      await store.commitReports([withChanges(input('h1', 5, 30, [CAPTURE]), [change(27, 'link', 'added', 'link docker0'), change(27, 'address', 'added', 'docker0 172.17.0.1/16')])]);
      s = (await store.finding(CAPTURE.key))!;
      expect(s).toMatchObject({ state: 'open', firstSeen: at(30) });
      expect(s.finding.trigger).toMatchObject({ at: at(27), seconds: 3, change: { kind: 'address', subject: 'docker0 172.17.0.1/16' } });
      expect(s.finding.resolvedBy).toBeUndefined();
      // A finding no change names: the last change before it, unrelated; none at all: no trigger.
      const other = finding('rp-filter-drop', 'h1', 'eth9 192.0.2.1');
      await store.commitReports([input('h1', 6, 40, [CAPTURE, other])]);
      expect((await store.finding(other.key))!.finding.trigger).toMatchObject({ related: false, change: { subject: 'docker0 172.17.0.1/16' } });
      const lone = finding('rp-filter-drop', 'h3', 'eth0 192.0.2.3');
      await store.commitReports([input('h3', 1, 41, [lone])]);
      expect((await store.finding(lone.key))!.finding.trigger).toBeUndefined();
      // A fleet finding: the changes of every host of its pairs; a change not yet received at the commit is not looked at.
      await store.commitReports([withChanges({ ...input('h2', 1, 60), receivedAt: at(60) }, [change(49, 'route', 'added', 'route 172.17.0.0/16 via 10.0.0.1')])]);
      const fleet = { ...finding('route-captures-peer', 'h2', 'docker0 172.17.0.0/16 captures 10.9.0.1'), pairs: [['h1', 'h2']] } as Finding;
      await store.commitFleet([fleet], [], at(50));
      expect((await store.finding(fleet.key))!.finding.trigger).toMatchObject({ host: 'h1', related: true, seconds: 23, text: 'opened 23 s after h1\'s docker0 172.17.0.1/16 appeared' });
      await store.commitFleet([], [fleet.key], at(70));
      expect((await store.finding(fleet.key))!.finding.resolvedBy).toMatchObject({ host: 'h2', change: { subject: 'route 172.17.0.0/16 via 10.0.0.1' } });
    } finally {
      await store.close();
    }
  });

  it('a finding a replica of the previous version reopens or resolves (an upgrade rolling) shows no trigger or resolving change of another opening', async () => {
    const { store } = await kind.open();
    try {
      await store.commitReports([withChanges(input('h1', 1, 10, [CAPTURE]), [DOCKER0])]);
      await store.commitReports([withChanges(input('h1', 2, 20), [change(19, 'link', 'removed', 'link docker0', { before: '3: docker0: <UP> mtu 1500' })])]);
      expect((await store.finding(CAPTURE.key))!.finding.resolvedBy).toMatchObject({ change: { subject: 'link docker0' } });
      await previousVersion(store, 'reopen', CAPTURE.key, at(30));
      let s = (await store.finding(CAPTURE.key))!;
      expect(s).toMatchObject({ state: 'open', firstSeen: at(30) });
      expect(s.finding.trigger).toBeUndefined();
      expect(s.finding.resolvedBy).toBeUndefined();
      // Resolved by this version: this resolution's change.
      await store.commitReports([withChanges(input('h1', 3, 40), [change(39, 'address', 'removed', 'docker0 172.17.0.1/16', { before: 'inet 172.17.0.1/16 scope global docker0' })])]);
      s = (await store.finding(CAPTURE.key))!;
      expect(s.state).toBe('resolved');
      expect(s.finding.resolvedBy).toMatchObject({ seconds: 1, change: { action: 'removed', subject: 'docker0 172.17.0.1/16' } });
      // Reopened and resolved by the previous version: neither of the last opening's.
      await previousVersion(store, 'reopen', CAPTURE.key, at(50));
      await previousVersion(store, 'resolve', CAPTURE.key, at(55));
      s = (await store.finding(CAPTURE.key))!;
      expect(s).toMatchObject({ state: 'resolved', firstSeen: at(50), resolvedAt: at(55) });
      expect(s.finding.trigger).toBeUndefined();
      expect(s.finding.resolvedBy).toBeUndefined();
      // Reopened by this version: a trigger of its own again.
      await store.commitReports([withChanges(input('h1', 4, 60, [CAPTURE]), [change(59, 'link', 'added', 'link docker0')])]);
      expect((await store.finding(CAPTURE.key))!.finding.trigger).toMatchObject({ change: { subject: 'link docker0', action: 'added' } });
    } finally {
      await store.close();
    }
  });

  it('keeps the range of a change found at the agent\'s start (schema step 5) and says so in a trigger naming it', async () => {
    const { store } = await kind.open();
    try {
      const between = { from: at(-3600), until: at(9) };
      await store.commitReports([withChanges(input('h1', 1, 10, [CAPTURE]), [{ ...DOCKER0, between }, change(9, 'route', 'added', 'route 10.9.0.0/24 via 10.0.0.1')])]);
      const [route, docker0] = await store.changes.query();
      expect(docker0).toMatchObject({ subject: 'docker0 172.17.0.1/16', between, text: 'docker0 172.17.0.1/16 appeared (Docker network "bridge", guessed from the name), while the agent was stopped (some time between 2029-12-31 23:00:00 and 2030-01-01 00:00:09, agent clock)' });
      expect(route).not.toHaveProperty('between');
      expect((await store.finding(CAPTURE.key))!.finding.trigger).toMatchObject({
        change: { between }, text: 'opened 1 s after the agent\'s start found that docker0 172.17.0.1/16 appeared (Docker network "bridge", guessed from the name), while the agent was stopped (some time between 2029-12-31 23:00:00 and 2030-01-01 00:00:09, agent clock)',
      });
    } finally {
      await store.close();
    }
  });

  it('records heartbeats, marks silent hosts stale once, and lists every stored snapshot in name order', async () => {
    const { store } = await kind.open();
    try {
      const names = Array.from({ length: 620 }, (_, i) => `host-${String(i).padStart(4, '0')}`);
      await store.commitReports(names.map((n, i) => input(n, 1, 1, [], {}, `10.${i >> 8}.${i & 255}.1`)));
      await store.touch(new Map([['host-0001', at(100)]]));
      expect(await store.markStale(at(50))).toHaveLength(619);
      expect(await store.markStale(at(50))).toEqual([]);
      expect((await store.host('host-0001'))?.stale).toBe(false);
      const seen: string[] = [];
      for await (const s of store.snapshots()) seen.push(s.name);
      expect(seen).toEqual(names);
    } finally {
      await store.close();
    }
  });
});

describe('both stores', () => {
  it('give the same rows for the same fleet history', async () => {
    const results: unknown[] = [];
    for (const kind of KINDS) {
      const { store } = await kind.open();
      try {
        results.push(await script(store));
      } finally {
        await store.close();
      }
    }
    expect(results[1]).toEqual(results[0]);
    expect((results[0] as { findings: unknown[] }).findings.length).toBe(3);
    expect((results[0] as { changes: unknown[] }).changes.length).toBe(3);
  });
});

describe('PostgreSQL replicas', () => {
  it('migrate once when eight start together (the advisory lock)', async () => {
    const url = await pgs.database('r');
    const stores = await Promise.all(Array.from({ length: 8 }, () => PostgresStore.open(url)));
    const rows = (await stores[0].pool.query('SELECT version FROM migrations ORDER BY version')).rows.map((r: { version: number }) => r.version);
    expect(rows).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
    await Promise.all(stores.map((s) => s.close()));
  });

  it('two replicas merging one finding at once keep one row with both sources; a commit notifies the hosts it changed', async () => {
    const url = await pgs.database('r');
    const [a, b] = await Promise.all([PostgresStore.open(url), PostgresStore.open(url)]);
    const listener = new pg.Client({ connectionString: url });
    await listener.connect();
    const heard: string[][] = [];
    listener.on('notification', (n) => { if (n.channel === CHANGES_CHANNEL) heard.push((JSON.parse(n.payload!) as { h: string[] }).h); });
    await listener.query(`LISTEN ${CHANGES_CHANNEL}`);
    try {
      for (let round = 0; round < 20; round++) {
        const f = finding('route-captures-peer', `gw${round}`, 's');
        await Promise.all([a.commitReports([input(`gw${round}`, 1, round, [f])]), b.commitFleet([{ ...f, summary: 'fleet' }], [], at(round))]);
      }
      const all = await a.findings();
      expect(all).toHaveLength(20);
      for (const s of all) expect(s.sources).toEqual(['host', 'fleet']);
      await new Promise((r) => setTimeout(r, 200));
      expect(heard.flat()).toContain('gw7');
      expect(heard).toHaveLength(20);
    } finally {
      await listener.end();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a change committed on one replica gives the same trigger on every replica; two replicas folding churn into one entry add up', async () => {
    const url = await pgs.database('r');
    const [a, b] = await Promise.all([PostgresStore.open(url), PostgresStore.open(url)]);
    try {
      await a.commitReports([withChanges(input('h1', 1, 10), [DOCKER0])]);
      await b.commitReports([input('h1', 2, 11, [CAPTURE])]);
      const [fromA, fromB] = await Promise.all([a.finding(CAPTURE.key), b.finding(CAPTURE.key)]);
      expect(fromA!.finding.trigger).toMatchObject({ host: 'h1', seconds: 2, change: DOCKER0 });
      expect(fromB).toEqual(fromA);
      const churn = (seq: number): CommitInput => withChanges(input('h1', seq, 20 + seq), [change(20, 'rule', 'rewritten', 'rule 100: lookup 100')]);
      await a.commitReports([churn(3)]);
      for (let seq = 4; seq < 24; seq += 2) await Promise.all([a.commitReports([churn(seq)]), b.commitReports([churn(seq + 1)])]);
      const rewritten = (await b.changes.query()).filter((c) => c.action === 'rewritten');
      expect(rewritten.map((c) => c.count)).toEqual([21]);
      expect(await a.changes.query()).toEqual(await b.changes.query());
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a store rides out a server restart: a query in the outage fails, the next one after it works', async () => {
    const url = await pgs.database('r');
    const store = await PostgresStore.open(url);
    try {
      await store.commitReports([input('h1', 1, 1)]);
      await pgs.cluster.stopServer('immediate');
      await expect(store.commitReports([input('h1', 2, 2)])).rejects.toThrow();
      await pgs.cluster.startServer();
      await store.commitReports([input('h1', 3, 3)]);
      expect((await store.reports('h1')).map((r) => r.seq)).toEqual([3, 1]);
    } finally {
      await store.close();
    }
  }, 60_000);
});
