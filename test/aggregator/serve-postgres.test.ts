/**
 * `hostcheck serve --db postgres://...` as a real process on a real PostgreSQL cluster (started
 * and removed by this file): agents report, the API answers, a restarted server serves what it
 * stored; the config file's "db" names the database; `serve migrate` moves a SQLite fleet (acks,
 * issued tokens, history, the change log and a finding's trigger) into an empty PostgreSQL database and refuses a non-empty one, and
 * serve on the copy answers the API as serve on the file did.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findingKey, type Finding } from '../../src/model/finding.js';
import { cliInProcess } from '../helpers/cli.js';
import { postgresSuite } from '../helpers/postgres-suite.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { hello, reportOf, TestAgent, tinySnapshot } from '../helpers/aggregator-client.js';

const pgs = postgresSuite();

async function serve(args: string[]): Promise<ServeProcess> {
  return pgs.track(await startServe(args));
}

const get = async (s: ServeProcess, path: string): Promise<unknown> => (await fetch(`${s.http}${path}`)).json();

function finding(host: string, subject: string): Finding {
  return { check: 'rp-filter-drop', severity: 'error', host, subject, key: findingKey('rp-filter-drop', host, subject), summary: `rp_filter drops ${subject}`, evidence: [], why: 'w', fix: ['f'] };
}

/** Three hosts report (one with a finding, opened just after its address appeared: protocol 3's change log), the finding is acknowledged. */
async function feedFleet(s: ServeProcess): Promise<void> {
  for (const [i, name] of ['web-1', 'web-2', 'db-1'].entries()) {
    if (name === 'web-1') {
      const a = await TestAgent.open(s.ws, name);
      a.send({ ...hello(name, `token-of-${name}-0123456789`), protocol: 3 });
      await a.next('welcome');
      const f = [finding(name, 'eth1 10.1.0.9')];
      const changes = [{ at: new Date().toISOString(), count: 1, kind: 'address', action: 'added', subject: 'eth1 10.1.0.9/24', after: 'inet 10.1.0.9/24 scope global eth1', owner: { type: 'unknown' } }];
      a.send({ ...reportOf(1, tinySnapshot(name, '10.1.0.1'), f), changes });
      expect((await a.next('ack')).seq).toBe(1);
      a.send(reportOf(2, tinySnapshot(name, '10.1.0.1'), f));
      expect((await a.next('ack')).seq).toBe(2);
      a.ws.close();
      continue;
    }
    const a = await TestAgent.connect(s.ws, name, `token-of-${name}-0123456789`);
    await a.report(tinySnapshot(name, `10.1.0.${i + 1}`));
    await a.report(tinySnapshot(name, `10.1.0.${i + 1}`));
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
  return { hosts, findings, history: host.history, snapshot: host.snapshot, timeline: await get(s, '/api/timeline') };
}

describe('serve on PostgreSQL', () => {
  it('stores reports in the database the URL names; a restarted server serves them; the config file\'s "db" works too', async () => {
    const url = await pgs.cluster.createDatabase('serve1');
    const s1 = await serve(['--db', url]);
    expect(s1.stderr()).toContain('(database postgresql://hostcheck@/serve1');
    await feedFleet(s1);
    const before = await answers(s1);
    expect((before as { hosts: unknown[] }).hosts).toHaveLength(3);
    expect((before as { findings: { findings: { state: string }[] } }).findings.findings).toMatchObject([{ state: 'acknowledged', finding: { trigger: { host: 'web-1', related: true, change: { subject: 'eth1 10.1.0.9/24' } } } }]);
    expect((before as { timeline: { changes: unknown[] } }).timeline.changes).toMatchObject([{ host: 'web-1', seq: 1, text: 'eth1 10.1.0.9/24 appeared' }]);
    await s1.stop();
    const config = join(pgs.tmp.dir, 'config.json');
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
    const r = await cliInProcess(['serve', '--listen', '127.0.0.1:0', '--db', `postgresql://hostcheck:secret@/nosuchdb?host=${encodeURIComponent(pgs.cluster.dir)}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot open the database postgresql://hostcheck:***@/nosuchdb');
    expect(r.stderr).not.toContain('secret');
  }, 30_000);
});

describe('serve migrate', () => {
  it('moves a SQLite fleet into an empty PostgreSQL database: serve on it answers the API the same; a second run is refused', async () => {
    const file = join(pgs.tmp.dir, 'fleet.db');
    const lite = await serve(['--db', file]);
    await feedFleet(lite);
    const expected = await answers(lite);
    expect((expected as { findings: { findings: unknown[] } }).findings.findings).toMatchObject([{ finding: { trigger: { change: { subject: 'eth1 10.1.0.9/24' } } } }]);
    await lite.stop();
    const url = await pgs.cluster.createDatabase('migrated');
    const r = await cliInProcess(['serve', 'migrate', '--from', file, '--to', url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/copied 3 hosts, 6 reports, 1 findings, 1 acks, 3 issued_tokens, 0 sections, 1 changes from .*fleet\.db to postgresql:\/\/hostcheck@\/migrated/);
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
    const missing = await cliInProcess(['serve', 'migrate', '--from', join(pgs.tmp.dir, 'none.db'), '--to', url]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no SQLite database');
  }, 90_000);
});
