/** `hostcheck serve`: the aggregator (docs/serve.md); runs until SIGINT/SIGTERM; SIGHUP re-reads --topology. */
import { Command } from 'commander';
import { UsageError } from '../collect/errors.js';
import { AuthConfigError } from '../aggregator/auth.js';
import { startServer } from '../aggregator/server.js';
import { redactUrl, StoreError } from '../aggregator/store.js';
import { safeLines } from '../report/terminal.js';
import { topologyOption } from './io.js';
import { DEFAULT_CONFIG, loadConfig } from './commands-run.js';
import { copySqliteToPostgres } from '../aggregator/store-copy.js';
import { isPostgresUrl } from '../aggregator/store.js';

const DEFAULT_DB = './hostcheck.db';

/** `hostcheck serve migrate`: a SQLite fleet into an empty PostgreSQL database. */
function migrateCommand(): Command {
  return new Command('migrate')
    .description('copy a SQLite store into an empty PostgreSQL database (stop serve first); the rows as stored: hosts, history, findings, acknowledgements, issued tokens, sections')
    .requiredOption('--from <file>', 'the SQLite database file serve --db used')
    .requiredOption('--to <url>', 'the PostgreSQL database, postgres://USER[:PASSWORD]@HOST[:PORT]/DB (created by you; hostcheck creates its tables)')
    .addHelpText('after', '\nExample:\n  hostcheck serve migrate --from /var/lib/hostcheck/hostcheck.db --to postgres://hostcheck@db.internal/hostcheck\n\nThe target must be empty; the copy is one transaction (all or nothing). docs/replicas.md, "Moving a SQLite fleet".')
    .action(async (flags: { from: string; to: string }) => {
      if (!isPostgresUrl(flags.to)) throw new UsageError(`--to "${flags.to}" is not a postgres:// URL`);
      let counts;
      try {
        counts = await copySqliteToPostgres(flags.from, flags.to);
      } catch (err) {
        if (err instanceof StoreError) throw new UsageError(err.message, { cause: err });
        throw err;
      }
      process.stdout.write(`hostcheck serve migrate: copied ${Object.entries(counts).map(([t, n]) => `${n} ${t}`).join(', ')} from ${flags.from} to ${redactUrl(flags.to)}\n`);
    });
}

