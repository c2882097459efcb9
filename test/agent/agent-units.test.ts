/** The agent's pure parts: backoff, debounce, outbox, digests, the wire snapshot, messages, config. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { backoffDelay, checkServerUrl } from '../../src/agent/connection.js';
import { analysisOptions, parseServerMessage } from '../../src/agent/messages.js';
import { Outbox } from '../../src/agent/outbox.js';
import { buildReportMessage, fleetRoutes, prepareSnapshot, routesDigest, snapshotDigest } from '../../src/agent/report.js';
import { Debouncer } from '../../src/agent/watcher.js';
import { readBundle } from '../../src/collect/bundle.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import { parseConfig } from '../../src/model/config.js';
import { agentMessageSchema, reportSchema } from '../../src/model/protocol.js';
import { validateServerMessage } from '../../src/model/server-messages.js';
import type { RouteRecord } from '../../src/model/records.js';
import { repoRoot } from '../helpers/samples.js';
import { RouteList } from '../../src/model/route-list.js';

const ecs3 = join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3');
const snapshotOf = async () => buildSnapshot(await readBundle(ecs3));

describe('backoffDelay', () => {
  it('doubles from the base up to the cap, with half of it random', () => {
    const p = { baseMs: 1000, maxMs: 60_000 };
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, p, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, p, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffDelay(20, p, () => 1)).toBe(60_000);
    expect(backoffDelay(1000, p, () => 0)).toBe(30_000);
  });
});

describe('Debouncer', () => {
  it('fires once per window, counting the pokes, and again for later pokes', () => {
    vi.useFakeTimers();
    try {
      const fired: number[] = [];
      const d = new Debouncer(750, (n) => fired.push(n));
      for (let i = 0; i < 1000; i++) d.poke();
      vi.advanceTimersByTime(749);
      expect(fired).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(fired).toEqual([1000]);
      d.poke();
      vi.advanceTimersByTime(750);
      expect(fired).toEqual([1000, 1]);
      d.poke();
      d.cancel();
      vi.advanceTimersByTime(2000);
      expect(fired).toEqual([1000, 1]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('Outbox', () => {
  it('drops the oldest beyond capacity and counts them; acks are cumulative', () => {
    const o = new Outbox(3);
    for (let seq = 1; seq <= 5; seq++) o.push({ seq, text: `r${seq}`, sections: [] });
    expect(o.pending().map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(o.dropped).toBe(2);
    expect(o.ack(4)).toEqual([3, 4]);
    expect(o.ack(4)).toEqual([]);
    expect(o.pending().map((e) => e.seq)).toEqual([5]);
    expect(() => new Outbox(0)).toThrow(RangeError);
  });
});

describe('digests', () => {
  it('ignore collectedAt, durations, iptables counters and the neighbour table, and see a route change', async () => {
    const a = await snapshotOf();
    const bundle = await readBundle(ecs3);
    bundle.meta.startedAt = '2030-01-01T00:00:00.000Z';
    for (const s of bundle.meta.sources) s.durationMs = 999;
    bundle.files.set('iptables-save', (bundle.files.get('iptables-save') ?? '').replace(/\[\d+:\d+\]/g, '[123:45678]'));
    const b = buildSnapshot(bundle);
    expect(b.collectedAt).not.toBe(a.collectedAt);
    expect(snapshotDigest(b)).toBe(snapshotDigest(a));
    // The neighbour table's states change with traffic alone.
    bundle.meta.sources.push({ name: 'ip-neigh', file: 'ip-neigh.txt', kind: 'command', status: 'collected', durationMs: 1, required: false });
    bundle.files.set('ip-neigh', '172.31.15.253 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE \n');
    const reachable = buildSnapshot(bundle);
    bundle.files.set('ip-neigh', '172.31.15.253 dev eth0 lladdr 02:00:00:00:00:01 STALE \n10.9.0.7 dev eth0 FAILED \n');
    const stale = buildSnapshot(bundle);
    expect(stale.neighbours).toHaveLength(2);
    expect(snapshotDigest(stale)).toBe(snapshotDigest(reachable));
    // Conntrack's count and counters move with every connection; its maximum is configuration.
    const conntrack = (count: number, drops: number, max = 262144) => {
      bundle.files.set('conntrack-sysctl', `net.netfilter.nf_conntrack_count = ${count}\nnet.netfilter.nf_conntrack_max = ${max}\n`);
      bundle.files.set('conntrack-stats', `cpu=0 found=0 invalid=0 insert=0 insert_failed=0 drop=${drops} early_drop=0 error=0 search_restart=0\n`);
      return snapshotDigest(buildSnapshot(bundle));
    };
    bundle.meta.sources.push(
      { name: 'conntrack-sysctl', file: 'conntrack-sysctl.txt', kind: 'command', status: 'collected', durationMs: 1, required: false },
      { name: 'conntrack-stats', file: 'conntrack-stats.txt', kind: 'command', status: 'collected', durationMs: 1, required: false },
    );
    expect(conntrack(40, 0)).toBe(conntrack(41000, 7));
    expect(conntrack(40, 0, 524288)).not.toBe(conntrack(40, 0));
    bundle.files.set('ip-route-v4', bundle.files.get('ip-route-v4') + '10.9.0.0/24 dev eth0\n');
    expect(snapshotDigest(buildSnapshot(bundle))).not.toBe(snapshotDigest(a));
  });

  it('of routes parsed from text: hashes the outputs; of routes from records (JSON): each route, and sees a change either way', async () => {
    const a = await snapshotOf();
    expect(a.routes.texts()).toBeDefined();
    const fromText = routesDigest(a.routes);
    expect(routesDigest((await snapshotOf()).routes)).toBe(fromText);
    const records = RouteList.fromRecords(a.routes.toArray());
    expect(records.texts()).toBeUndefined();
    const fromJson = routesDigest(records);
    expect(fromJson).toMatch(/^[0-9a-f]{64}$/);
    expect(routesDigest(RouteList.fromRecords(a.routes.toArray()))).toBe(fromJson);
    const changed = a.routes.toArray().map((r, i) => (i === 0 ? { ...r, metric: 7 } : r));
    expect(routesDigest(RouteList.fromRecords(changed))).not.toBe(fromJson);
    // A list mixing parsed routes with a record from elsewhere is hashed route by route.
    const mixed = RouteList.concat([a.routes, RouteList.fromRecords([a.routes.get(0)])]);
    expect(mixed.texts()).toBeUndefined();
  });
});

describe('wire snapshot', () => {
  it('is the snapshot itself up to the thresholds (no sections on a typical host)', async () => {
    const s = await snapshotOf();
    const p = prepareSnapshot(s, await readBundle(ecs3));
    expect(p.sections).toEqual([]);
    expect(JSON.parse(JSON.stringify(p.skeleton))).toEqual(JSON.parse(JSON.stringify(s)));
  });

  it('above maxRoutes, carries the fleet\'s routes and partial { totalRoutes, sentRoutes, digest }', async () => {
    const s = await snapshotOf();
    const bulk: RouteRecord[] = Array.from({ length: 2000 }, (_, i) => ({ family: 4, type: 'unicast', dst: `10.${i >> 8}.${i & 255}.0/24`, table: 'main', via: '172.31.15.253', dev: 'eth0', flags: [], nexthops: [], origin: { lineNumber: 100 + i, text: `10.${i >> 8}.${i & 255}.0/24 via 172.31.15.253 dev eth0` } }));
    const big = { ...s, routes: RouteList.fromRecords([...s.routes, ...bulk]) };
    const wire = prepareSnapshot(big, undefined, { maxRoutes: 1000 }).skeleton;
    const dsts = (wire.routes as unknown as RouteRecord[]).map((r) => `${r.table} ${r.dst} ${r.dev}`);
    expect(dsts).toContain('main 0.0.0.0/0 eth0');
    expect(dsts).toContain('main 172.17.0.0/16 docker0');
    expect(dsts).toContain('local 172.17.0.1/32 docker0');
    expect(dsts).not.toContain('main 172.31.0.0/20 eth0');
    expect(dsts.some((d) => d.startsWith('main 10.'))).toBe(false);
    expect(wire.partial).toMatchObject({ totalRoutes: big.routes.length, sentRoutes: fleetRoutes(big).length });
    expect(wire.partial?.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(wire.rules).toHaveLength(s.rules.length);
    const message = buildReportMessage(1, prepareSnapshot(big, undefined, { maxRoutes: 1000 }), []);
    expect(reportSchema.safeParse(JSON.parse(JSON.stringify(message))).success).toBe(true);
  });
});

describe('server messages', () => {
  it('accepts the protocol\'s data messages and nothing else', () => {
    expect(parseServerMessage('{"type":"ack","seq":3}')).toEqual({ ok: true, message: { type: 'ack', seq: 3 } });
    expect(parseServerMessage('{"type":"exec","command":"reboot"}')).toEqual({ ok: false, type: 'exec', reason: 'unknown message type "exec"' });
    expect(parseServerMessage('{"type":"ack","seq":-1}').ok).toBe(false);
    expect(parseServerMessage('[]')).toMatchObject({ ok: false, reason: 'no message type' });
    // Extra fields are data the agent never looks at: dropped by the schema.
    expect(parseServerMessage('{"type":"ack","seq":1,"run":"rm -rf /"}')).toEqual({ ok: true, message: { type: 'ack', seq: 1 } });
  });

  it('merges fleet peers with the config, leaving out the host itself and bad addresses', () => {
    const config = parseConfig({ peers: [{ address: '172.18.1.22', name: 'ecs2-from-config' }], remotes: ['10.200.0.0/20'] }).config!;
    const o = analysisOptions(config, { peers: [{ name: 'ecs1', addresses: ['172.17.0.64', 'not-an-ip'] }, { name: 'ecs2', addresses: ['172.18.1.22'] }, { name: 'me', addresses: ['172.31.4.18'] }], remotes: ['10.64.0.0/10', '10.1.2.3/8'], ports: ['tcp/22'] }, { name: 'me', addresses: new Set() });
    expect(o.peers).toEqual([{ address: '172.17.0.64', name: 'ecs1' }, { address: '172.18.1.22', name: 'ecs2-from-config' }]);
    expect(o.remotes).toEqual(['10.200.0.0/20', '10.64.0.0/10']);
    expect(o.rejected).toEqual(['peer ecs1 address not-an-ip', 'remote 10.1.2.3/8']);
    expect(o.ports).toEqual(['tcp/22']);
  });
});

describe('agent config and URLs', () => {
  it('validates the agent fields strictly, naming them', () => {
    expect(parseConfig({ server: 'wss://hc.internal:8443', name: 'ecs3', tokenFile: '/var/lib/hostcheck/token', interval: 60, ca: '/etc/hostcheck/ca.pem', stateDir: '/var/lib/hostcheck' }).errors).toEqual([]);
    expect(parseConfig({ server: 'http://x', interval: 0, tokenFile: 'token', clientCert: '/c.pem' }).errors).toEqual([
      'server: must be a ws://, wss:// or ws+unix:/// URL',
      'tokenFile: must be a path (absolute, or starting with ./)',
      'interval: must be at least 0.1 seconds',
      'clientKey: clientCert and clientKey go together',
    ]);
    expect(parseConfig({ serverUrl: 'ws://x' }).errors[0]).toMatch(/serverUrl|Unrecognized/);
  });

  it('takes several servers (replicas) as a list, and serve\'s db as a path or a postgres:// URL', () => {
    expect(parseConfig({ server: ['wss://agg1:8443', 'wss://agg2:8443'] }).config?.server).toEqual(['wss://agg1:8443', 'wss://agg2:8443']);
    expect(parseConfig({ server: [] }).errors).toEqual(['server: Too small: expected array to have >=1 items']);
    expect(parseConfig({ server: ['wss://agg1:8443', 'http://x', 3] }).errors).toEqual([
      'server[1]: must be a ws://, wss:// or ws+unix:/// URL',
      'server[2]: Invalid input: expected string, received number',
    ]);
    expect(parseConfig({ db: 'postgres://hostcheck@db.internal/hostcheck' }).config?.db).toBe('postgres://hostcheck@db.internal/hostcheck');
    expect(parseConfig({ db: '/var/lib/hostcheck/hostcheck.db' }).errors).toEqual([]);
    expect(parseConfig({ db: 'mysql://x/y' }).errors).toEqual(['db: must be a postgres:// URL or a path (absolute, or starting with ./)']);
  });

  it('accepts ws, wss and ws+unix URLs only', () => {
    expect(checkServerUrl('ws+unix:///run/hostcheck.sock').protocol).toBe('ws+unix:');
    expect(() => checkServerUrl('http://x')).toThrow(/scheme must be/);
    expect(() => checkServerUrl('ws://user:secret@x')).toThrow(/credentials in the token file/);
    expect(() => checkServerUrl('ws+unix://')).toThrow(/needs a socket path/);
  });
});

describe('docs/protocol.md', () => {
  it('has a valid example of every message', () => {
    const text = readFileSync(join(repoRoot, 'docs', 'protocol.md'), 'utf8');
    const examples = [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]) as { type: string });
    const types = new Set<string>();
    for (const e of examples) {
      if (['hello', 'section', 'report'].includes(e.type)) {
        const r = agentMessageSchema.safeParse(e);
        expect(r.success, `${e.type}: ${JSON.stringify(r.error?.issues)}`).toBe(true);
      } else {
        const r = validateServerMessage(e);
        expect(r, e.type).toMatchObject({ ok: true, message: e });
      }
      types.add(e.type);
    }
    expect([...types].sort()).toEqual(['ack', 'context', 'error', 'heartbeat', 'hello', 'report', 'section', 'welcome']);
  });
});
