/**
 * The agent's change log travels as reports do (docs/agent.md, "Change log"): a real agent in
 * bundle mode whose host goes from the lab's capture of ECS3 without docker0 to the one with it
 * sends the changes in a protocol 3 report; unacknowledged, the report (with its changes) stays
 * in the state dir and a restarted agent sends it again. Stopped, then started on a host that
 * changed meanwhile, it logs the changes with the range they happened in; started on the same
 * host, nothing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { createAgentLogger } from '../../src/agent/log.js';
import { readBundle } from '../../src/collect/bundle.js';
import { PROTOCOL_VERSION } from '../../src/model/protocol.js';
import { repoRoot } from '../helpers/samples.js';
import { AgentProtocolPeer, LogLines, waitFor } from '../helpers/agent-protocol-peer.js';
import { tempDir } from '../helpers/aggregator-client.js';

const tmp = tempDir();
afterAll(() => tmp.remove());
const running: { stop: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop();
});

const scenario = (name: string) => join(repoRoot, 'fixtures', 'scenarios', name, 'ecs3');

function agentOn(server: string, looks: string[], at: () => number, state = 'state'): Agent {
  const agent = new Agent({
    server, name: 'ecs3', identity: { hostname: 'ecs3' }, agentVersion: 'test', tokenFile: join(tmp.dir, 'token'), tls: {},
    stateDir: join(tmp.dir, state), config: { peers: [], remotes: [], ports: [], ignore: [] },
    collect: () => readBundle(looks[Math.min(at(), looks.length - 1)]), watch: false, intervalMs: 150, backoff: { baseMs: 50, maxMs: 200 },
    log: createAgentLogger({ destination: new LogLines(), level: 'debug' }),
  });
  running.push({ stop: () => agent.stop('test over') });
  return agent;
}

describe('agent change log', () => {
  it('sends the changes in a protocol 3 report and, unacknowledged, again after a restart', async () => {
    expect(PROTOCOL_VERSION).toBe(3);
    writeFileSync(join(tmp.dir, 'token'), 'ecs3-token-0123456789abcdef\n');
    const peer = await AgentProtocolPeer.start({ ackDelayMs: 0 });
    running.push({ stop: () => peer.close() });
    let look = 0;
    const looks = [scenario('first-incident-no-docker0'), scenario('first-incident')];
    const first = agentOn(peer.url, looks, () => look);
    await first.start();
    await waitFor('the first report acknowledged', () => peer.ackedSeq >= 1, 10_000);
    expect(peer.reports[0].changes).toBeUndefined();
    peer.acks = false;
    look = 1;
    const withChanges = await waitFor('a report with changes', () => peer.reports.find((r) => r.changes?.length), 10_000);
    expect(withChanges.changes!.map((c) => `${c.action} ${c.subject}`)).toEqual(['added link docker0', 'added docker0 172.17.0.1/16', 'added route 172.17.0.0/16 dev docker0']);
    expect(withChanges.changes![1]).toMatchObject({ count: 1, after: 'inet 172.17.0.1/16 scope global docker0', owner: { type: 'docker', name: 'bridge', guess: true } });
    // The same host again: no new changes, so heartbeats rather than reports.
    await new Promise((r) => setTimeout(r, 600));
    expect(peer.reports.filter((r) => r.changes?.length)).toHaveLength(1);
    await first.stop('restart');

    peer.acks = true;
    const second = agentOn(peer.url, looks, () => look);
    await second.start();
    const resent = await waitFor('the report resent after the restart', () => peer.reports.filter((r) => r.seq === withChanges.seq).length >= 2 ? peer.reports.filter((r) => r.seq === withChanges.seq) : undefined, 10_000);
    expect(resent[1].changes).toEqual(withChanges.changes);
    await waitFor('acknowledged', () => peer.ackedSeq >= withChanges.seq, 5000);
  });

  it('logs what changed while it was stopped, with the range, at its start; a start with nothing changed logs nothing', async () => {
    const peer = await AgentProtocolPeer.start({ ackDelayMs: 0 });
    running.push({ stop: () => peer.close() });
    let look = 0;
    const looks = [scenario('first-incident-no-docker0'), scenario('first-incident')];
    const first = agentOn(peer.url, looks, () => look, 'state-stop');
    await first.start();
    await waitFor('the first report acknowledged', () => peer.ackedSeq >= 1, 10_000);
    // Some periodic checks find nothing new: the baseline's time moves on with them.
    await new Promise((r) => setTimeout(r, 500));
    await first.stop('stopped for a while');
    const stopped = Date.now();
    look = 1;
    const second = agentOn(peer.url, looks, () => look, 'state-stop');
    const started = Date.now();
    await second.start();
    const report = await waitFor('a report with the changes', () => peer.reports.find((r) => r.changes?.length), 10_000);
    expect(report.changes!.map((c) => `${c.action} ${c.subject}`)).toEqual(['added link docker0', 'added docker0 172.17.0.1/16', 'added route 172.17.0.0/16 dev docker0']);
    for (const c of report.changes!) {
      expect(c.between!.until).toBe(c.at);
      expect(Date.parse(c.between!.from)).toBeLessThanOrEqual(stopped);
      expect(Date.parse(c.between!.from)).toBeGreaterThan(stopped - 2000);
      expect(Date.parse(c.at)).toBeGreaterThanOrEqual(started);
    }
    await waitFor('acknowledged', () => peer.ackedSeq >= report.seq, 5000);
    await second.stop('stopped again');
    const reports = peer.reports.length;
    const third = agentOn(peer.url, looks, () => look, 'state-stop');
    await third.start();
    await waitFor('the third start\'s first report', () => peer.reports.length > reports, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(peer.reports.slice(reports).filter((r) => r.changes?.length)).toEqual([]);
  });
});
