/**
 * `hostcheck serve --db postgres://...` as a real process on a real PostgreSQL cluster (started
 * and removed by this file): agents report, the API answers, a restarted server serves what it
 * stored; the config file's "db" names the database; `serve migrate` moves a SQLite fleet (acks,
 * issued tokens, history) into an empty PostgreSQL database and refuses a non-empty one, and
 * serve on the copy answers the API as serve on the file did.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findingKey, type Finding } from '../../src/model/finding.js';
import { cliInProcess } from '../helpers/cli.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { tempDir, TestAgent, tinySnapshot } from '../helpers/aggregator-client.js';

let cluster: PgCluster;
const tmp = tempDir();
const running: ServeProcess[] = [];

beforeAll(async () => {
  cluster = await startPostgres();
}, 60_000);

afterAll(async () => {
  for (const s of running) await s.kill();
  await cluster?.stop();
  tmp.remove();
});

async function serve(args: string[]): Promise<ServeProcess> {
  const s = await startServe(args);
  running.push(s);
  return s;
}

const get = async (s: ServeProcess, path: string): Promise<unknown> => (await fetch(`${s.http}${path}`)).json();

function finding(host: string, subject: string): Finding {
  return { check: 'rp-filter-drop', severity: 'error', host, subject, key: findingKey('rp-filter-drop', host, subject), summary: `rp_filter drops ${subject}`, evidence: [], why: 'w', fix: ['f'] };
}

/** Three hosts report (one with a finding), the finding is acknowledged. */
async function feedFleet(s: ServeProcess): Promise<void> {
  for (const [i, name] of ['web-1', 'web-2', 'db-1'].entries()) {
    const a = await TestAgent.connect(s.ws, name, `token-of-${name}-0123456789`);
    await a.report(tinySnapshot(name, `10.1.0.${i + 1}`), name === 'web-1' ? [finding(name, 'eth1 10.1.0.9')] : []);
    await a.report(tinySnapshot(name, `10.1.0.${i + 1}`), name === 'web-1' ? [finding(name, 'eth1 10.1.0.9')] : []);
    a.ws.close();
  }
  const key = encodeURIComponent(finding('web-1', 'eth1 10.1.0.9').key);
  const res = await fetch(`${s.http}/api/findings/${key}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ state: 'acknowledged', who: 'alice', why: 'known' }) });
  expect(res.status).toBe(200);
}

/** The API's answers without what differs between two servers (connection state; last seen, which a server's shutdown writes). */
async function answers(s: ServeProcess): Promise<unknown> {
  const hosts = (await get(s, '/api/hosts') as { hosts: Record<string, unknown>[] }).hosts.map(({ connected: _c, lastSeen: _l, ...h }) => h);
  const findings = await get(s, '/api/findings');
  const host = await get(s, '/api/hosts/web-1') as Record<string, unknown>;
  return { hosts, findings, history: host.history, snapshot: host.snapshot };
}

describe('serve on PostgreSQL', () => {
  it('stores reports in the database the URL names; a restarted server serves them; the config file\'s "db" works too', async () => {
    const url = await cluster.createDatabase('serve1');
    const s1 = await serve(['--db', url]);
    expect(s1.stderr()).toContain('(database postgresql://hostcheck@/serve1');
    await feedFleet(s1);
    const before = await answers(s1);
    expect((before as { hosts: unknown[] }).hosts).toHaveLength(3);
    expect((before as { findings: { findings: { state: string }[] } }).findings.findings).toMatchObject([{ state: 'acknowledged' }]);
    await s1.stop();
    const config = join(tmp.dir, 'config.json');
    writeFileSync(config, JSON.stringify({ db: url }));
    const s2 = await serve(['--config', config]);
    expect(await answers(s2)).toEqual(before);
    // A known agent comes back: the welcome carries the sequence the database holds.
    const again = await TestAgent.open(s2.ws, 'web-1');
    again.send({ type: 'hello', protocol: 1, agentVersion: 't', name: 'web-1', identity: { hostname: 'web-1' }, credential: { kind: 'token', token: 'token-of-web-1-0123456789' }, lastSeq: 0 });
    expect((await again.next('welcome')).ackedSeq).toBe(2);
    again.ws.close();
    await s2.stop();
  }, 60_000);

  it('an unreachable database is a usage error (exit 2) naming it without its password', async () => {
    const r = await cliInProcess(['serve', '--listen', '127.0.0.1:0', '--db', `postgresql://hostcheck:secret@/nosuchdb?host=${encodeURIComponent(cluster.dir)}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot open the database postgresql://hostcheck:***@/nosuchdb');
    expect(r.stderr).not.toContain('secret');
  }, 30_000);
});

describe('serve migrate', () => {
  it('moves a SQLite fleet into an empty PostgreSQL database: serve on it answers the API the same; a second run is refused', async () => {
    const file = join(tmp.dir, 'fleet.db');
    const lite = await serve(['--db', file]);
    await feedFleet(lite);
    const expected = await answers(lite);
    await lite.stop();
    const url = await cluster.createDatabase('migrated');
    const r = await cliInProcess(['serve', 'migrate', '--from', file, '--to', url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/copied 3 hosts, 6 reports, 1 findings, 1 acks, 3 issued_tokens, 0 sections from .*fleet\.db to postgresql:\/\/hostcheck@\/migrated/);
    const pgServe = await serve(['--db', url]);
    expect(await answers(pgServe)).toEqual(expected);
    // The agents' first-use tokens came along: the same token is accepted, another refused.
    const back = await TestAgent.connect(pgServe.ws, 'web-2', 'token-of-web-2-0123456789');
    back.ws.close();
    const wrong = await TestAgent.open(pgServe.ws, 'web-2');
    wrong.send({ type: 'hello', protocol: 1, agentVersion: 't', name: 'web-2', identity: { hostname: 'web-2' }, credential: { kind: 'token', token: 'another-token-0123456789' }, lastSeq: 0 });
    expect((await wrong.closed).reason).toMatch(/^host_mismatch/);
    await pgServe.stop();
    const twice = await cliInProcess(['serve', 'migrate', '--from', file, '--to', url]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('already holds 3 rows in hosts');
    const missing = await cliInProcess(['serve', 'migrate', '--from', join(tmp.dir, 'none.db'), '--to', url]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no SQLite database');
  }, 90_000);
});
