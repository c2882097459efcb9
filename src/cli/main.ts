/** The commander program: every face of hostcheck from one entry. */
import { Command, CommanderError } from 'commander';
import { hostcheckVersion } from '../collect/collect.js';
import { PROTOCOL_VERSION } from '../model/protocol-version.js';
import { UsageError } from '../collect/errors.js';
import { addRunOptions, runOneShot } from './commands-run.js';

/**
 * Subcommands in help order, each loaded only when it runs (or for the program's help): some
 * faces import heavy modules (ws, better-sqlite3), and the one-shot needs none of them.
 */
const SUBCOMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./commands-run.js')).runCommand(),
  capture: async () => (await import('./commands-source.js')).captureCommand(),
  parse: async () => (await import('./commands-source.js')).parseCommand(),
  snapshot: async () => (await import('./commands-source.js')).snapshotCommand(),
  route: async () => (await import('./commands-engine.js')).routeCommand(),
  explain: async () => (await import('./commands-engine.js')).explainCommand(),
  trace: async () => (await import('./commands-trace.js')).traceCommand(),
  path: async () => (await import('./commands-path.js')).pathCommand(),
  agent: async () => (await import('./commands-agent.js')).agentCommand(),
  serve: async () => (await import('./commands-serve.js')).serveCommand(),
  topology: async () => (await import('./commands-topology.js')).topologyCommand(),
  install: async () => (await import('./commands-install.js')).installCommand(),
  uninstall: async () => (await import('./commands-install.js')).uninstallCommand(),
};

/** The program with its own options and action, and no subcommands yet. */
function programBase(): Command {
  const program = addRunOptions(new Command('hostcheck'))
    .description('Finds the host-side cause when two cloud instances cannot talk: bridges, policy rules, iptables, rp_filter, IPsec selectors')
    // The protocol version is a constant here so --version does not load zod with protocol.ts.
    .version(`${hostcheckVersion()} (protocol ${PROTOCOL_VERSION})`, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nExamples:\n  sudo hostcheck --peer 172.17.0.64=ecs1 --peer 172.18.1.22=ecs2   # one-shot check of this host\n  sudo hostcheck capture --out ./bundle     # raw outputs of every source, for support\n  hostcheck snapshot --bundle ./bundle       # what hostcheck understood\n  ip rule | hostcheck parse ip-rule -        # one command output');
  program.action(async (flags) => {
    process.exitCode = await runOneShot(flags);
  });
  // Options after a subcommand belong to it (run, route get and snapshot share --bundle, --json).
  program.enablePositionalOptions();
  return program;
}

/**
 * Which subcommands argv needs: none for the one-shot (no operand), the one it names, or all of
 * them (help, or an operand that names no subcommand, so commander's error is the usual one).
 */
export function subcommandsFor(program: Command, args: string[]): string[] {
  const takesValue = new Set(program.options.filter((o) => o.required || o.optional).flatMap((o) => [o.long, o.short]).filter((f): f is string => !!f));
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') break;
    if (a === '-h' || a === '--help') return Object.keys(SUBCOMMANDS);
    if (a.startsWith('-')) {
      if (takesValue.has(a)) i++;
      continue;
    }
    return a in SUBCOMMANDS ? [a] : Object.keys(SUBCOMMANDS);
  }
  return [];
}

/** The whole program, every subcommand loaded (help, tests). */
export async function buildProgram(names: string[] = Object.keys(SUBCOMMANDS)): Promise<Command> {
  const program = programBase();
  const commands = await Promise.all(names.map((n) => SUBCOMMANDS[n]()));
  for (const c of commands) program.addCommand(c);
  return program;
}

/** Run the CLI; returns the exit code (2 for usage errors). */
export async function runCli(argv: string[]): Promise<number> {
  // `hostcheck ... | head`: a closed pipe ends the output quietly, as in other Unix tools.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  try {
    const program = await buildProgram(subcommandsFor(programBase(), argv.slice(2)));
    program.exitOverride();
    for (const c of program.commands) c.exitOverride();
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`hostcheck: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`hostcheck: ${(err as Error).stack ?? String(err)}\n`);
    return 2;
  }
}
