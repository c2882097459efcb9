/** `hostcheck trace`: being built (see its issue); registered here so the CLI stays one program. */
import { Command } from 'commander';
import { UsageError } from '../collect/errors.js';

export function traceCommand(): Command {
  return new Command('trace')
    .description('(in development)')
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText('after', '\nExample:\n  hostcheck trace --help')
    .action(() => {
      throw new UsageError('"hostcheck trace" is not available in this build yet');
    });
}
