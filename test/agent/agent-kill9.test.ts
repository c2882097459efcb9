/**
 * The agent's unacknowledged reports survive a kill -9: a real `hostcheck agent` process makes
 * three reports while the aggregator is down, is killed with SIGKILL, and started again once the
 * aggregator (real, over a unix socket, real SQLite) is up; the aggregator ends with every
 * sequence number from 1 on, no gap. Before, the outbox lived in memory and the three were lost.
 */
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/aggregator/server.js';
import { repoRoot } from '../helpers/samples.js';
import { waitFor } from '../helpers/agent-protocol-peer.js';
import { tempDir } from '../helpers/aggregator-client.js';

const bin = join(repoRoot, 'bin', 'hostcheck');
const tmp = tempDir();
afterAll(() => tmp.remove());

const lines = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('agent outbox across kill -9', () => {
  it('reports made while the server was down are sent after a SIGKILL and a restart, with no gap in the sequence', async () => {
    const bundle = join(tmp.dir, 'bundle');
    cpSync(join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3'), bundle, { recursive: true });
    writeFileSync(join(tmp.dir, 'token'), 'kill9-token-0123456789abcdef\n');
    const socket = join(tmp.dir, 'agg.sock');
    const state = join(tmp.dir, 'state');
    const args = ['agent', '--bundle', bundle, '--name', 'k9', '--server', `ws+unix://${socket}:/agent`, '--token-file', join(tmp.dir, 'token'), '--state-dir', state, '--interval', '0.2'];
    let stdout = '';
    const first: ResultPromise = execa(bin, args, { reject: false });
    first.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const reports = () => lines(stdout).filter((l) => l.msg === 'report').map((l) => l.seq as number);
    try {
      await waitFor('report 1', () => reports().includes(1), 15_000);
      // The host changes twice more: a route appears, then another.
      const routes = join(bundle, 'ip-route-v4.txt');
      for (const [seq, route] of [[2, '10.201.0.0/24 via 172.31.15.253 dev eth0'], [3, '10.202.0.0/24 via 172.31.15.253 dev eth0']] as const) {
        writeFileSync(routes, `${readFileSync(routes, 'utf8')}${route}\n`);
        await waitFor(`report ${seq}`, () => reports().includes(seq), 15_000);
      }
    } finally {
      first.kill('SIGKILL');
      await first;
    }
    expect((await first).signal).toBe('SIGKILL');
    expect(reports()).toEqual([1, 2, 3]);
    expect(JSON.parse(readFileSync(join(state, 'seq-k9.json'), 'utf8'))).toEqual({ host: 'k9', seq: 3 });
    expect(readdirSync(join(state, 'outbox-k9')).filter((f) => f.endsWith('.json')).sort()).toEqual(['1.json', '2.json', '3.json']);

    const server = await startServer({ socket, db: join(tmp.dir, 'agg.db') });
    let again = '';
    const second: ResultPromise = execa(bin, args, { reject: false });
    second.stdout!.on('data', (d: Buffer) => (again += d.toString()));
    try {
      await waitFor('four reports stored', async () => (await server.aggregator.store.reports('k9')).length >= 4, 20_000);
      expect((await server.aggregator.store.reports('k9')).map((r) => r.seq).sort((a, b) => a - b)).toEqual([1, 2, 3, 4]);
      expect(lines(again).find((l) => l.msg === 'agent starting')).toMatchObject({ seq: 3, unacked: 3 });
      expect(lines(again).find((l) => l.msg === 'welcomed')).toMatchObject({ ackedSeq: 0, resend: 3 });
      // Acknowledged reports leave the state dir.
      await waitFor('the outbox emptied', () => !existsSync(join(state, 'outbox-k9', '1.json')) && readdirSync(join(state, 'outbox-k9')).filter((f) => f.endsWith('.json')).length === 0);
    } finally {
      second.kill('SIGTERM');
      await second;
      await server.close();
    }
  }, 60_000);
});
