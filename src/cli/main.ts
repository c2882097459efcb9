/** The commander program: every face of hostcheck from one entry. */
import type { Command } from 'commander';
import { safeLines } from '../report/terminal.js';
import { programBase, runProgram, SUBCOMMAND_NAMES, subcommandsFor, type SubcommandName } from './program.js';

/**
 * Each subcommand's loader (keyed by program.ts's list), run only when the subcommand runs (or
 * for the program's help): some faces import heavy modules (ws, better-sqlite3), and the
 * one-shot needs none of them.
 */
const SUBCOMMANDS: Record<SubcommandName, () => Promise<Command>> = {
  run: async () => (await import('./commands-run.js')).runCommand(),
  capture: async () => (await import('./commands-source.js')).captureCommand(),
  parse: async () => (await import('./commands-source.js')).parseCommand(),
  snapshot: async () => (await import('./commands-source.js')).snapshotCommand(),
  route: async () => (await import('./commands-engine.js')).routeCommand(),
  explain: async () => (await import('./commands-engine.js')).explainCommand(),
  trace: async () => (await import('./commands-trace.js')).traceCommand(),
  path: async () => (await import('./commands-path.js')).pathCommand(),
  drops: async () => (await import('./commands-drops.js')).dropsCommand(),
  fleet: async () => (await import('./commands-fleet.js')).fleetCommand(),
  diff: async () => (await import('./commands-diff.js')).diffCommand(),
  agent: async () => (await import('./commands-agent.js')).agentCommand(),
  serve: async () => (await import('./commands-serve.js')).serveCommand(),
  topology: async () => (await import('./commands-topology.js')).topologyCommand(),
  install: async () => (await import('./commands-install.js')).installCommand(),
  uninstall: async () => (await import('./commands-install.js')).uninstallCommand(),
};

export { subcommandsFor };

/** The whole program, every subcommand loaded (help, tests). */
export async function buildProgram(names: readonly SubcommandName[] = SUBCOMMAND_NAMES): Promise<Command> {
  const program = programBase();
  const commands = await Promise.all(names.map((n) => SUBCOMMANDS[n]()));
  for (const c of commands) program.addCommand(c);
  return program;
}

/** Run the CLI; returns the exit code (2 for usage errors). */
export async function runCli(argv: string[]): Promise<number> {
  try {
    return await runProgram(await buildProgram(subcommandsFor(programBase(), argv.slice(2))), argv);
  } catch (err) {
    process.stderr.write(`hostcheck: ${safeLines((err as Error).stack ?? String(err))}\n`);
    return 2;
  }
}
