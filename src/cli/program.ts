/**
 * The program without its subcommands: the one-shot's options and action, --version, the
 * argv routing, and how errors end. main.ts adds the subcommands; oneshot.ts runs it alone.
 */
import { Command, CommanderError } from 'commander';
import { hostcheckVersion } from '../collect/collect.js';
import { UsageError } from '../collect/errors.js';
import { PROTOCOL_VERSION } from '../model/protocol-version.js';
import { safeLines } from '../report/terminal.js';
import { addRunOptions, runOneShot } from './commands-run.js';

/**
 * Subcommand names in help order: the one list. main.ts maps each to its loader (typed by
 * this list), and npm run build writes it to dist/subcommands.json for bin/hostcheck, which
 * must choose between the one-shot file and the full CLI before loading either.
 */
export const SUBCOMMAND_NAMES = [
  'run', 'capture', 'parse', 'snapshot', 'route', 'explain', 'trace', 'path', 'fleet', 'diff', 'drops', 'agent', 'serve', 'topology', 'install', 'uninstall',
] as const;
export type SubcommandName = (typeof SUBCOMMAND_NAMES)[number];

/** The subcommands the one-shot file (oneshot.ts) runs itself; every other one is the full CLI's. */
export const ONE_SHOT_SUBCOMMANDS: readonly SubcommandName[] = ['run'];

/** The program with its own options and action, and no subcommands yet. */
export function programBase(): Command {
  const program = addRunOptions(new Command('hostcheck'))
    .description('Finds the host-side cause when two cloud instances cannot talk: bridges, policy rules, iptables, rp_filter, IPsec selectors')
    // The protocol version is a constant here so --version does not load zod with protocol.ts.
    .version(`${hostcheckVersion()} (protocol ${PROTOCOL_VERSION})`, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nExamples:\n  sudo hostcheck --peer 172.17.0.64=ecs1 --peer 172.18.1.22=ecs2   # one-shot check of this host\n  sudo hostcheck capture --out ./bundle     # raw outputs of every source, for support\n  hostcheck snapshot --bundle ./bundle       # what hostcheck understood\n  hostcheck --bundle sosreport-web7-2026-11-24-xkqzv.tar.xz   # the sosreport a customer sent\n  hostcheck fleet --bundle ./ecs1 --bundle ./ecs3   # bundles matched as serve matches agents\n  ip rule | hostcheck parse ip-rule -        # one command output');
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
export function subcommandsFor(program: Command, args: string[]): SubcommandName[] {
  const takesValue = new Set(program.options.filter((o) => o.required || o.optional).flatMap((o) => [o.long, o.short]).filter((f): f is string => !!f));
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') break;
    if (a === '-h' || a === '--help') return [...SUBCOMMAND_NAMES];
    if (a.startsWith('-')) {
      if (takesValue.has(a)) i++;
      continue;
    }
    return (SUBCOMMAND_NAMES as readonly string[]).includes(a) ? [a as SubcommandName] : [...SUBCOMMAND_NAMES];
  }
  return [];
}

/** Parse argv with `program`; returns the exit code (2 for usage errors). */
export async function runProgram(program: Command, argv: string[]): Promise<number> {
  // `hostcheck ... | head`: a closed pipe ends the output quietly, as in other Unix tools.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  try {
    program.exitOverride();
    for (const c of program.commands) c.exitOverride();
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    // Messages can quote a bundle (a host name, a source's error): made safe, line by line.
    if (err instanceof UsageError) {
      process.stderr.write(`hostcheck: ${safeLines(err.message)}\n`);
      return 2;
    }
    process.stderr.write(`hostcheck: ${safeLines((err as Error).stack ?? String(err))}\n`);
    return 2;
  }
}
