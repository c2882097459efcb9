/**
 * What the agent keeps on disk: the last sequence number per host name (so (host, seq) stays
 * unique across restarts) and the per-host token an enrolment returned (mode 0600).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const DEFAULT_STATE_DIR = '/var/lib/hostcheck';
export const DEFAULT_TOKEN_FILE = '/var/lib/hostcheck/token';

/** A state file the agent cannot read or write. */
export class AgentStateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentStateError';
  }
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, path);
}

/** The sequence counter of one host name, persisted in the state dir. */
export class SeqStore {
  readonly path: string;

  constructor(dir: string, host: string) {
    // Names come from the operator, but keep them from walking out of the directory.
    this.path = join(dir, `seq-${host.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
  }

  async load(): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw new AgentStateError(`cannot read ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    const seq = (JSON.parse(text) as { seq?: unknown }).seq;
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) throw new AgentStateError(`${this.path}: no valid "seq" in ${text.slice(0, 80)}`);
    return seq;
  }

  async save(host: string, seq: number): Promise<void> {
    try {
      await writeAtomically(this.path, JSON.stringify({ host, seq }) + '\n', 0o600);
    } catch (err) {
      throw new AgentStateError(`cannot write ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }
}

/** A token file's content, or undefined when it does not exist. */
export async function readTokenFile(path: string): Promise<string | undefined> {
  try {
    const token = (await readFile(path, 'utf8')).trim();
    return token || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AgentStateError(`cannot read token file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** Store the per-host token an enrolment returned: owner-only, replaced atomically. */
export async function writeTokenFile(path: string, token: string): Promise<void> {
  try {
    await writeAtomically(path, token + '\n', 0o600);
  } catch (err) {
    throw new AgentStateError(`cannot write token file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}
