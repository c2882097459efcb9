/**
 * Wires the aggregator: store, credentials, fleet, WebSocket endpoint and HTTP API, listening on
 * TCP and/or a unix socket; a timer persists heartbeats and marks silent hosts stale.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect, type AddressInfo, type Server as NetServer } from 'node:net';
import type { SectionLimits } from '../collect/sections.js';
import type { Topology } from '../model/topology.js';
import { Aggregator } from './aggregator.js';
import { AuthConfigError, checkListenPolicy, emptyCredentials, parseAgentTokens, parseViewerTokens, type Credentials } from './auth.js';
import { apiHandler } from './http/api.js';
import { AggregatorMetrics } from './metrics.js';
import { proxyProtocolListener } from './proxy-protocol.js';
import { openStore } from './store-open.js';
import { AgentServer, type WsOptions } from './ws-server.js';

export interface ServeOptions extends WsOptions {
  /** HOST:PORT; omitted together with `socket` means 127.0.0.1:7480. */
  listen?: string;
  socket?: string;
  /** A SQLite file, or a postgres:// URL (replicas share it). */
  db: string;
  tokensFile?: string;
  viewerTokensFile?: string;
  /** Already-parsed credentials (tests); merged with the files. */
  credentials?: Credentials;
  insecure?: boolean;
  /** PEM files: the TCP listener speaks HTTPS/WSS (the unix socket stays plain). */
  tls?: { cert: string; key: string };
  staleSeconds?: number;
  sweepSeconds?: number;
  contextDelayMs?: number;
  historyPerHost?: number;
  /** Days the hosts' change logs are kept (`--timeline-days`, default 30). */
  timelineDays?: number;
  processMetrics?: boolean;
  /** A validated topology file (`serve --topology`, loaded by the caller). */
  topology?: Topology;
  /** Send the dashboard's Content-Security-Policy (default true; `serve --no-csp` is a testing aid). */
  csp?: boolean;
  /** Content limits (routes, rules, nesting; docs/serve.md). */
  limits?: Partial<SectionLimits>;
  /** Names the HTTP API answers to besides loopback names and IP addresses (`serve --public-name`). */
  publicNames?: string[];
  /** Every TCP connection starts with a PROXY protocol header naming the client (`serve --proxy-protocol`); `trustedProxies`, when given, are the only peers let in. */
  proxyProtocol?: boolean;
}

export interface RunningServer {
  aggregator: Aggregator;
  /** The agent endpoint (its WebSocket server's connections). */
  agents: AgentServer;
  /** The TCP address actually bound (port 0 picks one). */
  tcp?: AddressInfo;
  socket?: string;
  close(): Promise<void>;
}

/** "HOST:PORT", "[::1]:PORT" or ":PORT". */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new AuthConfigError(`--listen "${s}" is not HOST:PORT (e.g. 127.0.0.1:7480)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function loadCredentials(options: Pick<ServeOptions, 'tokensFile' | 'viewerTokensFile' | 'credentials'>): Credentials {
  const creds = options.credentials ?? emptyCredentials();
  const read = (f: string): string => {
    try {
      return readFileSync(f, 'utf8');
    } catch (err) {
      throw new AuthConfigError(`cannot read ${f}: ${(err as Error).message}`, { cause: err });
    }
  };
  if (options.tokensFile) {
    const t = parseAgentTokens(read(options.tokensFile), options.tokensFile);
    for (const [k, v] of t.agents) creds.agents.set(k, v);
    for (const [k, v] of t.enrolment) creds.enrolment.set(k, v);
  }
  if (options.viewerTokensFile) for (const [k, v] of parseViewerTokens(read(options.viewerTokensFile), options.viewerTokensFile)) creds.viewers.set(k, v);
  return creds;
}

function createServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  return createHttpServer(handler);
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

function listenOn(server: NetServer, target: { host: string; port: number } | string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (typeof target === 'string') server.listen(target, done);
    else server.listen(target.port, target.host, done);
  });
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const credentials = loadCredentials(options);
  const tcpTarget = options.listen ? parseListen(options.listen) : options.socket ? undefined : { host: '127.0.0.1', port: 7480 };
  checkListenPolicy(tcpTarget?.host, credentials, options.insecure ?? false);
  const store = await openStore(options.db, { historyPerHost: options.historyPerHost });
  const metrics = new AggregatorMetrics({ processMetrics: options.processMetrics });
  const aggregator = new Aggregator({ store, credentials, metrics, staleSeconds: options.staleSeconds, contextDelayMs: options.contextDelayMs, topology: options.topology, limits: options.limits, timelineDays: options.timelineDays,
    warn: (m) => process.stderr.write(`hostcheck serve: ${m}\n`) });
  try {
    // Follow first: a report another replica commits while this one loads is not missed.
    await aggregator.follow();
    await aggregator.load();
  } catch (err) {
    await aggregator.unfollowReplicas();
    await store.close();
    throw err;
  }
  const agents = new AgentServer(aggregator, options);
  const handler = apiHandler(aggregator, { csp: options.csp ?? true, publicNames: options.publicNames });
  const servers: Server[] = [];
  const fronts: NetServer[] = [];
  const result: RunningServer = { aggregator, agents, close: async () => undefined };
  try {
    if (tcpTarget) {
      const tls = options.tls ? { cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) } : undefined;
      // Behind PROXY protocol the front listener reads the header and terminates TLS itself.
      const s = tls && !options.proxyProtocol ? createHttpsServer(tls, handler) : createServer(handler);
      agents.attach(s);
      servers.push(s);
      if (options.proxyProtocol) {
        const front = proxyProtocolListener(s, tls, { trusted: new Set(options.trustedProxies ?? []) });
        fronts.push(front);
        await listenOn(front, tcpTarget);
        result.tcp = front.address() as AddressInfo;
      } else {
        await listenOn(s, tcpTarget);
        result.tcp = s.address() as AddressInfo;
      }
    }
    if (options.socket) {
      // A socket file left by a killed server would block listen; one a live server answers on is kept.
      if (existsSync(options.socket) && statSync(options.socket).isSocket() && !(await socketAnswers(options.socket))) rmSync(options.socket);
      const s = createServer(handler);
      agents.attach(s);
      servers.push(s);
      await listenOn(s, options.socket);
      result.socket = options.socket;
    }
  } catch (err) {
    agents.close();
    for (const s of [...fronts, ...servers]) s.close();
    await aggregator.unfollowReplicas();
    await store.close();
    throw err;
  }
  const sweep = setInterval(() => void aggregator.sweep().catch(() => undefined), (options.sweepSeconds ?? Math.max(1, Math.min(60, aggregator.staleSeconds / 4))) * 1000);
  sweep.unref();
  result.close = async () => {
    clearInterval(sweep);
    agents.close();
    for (const f of fronts) f.close();
    await Promise.all(servers.map((s) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); })));
    await aggregator.flushReports().catch(() => undefined);
    await aggregator.sweep().catch(() => undefined);
    await aggregator.unfollowReplicas();
    await aggregator.refreshed;
    await store.close();
  };
  return result;
}
