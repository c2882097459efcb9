/**
 * wss:// end to end: a CA and a server certificate made with openssl, the real aggregator listening
 * with TLS on loopback, the real agent trusting only that CA (and refusing without it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { loadTls } from '../../src/agent/connection.js';
import { createAgentLogger } from '../../src/agent/log.js';
import { startServer, type RunningServer } from '../../src/aggregator/server.js';
import { readBundle } from '../../src/collect/bundle.js';
import { repoRoot } from '../helpers/samples.js';
import { LogLines, waitFor } from '../helpers/agent-protocol-peer.js';

const ecs3 = join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3');
const tmp = mkdtempSync(join(tmpdir(), 'hc-tls-'));
const TOKEN = 'tls-test-token-0123456789abcdef';

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: tmp, stdio: 'pipe' });
}

describe('agent over wss:// with a CA file', () => {
  let server: RunningServer;
  beforeAll(async () => {
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=hostcheck test CA', '-keyout', 'ca.key', '-out', 'ca.pem']);
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr']);
    writeFileSync(join(tmp, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'server.pem']);
    writeFileSync(join(tmp, 'tokens'), `${TOKEN} ecs3\n`);
    server = await startServer({ listen: '127.0.0.1:0', db: join(tmp, 'db.sqlite'), tokensFile: join(tmp, 'tokens'), tls: { cert: join(tmp, 'server.pem'), key: join(tmp, 'server.key') }, processMetrics: false });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  async function runAgent(ca: string | undefined): Promise<{ agent: Agent; logs: LogLines }> {
    writeFileSync(join(tmp, 'token'), TOKEN + '\n');
    const logs = new LogLines();
    const agent = new Agent({
      server: `wss://127.0.0.1:${server.tcp!.port}`,
      name: 'ecs3',
      identity: { hostname: 'ecs3', machineId: '0'.repeat(32) },
      agentVersion: '0.1.0',
      tokenFile: join(tmp, 'token'),
      tls: await loadTls({ ca }),
      stateDir: join(tmp, `state-${ca ? 'ca' : 'none'}`),
      config: { peers: [], remotes: [], ports: [], ignore: [] },
      collect: () => readBundle(ecs3),
      watch: false,
      intervalMs: 200,
      backoff: { baseMs: 100, maxMs: 200 },
      log: createAgentLogger({ destination: logs, level: 'debug' }),
    });
    void agent.start();
    return { agent, logs };
  }

  it('reports when the agent trusts the CA', async () => {
    const { agent } = await runAgent(join(tmp, 'ca.pem'));
    try {
      await waitFor('a committed report over wss', async () => (await server.aggregator.store.lastSeq('ecs3')) > 0, 10_000);
    } finally {
      await agent.stop('test over');
    }
  });

  it('refuses a server whose certificate it cannot verify, and says why', async () => {
    const { agent, logs } = await runAgent(undefined);
    try {
      await waitFor('a certificate error in the log', () => logs.lines.some((l) => /self.signed|unable to verify|certificate/i.test(JSON.stringify(l))), 10_000);
    } finally {
      await agent.stop('test over');
    }
    expect(logs.lines.some((l) => /report acknowledged/.test(JSON.stringify(l)))).toBe(false);
  });
});