interface ServeFlags {
  listen?: string;
  socket?: string;
  db?: string;
  config?: string;
  tokens?: string;
  viewerTokens?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecure?: boolean;
  staleSeconds: string;
  maxPayload: string;
  preauthMaxPayload: string;
  maxUnauthenticated: string;
  maxUnauthenticatedPerAddress: string;
  preauthRate: string;
  trustedProxy: string[];
  proxyProtocol?: boolean;
  publicName: string[];
  maxRoutes: string;
  maxRules: string;
  rate: string;
  csp: boolean;
  topology?: string;
  timelineDays: string;
}

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name} must be a positive number, not "${v}"`);
  return n;
}


export function serveCommand(): Command {
  return new Command('serve')
    .description('run the aggregator: agents report over WebSocket; fleet findings, pair verdicts and an HTTP API on the same port')
    .option('--listen <host:port>', 'TCP address (default 127.0.0.1:7480 unless only --socket is given)')
    .option('--socket <path>', 'also (or only) listen on this unix socket')
    .option('--db <file|url>', `SQLite database file, or a PostgreSQL URL (postgres://USER@HOST/DB) that replicas share (config "db"; docs/replicas.md; default ${DEFAULT_DB})`)
    .option('--config <file>', `config file, for "db" (default ${DEFAULT_CONFIG} when it exists)`)
    .option('--tokens <file>', 'agent tokens ("TOKEN HOST" lines, "enrol TOKEN EXPIRES" lines, or JSON; docs/serve.md)')
    .option('--viewer-tokens <file>', 'viewer tokens for the API (one per line)')
    .option('--tls-cert <file>', 'TLS certificate (PEM): the TCP port speaks https/wss')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--insecure', 'allow a non-loopback address without agent tokens (viewer tokens stay required off loopback)')
    .option('--stale-seconds <n>', 'mark hosts silent for this long stale', '300')
    .option('--max-payload <bytes>', 'largest message accepted', String(16 * 1024 * 1024))
    .option('--preauth-max-payload <bytes>', 'largest message before a hello is accepted', String(64 * 1024))
    .option('--max-unauthenticated <n>', 'connections without an accepted hello, at once', '256')
    .option('--max-unauthenticated-per-address <n>', 'the same per source address', '16')
    .option('--preauth-rate <n>', 'connections per second a source address may lose before their hello is accepted (bursts of 4x)', '5')
    .option('--public-name <name>', 'a name the HTTP API answers to besides loopback names and IP addresses, e.g. a load balancer\'s (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--trusted-proxy <address>', 'a proxy whose X-Forwarded-For names the agent; with --proxy-protocol the only peers let in (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--proxy-protocol', 'every TCP connection starts with a PROXY protocol v1/v2 header naming the client (HAProxy send-proxy-v2, nginx stream proxy_protocol on): limits, logs and the fleet see the agent\'s own address')
    .option('--max-routes <n>', 'routes a snapshot may send (content limit too_many_routes)', '100000')
    .option('--max-rules <n>', 'iptables and nft rules a snapshot may have (content limit too_many_rules)', '250000')
    .option('--rate <n>', 'messages per second per connection (burst twice that)', '20')
    .option('--topology <file>', 'cloud topology (YAML/JSON, docs/topology.md): VPN gateways and VPC route tables for fleet checks and /api/path; read at start and on SIGHUP')
    .option('--timeline-days <n>', 'days the hosts\' change logs are kept (docs/timeline.md)', '30')
    .option('--no-csp', 'testing aid: serve the dashboard without its Content-Security-Policy (docs/dashboard.md)')
    .addHelpText('after', '\nExamples:\n  hostcheck serve                                   # 127.0.0.1:7480, ./hostcheck.db\n  hostcheck serve --listen 10.0.0.5:7480 --tokens /etc/hostcheck/tokens --viewer-tokens /etc/hostcheck/viewers\n  hostcheck serve --socket /run/hostcheck.sock     # agents in namespaces reach it through the filesystem\n  hostcheck serve --topology /etc/hostcheck/cloud.yaml   # VPN gateways and VPC routes: vpn-selector-gap, cloud nodes in /api/path\n  hostcheck serve --listen 10.0.0.5:7480 --proxy-protocol --trusted-proxy 10.0.0.2 --tokens /etc/hostcheck/tokens   # behind HAProxy (send-proxy-v2)\n  kill -HUP $(pidof -s hostcheck)                   # after editing the topology file: re-read it, re-match the fleet\n  hostcheck serve --listen 10.0.0.5:7480 --tokens /etc/hostcheck/tokens --db postgres://hostcheck@db.internal/hostcheck   # one of N replicas (docs/replicas.md)\n  hostcheck serve migrate --from ./hostcheck.db --to postgres://hostcheck@db.internal/hostcheck')
    .addCommand(migrateCommand())
    .action(async (flags: ServeFlags) => {
      if (!flags.tlsCert !== !flags.tlsKey) throw new UsageError('give both --tls-cert and --tls-key, or neither');
      const rate = positive('--rate', flags.rate);
      const topology = await topologyOption(flags.topology);
      const db = flags.db ?? (await loadConfig(flags.config)).db ?? DEFAULT_DB;
      let server;
      try {
        server = await startServer({
          listen: flags.listen, socket: flags.socket, db, tokensFile: flags.tokens, viewerTokensFile: flags.viewerTokens,
          insecure: flags.insecure, tls: flags.tlsCert && flags.tlsKey ? { cert: flags.tlsCert, key: flags.tlsKey } : undefined, staleSeconds: positive('--stale-seconds', flags.staleSeconds), maxPayload: positive('--max-payload', flags.maxPayload),
          ratePerSecond: rate, burst: rate * 2, processMetrics: true, csp: flags.csp, topology,
          preAuthMaxPayload: positive('--preauth-max-payload', flags.preauthMaxPayload), maxUnauthenticated: positive('--max-unauthenticated', flags.maxUnauthenticated),
          maxUnauthenticatedPerAddress: positive('--max-unauthenticated-per-address', flags.maxUnauthenticatedPerAddress), trustedProxies: flags.trustedProxy, publicNames: flags.publicName, proxyProtocol: flags.proxyProtocol,
          preAuthRate: positive('--preauth-rate', flags.preauthRate),
          limits: { maxRoutes: positive('--max-routes', flags.maxRoutes), maxRules: positive('--max-rules', flags.maxRules) },
          timelineDays: positive('--timeline-days', flags.timelineDays),
        });
      } catch (err) {
        if (err instanceof AuthConfigError || err instanceof StoreError) throw new UsageError(err.message, { cause: err });
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' || (err as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`address in use: ${(err as Error).message}`, { cause: err });
        throw err;
      }
      const where = [server.tcp ? `http://${server.tcp.address}:${server.tcp.port}` : undefined, server.socket ? `unix:${server.socket}` : undefined].filter(Boolean).join(' and ');
      const cloud = topology ? `, topology ${flags.topology}: ${topology.vpnGateways.length} VPN gateways, ${topology.routeTables.length} route tables` : '';
      // SIGHUP: re-read the topology file; an unreadable or invalid one keeps the current topology.
      const reload = (): void => {
        if (!flags.topology) {
          process.stderr.write('hostcheck serve: SIGHUP: no --topology file to re-read\n');
          return;
        }
        void topologyOption(flags.topology).then(async (next) => {
          const diff = await server.aggregator.setTopology(next);
          process.stderr.write(`hostcheck serve: topology ${flags.topology} re-read: ${next!.vpnGateways.length} VPN gateways, ${next!.routeTables.length} route tables; fleet findings ${diff.found.length} current, ${diff.resolved.length} resolved\n`);
        }, (err: unknown) => {
          process.stderr.write(`hostcheck serve: topology ${flags.topology} not re-read, the previous one stays: ${safeLines((err as Error).message)}\n`);
        });
      };
      process.on('SIGHUP', reload);
      // The signal handlers are in place before "listening on" is printed: a supervisor (or a
      // test) that signals as soon as it reads the line must not meet the default action.
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          process.off('SIGHUP', reload);
          void server.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        process.stderr.write(`hostcheck serve: listening on ${where} (database ${redactUrl(db)}${cloud})\n`);
      });
    });
}
