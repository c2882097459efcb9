/**
 * The change log's pieces on real input: `ip monitor route rule link address` as iproute2 6.1
 * printed it here while a namespace got lo up, docker0 (address, up), a route, a rule added and
 * deleted and docker0 deleted (ip-monitor-docker0.txt); and the lab's captures of ECS3 without
 * and with docker0 (fixtures/scenarios) as two looks of the change log, timed by those lines.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChangeLog } from '../../src/changes/log.js';
import { monitorKey } from '../../src/changes/monitor.js';
import { changeState, detachedState, stateFromJson, stateToJson } from '../../src/changes/state.js';
import { scenarioSnapshot } from '../helpers/aggregator-client.js';

const lines = readFileSync(join(import.meta.dirname, 'ip-monitor-docker0.txt'), 'utf8').split('\n');

describe('ip monitor lines', () => {
  it('give the key of the record they announce; continuation lines none', () => {
    const keys = lines.map((l) => monitorKey(l)?.match).filter((k) => k !== undefined);
    expect(keys).toEqual([
      'link lo', 'address lo 127.0.0.1/8', 'route 4 local 127.0.0.1/32', 'route 4 local 127.0.0.0/8', 'route 4 local 127.255.255.255/32', 'address lo ::1/128', 'route 6 local ::1/128 lo',
      'link docker0', 'address docker0 172.17.0.1/16', 'route 4 local 172.17.0.1/32', 'link docker0', 'route 4 main 172.17.0.0/16', 'route 4 local 172.17.255.255/32',
      'route 6 local ff00::/8 docker0', 'route 6 main fe80::/64 docker0', 'route 4 main 10.9.0.0/24', 'rule 100', 'rule 100', 'link docker0',
      'route 6 main fe80::/64 docker0', 'route 6 local ff00::/8 docker0', 'address docker0 fe80::8ca9:2dff:fe82:6773/64', 'address docker0 172.17.0.1/16', 'route 4 local 172.17.0.1/32', 'link docker0',
    ]);
  });

  it('are the same detached (flat strings of their own) as built', async () => {
    const snapshot = await scenarioSnapshot('first-incident', 'ecs3');
    const built = changeState(snapshot);
    const detached = detachedState(changeState(snapshot));
    expect([...detached.keys()]).toEqual([...built.keys()]);
    expect(stateToJson(detached)).toBe(stateToJson(built));
  });

  it('name records with the keys the snapshot gives them', async () => {
    const state = changeState(await scenarioSnapshot('first-incident', 'ecs3'));
    const matches = new Set([...state.values()].map((i) => i.match));
    for (const k of ['link docker0', 'address docker0 172.17.0.1/16', 'route 4 main 172.17.0.0/16', 'route 4 local 172.17.0.1/32']) expect(matches, k).toContain(k);
  });
});

describe('the change log', () => {
  it('times each change by the line that announced it, folds the kernel\'s consequences, and counts churn', async () => {
    const log = new ChangeLog();
    const t0 = Date.parse('2026-12-04T10:00:00.000Z');
    expect(log.settle(await scenarioSnapshot('first-incident-no-docker0', 'ecs3'), t0)).toEqual([]);
    // docker0's IPv4 lines (the capture holds no IPv6 routes); 10.9.0.0/24 is in neither look.
    const docker0 = lines.filter((l) => l.includes('docker0') && !l.startsWith('Deleted') && !/^\s/.test(l) && !/ff00|fe80/.test(l));
    docker0.forEach((l, i) => log.observe(l, t0 + 1000 + i));
    // Churn: a rule deleted and added again three times, the same before and after.
    for (let i = 0; i < 3; i++) {
      log.observe('Deleted 0:\tfrom all lookup local', t0 + 2000 + 2 * i);
      log.observe('0:\tfrom all lookup local', t0 + 2001 + 2 * i);
    }
    const changes = log.settle(await scenarioSnapshot('first-incident', 'ecs3'), t0 + 5000);
    expect(changes.map((c) => [c.at, c.action, c.subject, c.count])).toEqual([
      ['2026-12-04T10:00:01.000Z', 'added', 'link docker0', 1],
      ['2026-12-04T10:00:01.001Z', 'added', 'docker0 172.17.0.1/16', 1],
      ['2026-12-04T10:00:01.004Z', 'added', 'route 172.17.0.0/16 dev docker0', 1],
      ['2026-12-04T10:00:01.006Z', 'transient', 'route 10.9.0.0/24 dev docker0', 1],
      ['2026-12-04T10:00:02.000Z', 'rewritten', 'rule 0: from all lookup local', 6],
    ]);
    expect(changes[4]).toMatchObject({ lastAt: '2026-12-04T10:00:02.005Z', before: '0: from all lookup local', after: '0: from all lookup local' });
    expect(changes[1].owner).toEqual({ type: 'docker', name: 'bridge', guess: true });
  });
});

describe('the change log across a stop', () => {
  it('keeps a state as text and reads it back; another format or a damaged file is no state', async () => {
    const state = changeState(await scenarioSnapshot('first-incident', 'ecs3'));
    expect(stateFromJson(stateToJson(state))).toEqual(state);
    expect(stateFromJson(stateToJson(state).replace('"format":1', '"format":2'))).toBeUndefined();
    expect(stateFromJson(stateToJson(state).slice(0, -10))).toBeUndefined();
    expect(stateFromJson('{"format":1,"items":[{"kind":"route","id":"x"}]}')).toBeUndefined();
  });

  it('started from a saved state, logs what changed while stopped with its range, what a line announced since with its time', async () => {
    const saved = Date.parse('2026-12-04T09:00:00.000Z');
    const start = Date.parse('2026-12-04T10:00:00.000Z');
    const baseline = { state: stateFromJson(stateToJson(changeState(await scenarioSnapshot('first-incident-no-docker0', 'ecs3'))))!, at: saved };
    const log = new ChangeLog(baseline);
    expect(log.primed).toBe(true);
    // docker0's link came up after the start (its line is seen); its address and route were there before.
    log.observe(lines.find((l) => /^\d+: docker0:/.test(l))!, start - 500);
    const changes = log.settle(await scenarioSnapshot('first-incident', 'ecs3'), start);
    expect(changes.map((c) => [c.at, c.action, c.subject, c.between])).toEqual([
      ['2026-12-04T09:59:59.500Z', 'added', 'link docker0', undefined],
      ['2026-12-04T10:00:00.000Z', 'added', 'docker0 172.17.0.1/16', { from: '2026-12-04T09:00:00.000Z', until: '2026-12-04T10:00:00.000Z' }],
      ['2026-12-04T10:00:00.000Z', 'added', 'route 172.17.0.0/16 dev docker0', { from: '2026-12-04T09:00:00.000Z', until: '2026-12-04T10:00:00.000Z' }],
    ]);
    expect(log.changed).toBe(true);
    // The next look compares with the start's: nothing new, no range.
    expect(log.settle(await scenarioSnapshot('first-incident', 'ecs3'), start + 60_000)).toEqual([]);
    expect(log.changed).toBe(false);
  });

  it('started from a saved state equal to the host, logs nothing', async () => {
    const snapshot = await scenarioSnapshot('first-incident', 'ecs3');
    const log = new ChangeLog({ state: changeState(snapshot), at: Date.now() - 60_000 });
    expect(log.settle(snapshot, Date.now())).toEqual([]);
    expect(log.changed).toBe(false);
  });
});
