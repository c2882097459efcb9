/** Small helpers the commands share: reading FILE|-, printing JSON, colour on a TTY only. */
import { readFile } from 'node:fs/promises';
import { UsageError } from '../collect/errors.js';
import { safeJson } from '../report/terminal.js';

export async function readInput(file: string | undefined): Promise<string> {
  if (!file || file === '-') {
    if (process.stdin.isTTY) throw new UsageError('no input: give a FILE or pipe the command output into "-"');
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** Indented JSON on stdout, safe for a terminal (src/report/terminal.ts). */
export function printJson(value: unknown): void {
  process.stdout.write(safeJson(value, 2) + '\n');
}

/** Colour only on a TTY, and never with NO_COLOR set. */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  return !!stream.isTTY && !('NO_COLOR' in process.env && process.env.NO_COLOR !== '');
}

/** commander's collector for a repeatable option (--peer A --peer B). */
export const repeatable = (v: string, prev: string[]): string[] => [...prev, v];

/** `--topology FILE`, validated; a bad file is a usage error naming each field. Loaded lazily (yaml, zod). */
export async function topologyOption(file: string | undefined): Promise<import('../model/topology.js').Topology | undefined> {
  if (!file) return undefined;
  const { loadTopology, TopologyFileError } = await import('../collect/topology-file.js');
  try {
    return await loadTopology(file);
  } catch (err) {
    if (err instanceof TopologyFileError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}
