/** `hostcheck path`: being built (see its issue); registered here so the CLI stays one program. */
import { Command } from 'commander';
import { UsageError } from '../collect/errors.js';

export function pathCommand(): Command {
  return new Command('path')
    .description('(in development)')
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText('after', '\nExample:\n  hostcheck path --help')
    .action(() => {
      throw new UsageError('"hostcheck path" is not available in this build yet');
    });
}
