/**
 * Store schema step 3 on real SQLite files written as schemas 1 and 2 wrote them: vpn-selector-gap's
 * per-source fleet findings (`REMOTE from ADDRESS`) become the gateway's finding (`REMOTE`, or
 * `REMOTE clear`), rows that meet under one key are merged with their acknowledgements, and every
 * stored `pair` becomes `pairs`. Then the aggregator opens the migrated file with the topology
 * and the stored snapshots: its fleet match finds the same key, and the acknowledgement holds.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyCredentials } from '../../src/aggregator/auth.js';
import { startServer } from '../../src/aggregator/server.js';
import { SqliteStore } from '../../src/aggregator/store-sqlite.js';
import { MIGRATIONS } from '../../src/aggregator/store-migrations.js';
import { loadTopology } from '../../src/collect/topology-file.js';
import { repoRoot } from '../helpers/samples.js';
import { scenarioSnapshot, tempDir } from '../helpers/aggregator-client.js';

const GW = 'vpn-bp1gw000000000000001';
const OLD_CLIENT = `vpn-selector-gap|${GW}|10.200.0.0/20 from 10.64.3.22`;
const OLD_ROUTER = `vpn-selector-gap|${GW}|10.200.0.0/20 from 10.100.1.253`;
const NEW = `vpn-selector-gap|${GW}|10.200.0.0/20`;
const CAPTURE = 'route-captures-peer|ecs3|docker0 172.17.0.0/16 captures 172.17.0.64';

interface Row { key: string; host: string; subject: string; check: string; severity?: string; fromHost?: number; fromFleet?: number; body: Record<string, unknown>; first: string; last: string; resolved?: string | null }

/** A file of schema `steps` (1: the first tables; 2: with protocol 2's sections), the rows the old code wrote. */
function writeOldSchema(file: string, steps: 1 | 2, rows: Row[], acks: { key: string; state: string; who: string; why: string; until?: string; at: string }[], snapshots: Record<string, unknown>): void {
  const db = new Database(file);
  db.exec('CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  for (let i = 0; i < steps; i++) {
    db.exec(MIGRATIONS[i] as string);
    db.prepare('INSERT INTO migrations VALUES (?, ?)').run(i + 1, '2025-01-01T00:00:00.000Z');
  }
  const ins = db.prepare(`INSERT INTO findings (key, check_id, host, subject, severity, from_host, from_fleet, body, first_seen, last_seen, resolved_at)
    VALUES (@key, @check, @host, @subject, @severity, @fromHost, @fromFleet, @body, @first, @last, @resolved)`);
  for (const r of rows) ins.run({ severity: 'error', fromHost: 0, fromFleet: 1, resolved: null, ...r, body: JSON.stringify({ check: r.check, severity: 'error', host: r.host, subject: r.subject, key: r.key, ...r.body }) });
  const ack = db.prepare('INSERT INTO acks (key, state, who, why, until, at) VALUES (@key, @state, @who, @why, @until, @at)');
  for (const a of acks) ack.run({ until: null, ...a });
  const host = db.prepare(`INSERT INTO hosts (name, hostname, first_seen, last_seen, last_seq, digest, snapshot, complete) VALUES (?, ?, ?, ?, 1, ?, ?, 1)`);
  for (const [name, s] of Object.entries(snapshots)) host.run(name, name, '2025-01-01T00:00:00.000Z', '2025-01-03T00:00:00.000Z', 'd'.repeat(64), JSON.stringify(s));
  db.close();
}

