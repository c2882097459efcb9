/** `hostcheck agent`: run on every host, stream snapshots and findings to the aggregator. */
import { Command, Option } from 'commander';
import { Agent, AgentCredentialError } from '../agent/agent.js';
import { checkServerUrl, ConnectionConfigError, loadTls } from '../agent/connection.js';
import { createAgentLogger } from '../agent/log.js';
import { AgentStateError, DEFAULT_STATE_DIR, DEFAULT_TOKEN_FILE } from '../agent/state.js';
import { openBundle } from '../collect/bundle-open.js';
import { collectBundle, hostcheckVersion } from '../collect/index.js';
import { UsageError } from '../collect/errors.js';
import { collectIdentity } from '../collect/identity.js';
import { loadConfig } from './commands-run.js';

interface AgentFlags {
  server?: string[];
  name?: string;
  tokenFile?: string;
  enrolTokenFile?: string;
  ca?: string;
  cert?: string;
  key?: string;
  interval?: string;
  config?: string;
  stateDir?: string;
  bundle?: string;
  host?: string;
  cloud: boolean;
  dropReasons?: boolean;
  outbox: string;
  logLevel: string;
}

const DEFAULT_INTERVAL_S = 300;

function positive(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`${flag} ${value}: expected a number ≥ ${min}`);
  return n;
}

/** The default identity: hostname plus the start of the machine id (namespaces share both). */
export function defaultAgentName(hostname: string, machineId: string | undefined): string {
  return machineId ? `${hostname}-${machineId.slice(0, 12)}` : hostname;
}

export async function runAgent(flags: AgentFlags): Promise<number> {
  const config = await loadConfig(flags.config);
  const configured = config.server === undefined ? undefined : typeof config.server === 'string' ? [config.server] : config.server;
  const server = flags.server?.length ? flags.server : configured;
  if (!server?.length) throw new UsageError('no server: give --server URL or "server" in the config file');
  const interval = flags.interval !== undefined ? positive('--interval', flags.interval, 0.1) : config.interval ?? DEFAULT_INTERVAL_S;
  const outboxCapacity = positive('--outbox', flags.outbox, 1);
  try {
    for (const url of server) checkServerUrl(url);
    const tls = await loadTls({ ca: flags.ca ?? config.ca, clientCert: flags.cert ?? config.clientCert, clientKey: flags.key ?? config.clientKey });
    const bundleDir = flags.bundle;
    if (flags.host !== undefined && !bundleDir) throw new UsageError('--host picks a host of a --bundle: give --bundle PATH');
    // Every layout --bundle reads elsewhere (hostcheck's, a sosreport, calicoctl diags; directory or archive), opened again for each report.
    const readBundle = (path: string) => openBundle(path, flags.host);
    const local: { hostname: string; machineId?: string; name?: string } = bundleDir ? (await readBundle(bundleDir)).meta : await collectIdentity();
    const name = flags.name ?? config.name ?? local.name ?? defaultAgentName(local.hostname, local.machineId);
    const log = createAgentLogger({ level: flags.logLevel, base: { host: name } });
    const agent = new Agent({
      server,
      name,
      identity: { hostname: local.hostname, machineId: local.machineId },
      agentVersion: hostcheckVersion(),
      tokenFile: flags.tokenFile ?? config.tokenFile ?? DEFAULT_TOKEN_FILE,
      enrolTokenFile: flags.enrolTokenFile ?? config.enrolTokenFile,
      tls,
      stateDir: flags.stateDir ?? config.stateDir ?? DEFAULT_STATE_DIR,
      config,
      collect: bundleDir ? () => readBundle(bundleDir) : () => collectBundle({ name, noCloud: !flags.cloud, argv: ['agent'], purpose: 'analyze' }),
      watch: !bundleDir,
      kernel: bundleDir ? undefined : { dropReasons: flags.dropReasons ?? config.dropReasons ?? false },
      intervalMs: Math.round(interval * 1000),
      outboxCapacity: Math.floor(outboxCapacity),
      log,
    });
    const onSignal = (signal: NodeJS.Signals) => void agent.stop(signal);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    try {
      await agent.start();
      await agent.done;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    return 0;
  } catch (err) {
    if (err instanceof AgentCredentialError || err instanceof AgentStateError || err instanceof ConnectionConfigError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}

export function agentCommand(): Command {
  return new Command('agent')
    .description('Run continuously: check at start, on every route/rule/link/address change and every --interval; stream reports to the aggregator')
    .option('--server <url>', 'the aggregator: ws://HOST:PORT, wss://HOST:PORT or ws+unix:///path/to.sock (config "server"); repeat it for replicas: the agent starts at a random one and moves on when it fails', (v: string, all: string[] | undefined) => [...(all ?? []), v])
    .option('--name <name>', 'this host\'s name in the fleet (default: hostname plus machine id)')
    .option('--token-file <file>', `the per-host token; written after enrolment (default ${DEFAULT_TOKEN_FILE})`)
    .option('--enrol-token-file <file>', 'an enrolment token, exchanged on first contact for a per-host token')
    .option('--ca <file>', 'CA certificate (PEM) for wss://')
    .option('--cert <file>', 'client certificate (PEM), when the aggregator asks for one')
    .option('--key <file>', 'client key (PEM) for --cert')
    .option('--interval <seconds>', `seconds between full checks (default ${DEFAULT_INTERVAL_S})`)
    .option('--config <file>', 'config file (default /etc/hostcheck/config.json when it exists)')
    .option('--state-dir <dir>', `where sequence numbers persist (default ${DEFAULT_STATE_DIR})`)
    .option('--bundle <path>', 'report a bundle instead of this host: hostcheck\'s, a sosreport or calicoctl node diags, directory or archive (support, demos, tests); no change watching')
    .option('--host <name>', 'which host of a bundle holding several (a sosreport\'s NETNS or HOSTNAME:NETNS); default: the stack sos ran in')
    .option('--no-cloud', 'never ask a cloud metadata service, even when DMI names a cloud')
    .option('--drop-reasons', 'count skb:kfree_skb drop reasons between checks in a tracefs instance of its own (config "dropReasons"; docs/kernel.md)')
    .addOption(new Option('--outbox <n>', 'unacknowledged reports kept while disconnected').default('32'))
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .addHelpText('after', '\nExamples:\n  sudo hostcheck agent --server wss://hostcheck.internal:8443 --ca /etc/hostcheck/ca.pem\n  sudo hostcheck agent --server ws+unix:///run/hostcheck.sock --name ecs3 --enrol-token-file /etc/hostcheck/enrol\n  hostcheck agent --server ws://127.0.0.1:8080 --bundle sosreport-web7-2026-11-24-xkqzv.tar.xz --enrol-token-file enrol\n  sudo hostcheck agent --server wss://agg1:8443 --server wss://agg2:8443 --server wss://agg3:8443 --ca /etc/hostcheck/ca.pem   # replicas\n\nLogs are JSON lines (in pino\'s format) on stdout. SIGTERM or SIGINT stops it (exit 0).')
    .action(async (flags: AgentFlags) => {
      process.exitCode = await runAgent(flags);
    });
}
