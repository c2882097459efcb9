/**
 * The one-shot's own entry (dist/oneshot.cjs, which bin/hostcheck loads with a V8 code cache):
 * the program without subcommands. Start-up is most of a typical one-shot's time; this entry
 * bundles only what `hostcheck [run] [options]` needs. Any other argv is not its business.
 */
import { ONE_SHOT_SUBCOMMANDS, programBase, runProgram, subcommandsFor } from './program.js';
import { runCommand } from './commands-run.js';

/** Run argv if it is a one-shot (`hostcheck [options]`, `hostcheck run [options]`); else undefined. */
export async function runOneShotCli(argv: string[]): Promise<number | undefined> {
  const program = programBase();
  const needs = subcommandsFor(program, argv.slice(2));
  if (needs.length > 1 || (needs.length === 1 && !ONE_SHOT_SUBCOMMANDS.includes(needs[0]))) return undefined;
  if (needs.length === 1) program.addCommand(runCommand());
  return runProgram(program, argv);
}