describe('store schema step 3: one vpn-selector-gap finding per gateway, pairs', () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());
  const loops = (who: string) => ({ summary: `${who}'s traffic to 10.200.0.0/20 reaches VPN gateway ${GW} (to-other-cloud) 10.100.1.18, but IPsec connection vco-bp1conn0000000000001 selects only 10.16.0.0/16: it is not encrypted and loops until its TTL runs out; add …`, evidence: [], why: 'old words', fix: ['old fix'] });

  it('rewrites keys, merges rows and acknowledgements, and turns pair into pairs (a schema-2 file)', async () => {
    const file = join(tmp.dir, 'old.db');
    writeOldSchema(file, 2, [
      { key: OLD_CLIENT, check: 'vpn-selector-gap', host: GW, subject: '10.200.0.0/20 from 10.64.3.22', body: { ...loops('client 10.64.3.22'), pair: ['client', GW], via: ['vpcrouter'] }, first: '2025-01-01T00:00:00.000Z', last: '2025-01-03T00:00:00.000Z' },
      { key: OLD_ROUTER, check: 'vpn-selector-gap', host: GW, subject: '10.200.0.0/20 from 10.100.1.253', body: { ...loops('vpcrouter 10.100.1.253'), pair: ['vpcrouter', GW] }, first: '2024-12-30T00:00:00.000Z', last: '2025-01-02T00:00:00.000Z', resolved: '2025-01-02T00:00:00.000Z' },
      // A Linux gateway: its own host finding and the fleet's per-source one meet under one key.
      { key: 'vpn-selector-gap|gateway|10.200.0.0/20', check: 'vpn-selector-gap', host: 'gateway', subject: '10.200.0.0/20', fromHost: 1, fromFleet: 0, body: { summary: 'IPsec policy for 10.200.0.0/20 covers only 10.16.0.0/16: …' }, first: '2025-01-02T00:00:00.000Z', last: '2025-01-05T00:00:00.000Z' },
      { key: 'vpn-selector-gap|gateway|10.200.0.0/20 from 10.64.3.22', check: 'vpn-selector-gap', host: 'gateway', subject: '10.200.0.0/20 from 10.64.3.22', body: { ...loops('client 10.64.3.22'), pair: ['client', 'gateway'] }, first: '2025-01-01T12:00:00.000Z', last: '2025-01-04T00:00:00.000Z' },
      { key: 'vpn-selector-gap|gw2|10.50.0.0/16 from 10.9.0.7', check: 'vpn-selector-gap', host: 'gw2', subject: '10.50.0.0/16 from 10.9.0.7', body: { summary: "h9 10.9.0.7's traffic to 10.50.0.0/16 reaches IPsec gateway host gw2, but …: 10.9.0.7 is not encrypted and goes on unencrypted; add 10.9.0.0/24", pair: ['h9', 'gw2'] }, first: '2025-01-01T00:00:00.000Z', last: '2025-01-01T00:00:00.000Z' },
      { key: CAPTURE, check: 'route-captures-peer', host: 'ecs3', subject: 'docker0 172.17.0.0/16 captures 172.17.0.64', fromHost: 1, body: { summary: "ecs3's docker0 … ecs1 ↔ ecs3 broken", peers: ['172.17.0.64', 'ecs1'], pair: ['ecs1', 'ecs3'] }, first: '2025-01-01T00:00:00.000Z', last: '2025-01-01T00:00:00.000Z' },
      { key: 'rp-filter-drop|ecs2|eth1 172.18.1.22', check: 'rp-filter-drop', host: 'ecs2', subject: 'eth1 172.18.1.22', fromHost: 1, fromFleet: 0, body: { summary: 'rp_filter=1 …' }, first: '2025-01-01T00:00:00.000Z', last: '2025-01-01T00:00:00.000Z' },
    ], [
      { key: OLD_CLIENT, state: 'acknowledged', who: 'alice', why: 'widening on Friday', at: '2025-01-02T09:00:00.000Z' },
      { key: OLD_ROUTER, state: 'silenced', who: 'bob', why: 'router is retired', until: '2099-01-01T00:00:00.000Z', at: '2025-01-01T09:00:00.000Z' },
      { key: CAPTURE, state: 'silenced', who: 'carol', why: 'lab host', until: '2099-01-01T00:00:00.000Z', at: '2025-01-01T09:00:00.000Z' },
    ], {});

    const store = new SqliteStore(file);
    const raw = store.db;
    expect((raw.prepare('SELECT version FROM migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version)).toEqual([1, 2, 3, 4, 5]);
    const keys = (raw.prepare('SELECT key FROM findings ORDER BY key').all() as { key: string }[]).map((r) => r.key);
    expect(keys).toEqual([CAPTURE, 'rp-filter-drop|ecs2|eth1 172.18.1.22', 'vpn-selector-gap|gateway|10.200.0.0/20', 'vpn-selector-gap|gw2|10.50.0.0/16 clear', NEW]);

    // The two sources of the cloud gateway: one row, the earliest first seen, the latest last seen, open, both pairs.
    const row = raw.prepare('SELECT * FROM findings WHERE key = ?').get(NEW) as Record<string, unknown>;
    expect(row).toMatchObject({ subject: '10.200.0.0/20', host: GW, from_fleet: 1, from_host: 0, first_seen: '2024-12-30T00:00:00.000Z', last_seen: '2025-01-03T00:00:00.000Z', resolved_at: null });
    const body = JSON.parse(row.body as string) as Record<string, unknown>;
    expect(body).toMatchObject({ key: NEW, subject: '10.200.0.0/20', pairs: [['client', GW], ['vpcrouter', GW]], via: ['vpcrouter'] });
    expect(body).not.toHaveProperty('pair');
    // The latest acknowledgement of the merged rows stands, under the new key; the old keys have none.
    expect((await store.findings()).find((f) => f.finding.key === NEW)).toMatchObject({ state: 'acknowledged', ack: { who: 'alice', why: 'widening on Friday' } });
    expect(raw.prepare('SELECT key FROM acks ORDER BY key').all()).toEqual([{ key: CAPTURE }, { key: NEW }]);

    // The Linux gateway: host and fleet sources together, the host's first seen kept earliest-wins.
    expect(raw.prepare("SELECT from_host, from_fleet, first_seen, last_seen FROM findings WHERE key = 'vpn-selector-gap|gateway|10.200.0.0/20'").get())
      .toEqual({ from_host: 1, from_fleet: 1, first_seen: '2025-01-01T12:00:00.000Z', last_seen: '2025-01-05T00:00:00.000Z' });
    // Passed on in clear: the host check's `REMOTE clear`.
    expect((await store.findings()).find((f) => f.finding.host === 'gw2')!.finding).toMatchObject({ subject: '10.50.0.0/16 clear', key: 'vpn-selector-gap|gw2|10.50.0.0/16 clear' });
    // Other checks keep their keys and acknowledgements; their fleet bodies get pairs.
    const capture = (await store.findings()).find((f) => f.finding.key === CAPTURE)!;
    expect(capture).toMatchObject({ state: 'silenced', ack: { who: 'carol' } });
    expect(capture.finding).toMatchObject({ pairs: [['ecs1', 'ecs3']] });
    expect(capture.finding).not.toHaveProperty('pair');
    expect((await store.findings({ host: 'ecs1' })).map((f) => f.finding.key)).toEqual([CAPTURE]);
    expect(JSON.parse((raw.prepare("SELECT body FROM findings WHERE key LIKE 'rp-filter-drop%'").get() as { body: string }).body)).toEqual({ check: 'rp-filter-drop', severity: 'error', host: 'ecs2', subject: 'eth1 172.18.1.22', key: 'rp-filter-drop|ecs2|eth1 172.18.1.22', summary: 'rp_filter=1 …' });
    await store.close();
    // Opening again runs nothing twice.
    const again = new SqliteStore(file);
    expect((again.db.prepare('SELECT count(*) AS n FROM findings').get() as { n: number }).n).toBe(5);
    await again.close();
  });

  it('the aggregator opening a schema-1 file (steps 2 and 3 run) matches the same key: the finding stays acknowledged, its words renewed', async () => {
    const file = join(tmp.dir, 'serve.db');
    const snapshots = { client: await scenarioSnapshot('second-incident', 'client'), vpcrouter: await scenarioSnapshot('second-incident', 'vpcrouter') };
    writeOldSchema(file, 1, [
      { key: OLD_CLIENT, check: 'vpn-selector-gap', host: GW, subject: '10.200.0.0/20 from 10.64.3.22', body: { ...loops('client 10.64.3.22'), pair: ['client', GW], via: ['vpcrouter'] }, first: '2025-01-01T00:00:00.000Z', last: '2025-01-03T00:00:00.000Z' },
      { key: OLD_ROUTER, check: 'vpn-selector-gap', host: GW, subject: '10.200.0.0/20 from 10.100.1.253', body: { ...loops('vpcrouter 10.100.1.253'), pair: ['vpcrouter', GW] }, first: '2024-12-30T00:00:00.000Z', last: '2025-01-03T00:00:00.000Z' },
    ], [{ key: OLD_CLIENT, state: 'acknowledged', who: 'alice', why: 'widening on Friday', at: '2025-01-02T09:00:00.000Z' }], snapshots);
    const server = await startServer({ socket: join(tmp.dir, 's.sock'), db: file, credentials: emptyCredentials(), topology: await loadTopology(join(repoRoot, 'fixtures', 'topology', 'second-incident.yaml')) });
    try {
      const found = await server.aggregator.store.findings({ check: 'vpn-selector-gap' });
      expect(found.map((f) => f.finding.key)).toEqual([NEW]);
      expect(found[0]).toMatchObject({ state: 'acknowledged', sources: ['fleet'], firstSeen: '2024-12-30T00:00:00.000Z', ack: { who: 'alice' } });
      expect(found[0].finding.summary).toContain('from 10.64.0.0/16, 10.100.0.0/16 is not encrypted');
      expect((found[0].finding as { pairs?: unknown }).pairs).toEqual([['client', GW], ['vpcrouter', GW]]);
    } finally {
      await server.close();
    }
  });
});
