/** `hostcheck agent`: being built (see its issue); registered here so the CLI stays one program. */
import { Command } from 'commander';
import { UsageError } from '../collect/errors.js';

export function agentCommand(): Command {
  return new Command('agent')
    .description('(in development)')
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText('after', '\nExample:\n  hostcheck agent --help')
    .action(() => {
      throw new UsageError('"hostcheck agent" is not available in this build yet');
    });
}
