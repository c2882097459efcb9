/**
 * Archives of bundles (`.tar`, `.tar.gz`, `.tar.xz`, `.tar.bz2`, `.tar.zst`), read in memory by
 * archive-tar.ts. The compression is told by the file's first bytes, not its name. gzip is
 * Node's zlib; xz, bzip2 and zstd run the system's decompressor as a filter from the file to a
 * pipe (never `tar`, and never anything that writes a file).
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { readTar, type ArchiveLimits, type TarContents, DEFAULT_ARCHIVE_LIMITS } from './archive-tar.js';
import { UnsafeBundleError, UsageError } from './errors.js';

export type Compression = 'gzip' | 'xz' | 'bzip2' | 'zstd' | 'none';

const MAGIC: [Compression, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** Filters for the compressions zlib does not read: [program, args, Debian package]. */
const FILTERS: Record<'xz' | 'bzip2' | 'zstd', [string, string[], string]> = {
  xz: ['xz', ['-dc'], 'xz-utils'],
  bzip2: ['bzip2', ['-dc'], 'bzip2'],
  zstd: ['zstd', ['-dcq'], 'zstd'],
};

/** The compression of an archive file, or undefined when it is no archive hostcheck reads. */
export async function archiveCompression(path: string): Promise<Compression | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await fh.read(head, 0, 512, 0);
    for (const [kind, magic] of MAGIC) if (bytesRead >= magic.length && magic.every((b, i) => head[i] === b)) return kind;
    if (bytesRead === 512 && head.toString('ascii', 257, 262) === 'ustar') return 'none';
    return undefined;
  } finally {
    await fh.close();
  }
}

async function* gunzipped(path: string): AsyncGenerator<Buffer> {
  const file = createReadStream(path);
  const gunzip = createGunzip();
  file.on('error', (err) => gunzip.destroy(err));
  file.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (err) {
    const message = (err as Error).message;
    if (/unexpected end of file/i.test(message)) throw new UnsafeBundleError(`truncated archive: the gzip stream of ${path} ends early`, { cause: err });
    throw new UnsafeBundleError(`damaged archive: ${path}: gzip: ${message}`, { cause: err });
  } finally {
    file.destroy();
    gunzip.destroy();
  }
}

/** The system decompressor reading the file and writing to a pipe; killed when reading stops early. */
async function* filtered(path: string, kind: 'xz' | 'bzip2' | 'zstd'): AsyncGenerator<Buffer> {
  const [program, args, pkg] = FILTERS[kind];
  const fh = await open(path, 'r');
  const child = spawn(program, args, { stdio: [fh.fd, 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } });
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (c: Buffer) => stderr.length < 64 && stderr.push(c));
  const exited = new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
    child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
    child.on('close', (code) => resolve({ code }));
  });
  let finished = false;
  try {
    for await (const chunk of child.stdout!) yield chunk as Buffer;
    finished = true;
  } finally {
    if (!finished) child.kill('SIGKILL');
    const { code, error } = await exited;
    await fh.close();
    if (finished) {
      if (error?.code === 'ENOENT') throw new UsageError(`${path} is ${kind}-compressed and ${program} is not installed (apt-get install ${pkg})`, { cause: error });
      if (error) throw new UsageError(`${program}: ${error.message}`, { cause: error });
      if (code !== 0) {
        const text = Buffer.concat(stderr).toString('utf8').trim().split('\n')[0] ?? '';
        if (/unexpected end of input|premature end|truncated|unexpected end of file/i.test(text)) throw new UnsafeBundleError(`truncated archive: ${program} says: ${text}`);
        throw new UnsafeBundleError(`damaged archive: ${program} exited ${code}: ${text}`);
      }
    }
  }
}

/** Read an archive file: the wanted regular files in memory, every path and link. */
export async function readArchive(path: string, wanted: (path: string) => boolean, limits: Partial<ArchiveLimits> = {}): Promise<TarContents> {
  const kind = await archiveCompression(path);
  if (kind === undefined) throw new UsageError(`${path} is neither a directory nor an archive hostcheck reads (.tar, .tar.gz, .tar.xz, .tar.bz2, .tar.zst)`);
  const source = kind === 'gzip' ? gunzipped(path) : kind === 'none' ? (createReadStream(path) as AsyncIterable<Buffer>) : filtered(path, kind);
  return readTar(source, wanted, { ...DEFAULT_ARCHIVE_LIMITS, ...limits });
}
