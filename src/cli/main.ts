/** The commander program: every face of hostcheck from one entry. */
import { Command, CommanderError } from 'commander';
import { hostcheckVersion } from '../collect/collect.js';
import { UsageError } from '../collect/errors.js';
import { addRunOptions, runCommand, runOneShot } from './commands-run.js';
import { agentCommand } from './commands-agent.js';
import { explainCommand, routeCommand } from './commands-engine.js';
import { pathCommand } from './commands-path.js';
import { serveCommand } from './commands-serve.js';
import { traceCommand } from './commands-trace.js';
import { captureCommand, parseCommand, snapshotCommand } from './commands-source.js';

export function buildProgram(): Command {
  const program = addRunOptions(new Command('hostcheck'))
    .description('Finds the host-side cause when two cloud instances cannot talk: bridges, policy rules, iptables, rp_filter, IPsec selectors')
    .version(hostcheckVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nExamples:\n  sudo hostcheck --peer 172.17.0.64=ecs1 --peer 172.18.1.22=ecs2   # one-shot check of this host\n  sudo hostcheck capture --out ./bundle     # raw outputs of every source, for support\n  hostcheck snapshot --bundle ./bundle       # what hostcheck understood\n  ip rule | hostcheck parse ip-rule -        # one command output');
  program.action(async (flags) => {
    process.exitCode = await runOneShot(flags);
  });
  // Options after a subcommand belong to it (run, route get and snapshot share --bundle, --json).
  program.enablePositionalOptions();
  program.addCommand(runCommand());
  program.addCommand(captureCommand());
  program.addCommand(parseCommand());
  program.addCommand(snapshotCommand());
  program.addCommand(routeCommand());
  program.addCommand(explainCommand());
  program.addCommand(traceCommand());
  program.addCommand(pathCommand());
  program.addCommand(agentCommand());
  program.addCommand(serveCommand());
  return program;
}

/** Run the CLI; returns the exit code (2 for usage errors). */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  for (const c of program.commands) c.exitOverride();
  try {
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
