/**
 * An nft that cannot print JSON (built without it: "Error: JSON support not compiled-in"; before
 * 0.9 `-j` is unknown) exits non-zero on `nft -j list ruleset`. Its `nft -a list ruleset` text
 * gives the same records (parsers/nft-text.ts): the collection (collect.ts) and the counter
 * samples (counters.ts) both read it then.
 */
import { runCommand, type CommandOutcome, type RunOptions } from './run-command.js';
import { sourceByName } from './sources.js';

export const NFT_TEXT_ARGV = ['nft', '-a', 'list', 'ruleset'];

/** Whether `nft -j list ruleset` ran and refused (an exit code, not a missing nft or a timeout). */
export function nftJsonRefused(r: { status: string; exitCode?: number }): boolean {
  return r.status === 'failed' && r.exitCode !== undefined && r.exitCode !== 0;
}

/** `nft -a list ruleset`, its output through files as a big ruleset's needs. */
export function listNftText(timeoutMs = 20_000): Promise<CommandOutcome> {
  const options: RunOptions = { timeoutMs, permissionHint: sourceByName('nft')?.permissionHint, outputToFiles: true };
  return runCommand(NFT_TEXT_ARGV, options);
}
