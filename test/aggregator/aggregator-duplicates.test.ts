/**
 * Two live agents with one name used to replace each other about once a second forever. After
 * MAX_REPLACEMENTS replacements within REPLACE_WINDOW_MS the newer connection is refused instead,
 * naming the address of the one that stays; two real agents settle the same way.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { createAgentLogger } from '../../src/agent/log.js';
import { MAX_REPLACEMENTS } from '../../src/aggregator/aggregator.js';
import { startServer } from '../../src/aggregator/server.js';
import { readBundle } from '../../src/collect/bundle.js';
import { repoRoot } from '../helpers/samples.js';
import { LogLines, waitFor } from '../helpers/agent-protocol-peer.js';
import { hello, tempDir, TestAgent } from '../helpers/aggregator-client.js';

const tmp = tempDir();
afterAll(() => tmp.remove());
const TOKEN = 'dup-token-0123456789abcdef';

describe('duplicate agent names', () => {
  it(`after ${MAX_REPLACEMENTS} replacements the newer connection is refused, naming the other connection's address`, async () => {
    const s = await startServer({ listen: '127.0.0.1:0', db: join(tmp.dir, 'dup.db') });
    try {
      const url = `ws://127.0.0.1:${s.tcp!.port}/agent`;
      const local = (a: TestAgent) => (a.ws as unknown as { _socket: { localPort: number } })._socket.localPort;
      let current = await TestAgent.connect(url, 'dup', TOKEN);
      for (let i = 0; i < MAX_REPLACEMENTS; i++) {
        const next = await TestAgent.connect(url, 'dup', TOKEN);
        expect((await current.closed).reason).toMatch(/^replaced: a newer connection for this host arrived from 127\.0\.0\.1:\d+/);
        current = next;
      }
      const refused = await TestAgent.open(url, 'dup');
      refused.send(hello('dup', TOKEN));
      const closed = await refused.closed;
      expect(closed.code).toBe(1008);
      expect(closed.reason).toMatch(new RegExp(`^duplicate_name: host "dup" is connected from 127\\.0\\.0\\.1:${local(current)}, and its connections replaced each other 3 times`));
      const error = await refused.next('error');
      expect(error.reason).toContain('two agents report under this name; give each its own --name');
      // The connection that stays is still served.
      expect(s.aggregator.connected('dup')).toBe(true);
      current.send({ type: 'heartbeat', at: new Date().toISOString() });
      await current.next('heartbeat');
      current.close();
    } finally {
      await s.close();
    }
  });

  it('two real agents with one name stop flapping: one stays connected, the other logs why it is refused', async () => {
    const s = await startServer({ listen: '127.0.0.1:0', db: join(tmp.dir, 'dup2.db') });
    const agents: { agent: Agent; logs: LogLines }[] = [];
    try {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(tmp.dir, 'token'), `${TOKEN}\n`);
      const bundle = join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3');
      for (let i = 0; i < 2; i++) {
        const logs = new LogLines();
        const agent = new Agent({
          server: `ws://127.0.0.1:${s.tcp!.port}/agent`, name: 'twin', identity: { hostname: 'twin' }, agentVersion: 'test', tokenFile: join(tmp.dir, 'token'), tls: {},
          stateDir: join(tmp.dir, `twin-${i}`), config: { peers: [], remotes: [], ports: [], ignore: [] }, collect: () => readBundle(bundle), watch: false, intervalMs: 60_000,
          backoff: { baseMs: 50, maxMs: 200 }, log: createAgentLogger({ destination: logs, level: 'info' }),
        });
        agents.push({ agent, logs });
        await agent.start();
      }
      const refusals = () => agents.flatMap((a) => a.logs.lines.filter((l) => l.msg === 'another agent reports under this name: give each agent its own --name'));
      await waitFor('a refusal logged', () => refusals().length > 0, 20_000);
      // From then on the connected one stays: no more replacements for a while.
      const replaced = () => agents.flatMap((a) => a.logs.lines.filter((l) => l.msg === 'disconnected' && String(l.reason).startsWith('replaced'))).length;
      const before = replaced();
      await new Promise((r) => setTimeout(r, 1500));
      expect(replaced()).toBe(before);
      expect(before).toBeLessThanOrEqual(3);
      expect(s.aggregator.connected('twin')).toBe(true);
    } finally {
      for (const a of agents) await a.agent.stop();
      await s.close();
    }
  }, 40_000);
});
