/**
 * What the agent keeps on disk: the last sequence number per host name (so (host, seq) stays
 * unique across restarts), the reports not yet acknowledged with the sections they name, the
 * per-host token an enrolment returned (mode 0600), and the change log's baseline: the host's
 * state at the last check, so a start can tell what changed while the agent was stopped.
 */
import { readFileSync } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ChangeBaseline } from '../changes/log.js';
import { stateFromJson, stateToJson, type ChangeState } from '../changes/state.js';
import type { OutboxEntry } from './outbox.js';

export const DEFAULT_STATE_DIR = '/var/lib/hostcheck';
export const DEFAULT_TOKEN_FILE = '/var/lib/hostcheck/token';

/** A state file the agent cannot read or write. */
export class AgentStateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentStateError';
  }
}

/** A host name as a file name part: names come from the operator, but must not walk out of the directory. */
function safeName(host: string): string {
  return host.replace(/[^A-Za-z0-9._-]/g, '_');
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
    this.path = join(dir, `seq-${safeName(host)}.json`);
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

/**
 * The change log's baseline, `changes-<name>.json`: the state of the last check that changed it,
 * written (atomically) only then; a check that finds nothing new only sets the file's time, which
 * is therefore the last check's time — where a start's "while the agent was stopped" begins.
 */
export class BaselineFile {
  readonly path: string;

  constructor(dir: string, host: string) {
    this.path = join(dir, `changes-${safeName(host)}.json`);
  }

  /** The saved state and when it was last confirmed; undefined when none, `unreadable` for a file of another format or damaged. */
  async load(): Promise<ChangeBaseline | 'unreadable' | undefined> {
    let text: string;
    let at: number;
    try {
      [text, at] = await Promise.all([readFile(this.path, 'utf8'), stat(this.path).then((s) => s.mtimeMs)]);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new AgentStateError(`cannot read ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    const state = stateFromJson(text);
    return state ? { state, at: Math.round(at) } : 'unreadable';
  }

  async save(state: ChangeState): Promise<void> {
    try {
      await writeAtomically(this.path, stateToJson(state), 0o600);
    } catch (err) {
      throw new AgentStateError(`cannot write ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }

  /** The state is still the saved one at `at` (ms): the file's time says so. */
  async confirm(at: number): Promise<void> {
    try {
      await utimes(this.path, at / 1000, at / 1000);
    } catch (err) {
      throw new AgentStateError(`cannot touch ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
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

/**
 * Unacknowledged reports on disk, so a kill -9 loses none and leaves no gap in the sequence:
 * `outbox-<name>/<seq>.json` per report and `outbox-<name>/sections/<digest>` per section they
 * name. A report is written before the sequence counter, so every number the counter reached is
 * either acknowledged or here; an acknowledged report's file and the sections no waiting report
 * names are removed.
 */
export class OutboxFiles {
  readonly dir: string;
  private readonly sectionDir: string;

  constructor(stateDir: string, host: string) {
    this.dir = join(stateDir, `outbox-${safeName(host)}`);
    this.sectionDir = join(this.dir, 'sections');
  }

  /** The waiting reports, oldest first; a file that does not read is skipped and named. */
  async load(): Promise<{ entries: OutboxEntry[]; unreadable: string[] }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], unreadable: [] };
      throw new AgentStateError(`cannot read ${this.dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    const entries: OutboxEntry[] = [];
    const unreadable: string[] = [];
    for (const name of names) {
      if (!/^\d+\.json$/.test(name)) continue;
      try {
        const entry = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as OutboxEntry;
        if (!Number.isInteger(entry.seq) || typeof entry.text !== 'string' || !Array.isArray(entry.sections)) throw new Error('not an outbox entry');
        for (const s of entry.sections) await access(this.sectionPath(s.digest));
        entries.push(entry);
      } catch {
        unreadable.push(join(this.dir, name));
      }
    }
    entries.sort((a, b) => a.seq - b.seq);
    return { entries, unreadable };
  }

  /** Store a report and the sections it names (those not stored already). */
  async put(entry: OutboxEntry, contents: ReadonlyMap<string, string>): Promise<void> {
    try {
      await mkdir(this.sectionDir, { recursive: true, mode: 0o700 });
      for (const s of entry.sections) {
        const path = this.sectionPath(s.digest);
        const content = contents.get(s.digest);
        if (content === undefined || (await exists(path))) continue;
        await writeAtomically(path, content, 0o600);
      }
      await writeAtomically(join(this.dir, `${entry.seq}.json`), JSON.stringify(entry), 0o600);
    } catch (err) {
      throw new AgentStateError(`cannot write the outbox in ${this.dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }

  /** Forget reports (acknowledged or dropped) and the sections no waiting report names. */
  async remove(seqs: readonly number[], waiting: readonly OutboxEntry[]): Promise<void> {
    for (const seq of seqs) await rm(join(this.dir, `${seq}.json`), { force: true });
    const keep = new Set(waiting.flatMap((e) => e.sections.map((s) => s.digest)));
    let names: string[] = [];
    try {
      names = await readdir(this.sectionDir);
    } catch {
      return;
    }
    for (const name of names) if (!keep.has(name)) await rm(join(this.sectionDir, name), { force: true });
  }

  /** A stored section's text (for a resend after reconnecting). */
  readSection(digest: string): string | undefined {
    try {
      return readFileSync(this.sectionPath(digest), 'utf8');
    } catch {
      return undefined;
    }
  }

  private sectionPath(digest: string): string {
    return join(this.sectionDir, digest.replace(/[^0-9a-f]/g, ''));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
