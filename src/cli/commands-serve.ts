/** `hostcheck serve`: being built (see its issue); registered here so the CLI stays one program. */
import { Command } from 'commander';
import { UsageError } from '../collect/errors.js';

export function serveCommand(): Command {
  return new Command('serve')
    .description('(in development)')
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText('after', '\nExample:\n  hostcheck serve --help')
    .action(() => {
      throw new UsageError('"hostcheck serve" is not available in this build yet');
    });
}
