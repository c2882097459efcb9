/**
 * A tar stream read in memory, refusing anything that could reach outside the archive: absolute
 * paths, `..`, symbolic and hard links that leave the tree, device files and FIFOs, too many
 * entries or bytes, and an archive that ends early. Nothing is written anywhere: regular files
 * the caller wants are kept as Buffers, the rest is only counted and skipped.
 *
 * Reads ustar, GNU (long names `L`/`K`, base-256 sizes) and pax (`x` path/linkpath/size) headers,
 * which covers Python's tarfile (sos), GNU tar (calicoctl) and `tar czf` of a hostcheck bundle.
 */
import { UnsafeBundleError } from './errors.js';

export interface ArchiveLimits {
  /** Entries of any type. */
  maxEntries: number;
  /** Bytes of the uncompressed tar stream. */
  maxBytes: number;
  /** Bytes of one kept file. */
  maxFileBytes: number;
}

/** A full sosreport holds some 10,000 files and rarely passes 1 GiB uncompressed. */
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxEntries: 200_000, maxBytes: 4 * 2 ** 30, maxFileBytes: 256 * 2 ** 20 };

/** What was read: kept files, every path, and the links (targets as normalised archive paths). */
export interface TarContents {
  files: Map<string, Buffer>;
  /** Every entry's path (files, directories, links). */
  paths: Set<string>;
  /** The directory entries (an empty one has no other trace). */
  directories: Set<string>;
  symlinks: Map<string, string>;
}

const BLOCK = 512;

/** Normalise an entry path; refuses absolute paths and `..` ('' is the archive's root, `./`). */
export function safeEntryPath(raw: string, what = 'entry', root = false): string {
  if (raw.startsWith('/')) throw new UnsafeBundleError(`${what} "${raw}" has an absolute path`);
  const parts: string[] = [];
  for (const p of raw.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw new UnsafeBundleError(`${what} "${raw}" leaves the archive (path traversal with "..")`);
    parts.push(p);
  }
  if (parts.length === 0 && !root) throw new UnsafeBundleError(`${what} "${raw}" has an empty path`);
  return parts.join('/');
}

/** Where a relative symbolic link points, as an archive path; refuses targets outside the tree. */
export function symlinkTarget(link: string, target: string): string {
  if (target.startsWith('/')) throw new UnsafeBundleError(`symbolic link "${link}" points outside the archive, to the absolute path "${target}"`);
  const parts = link.split('/').slice(0, -1);
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) throw new UnsafeBundleError(`symbolic link "${link}" -> "${target}" points outside the archive`);
      parts.pop();
    } else parts.push(p);
  }
  return parts.join('/');
}

function cString(b: Buffer, start: number, len: number): string {
  const end = b.indexOf(0, start);
  return b.toString('utf8', start, end < 0 || end > start + len ? start + len : end);
}

function octal(b: Buffer, start: number, len: number, field: string): number {
  if (b[start] & 0x80) {
    // GNU base-256: big-endian binary after the marker bit; a negative value (0xff) is refused.
    if (b[start] === 0xff) throw new UnsafeBundleError(`tar header has a negative ${field}`);
    let v = BigInt(b[start] & 0x7f);
    for (let i = start + 1; i < start + len; i++) v = (v << 8n) | BigInt(b[i]);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new UnsafeBundleError(`tar header ${field} ${v} is too large`);
    return Number(v);
  }
  const text = cString(b, start, len).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new UnsafeBundleError(`not a tar archive, or a damaged one: header ${field} "${text}" is not octal`);
  return parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = octal(h, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 32 : h[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

/** pax extended header records: "LEN key=value\n". */
function paxRecords(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(data.toString('ascii', at, space));
    if (!Number.isInteger(len) || len <= 0 || at + len > data.length) throw new UnsafeBundleError('damaged pax header in the archive');
    const record = data.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

/** Pulls exact byte counts out of a stream of chunks, counting every byte against the limit. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  total = 0;
  private done = false;
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>, private readonly maxBytes: number) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length - this.pos < n && !this.done) {
      const next = await this.it.next();
      if (next.done) {
        this.done = true;
        break;
      }
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
      this.total += chunk.length;
      if (this.total > this.maxBytes) throw new UnsafeBundleError(`archive bomb: more than ${this.maxBytes} bytes uncompressed (the limit)`);
      this.buf = this.pos === this.buf.length ? chunk : Buffer.concat([this.buf.subarray(this.pos), chunk]);
      this.pos = 0;
    }
    return this.buf.length - this.pos >= n;
  }

  /** Exactly n bytes (a view valid until the next read), or undefined when the stream ends first. */
  async read(n: number): Promise<Buffer | undefined> {
    if (this.buf.length - this.pos < n && !(await this.fill(n))) return undefined;
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Skip n bytes; false when the stream ends first. */
  async skip(n: number): Promise<boolean> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === this.pos && !(await this.fill(1))) return false;
      const step = Math.min(left, this.buf.length - this.pos);
      this.pos += step;
      left -= step;
    }
    return true;
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

/** Read a tar stream; `wanted(path)` says which regular files to keep. */
export async function readTar(source: AsyncIterable<Buffer>, wanted: (path: string) => boolean, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<TarContents> {
  const reader = new ByteReader(source, limits.maxBytes);
  const files = new Map<string, Buffer>();
  const paths = new Set<string>();
  const directories = new Set<string>();
  const symlinks = new Map<string, string>();
  const truncated = () => new UnsafeBundleError(`truncated archive: it ends inside an entry, after ${reader.total} bytes`);
  let entries = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, string>();
  try {
    for (;;) {
      const h = await reader.read(BLOCK);
      if (!h) {
        if (entries === 0 && reader.total === 0) throw new UnsafeBundleError('empty archive');
        throw new UnsafeBundleError(`truncated archive: no end-of-archive marker after ${reader.total} bytes`);
      }
      if (h[0] === 0 && h[156] === 0 && h.every((b) => b === 0)) break;
      if (!checksumOk(h)) throw new UnsafeBundleError(`not a tar archive, or a damaged one: bad header checksum at byte ${reader.total - BLOCK}`);
      const type = String.fromCharCode(h[156] || 0x30);
      const size = pax.has('size') ? Number(pax.get('size')) : octal(h, 124, 12, 'size');
      if (!Number.isSafeInteger(size) || size < 0) throw new UnsafeBundleError('tar header has an unreadable size');
      if (size > limits.maxBytes) throw new UnsafeBundleError(`archive bomb: an entry declares ${size} bytes, over the limit of ${limits.maxBytes}`);
      if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
        if (size > 1 << 20) throw new UnsafeBundleError(`archive bomb: a ${type} header of ${size} bytes`);
        const data = await reader.read(padded(size));
        if (!data) throw truncated();
        const body = data.subarray(0, size);
        if (type === 'x') pax = paxRecords(body);
        else if (type === 'L') longName = cString(body, 0, body.length);
        else if (type === 'K') longLink = cString(body, 0, body.length);
        continue;
      }
      if (++entries > limits.maxEntries) throw new UnsafeBundleError(`archive bomb: more than ${limits.maxEntries} entries (the limit)`);
      const ustar = h.toString('ascii', 257, 262) === 'ustar' && h[262] === 0;
      const prefix = ustar ? cString(h, 345, 155) : '';
      const rawName = pax.get('path') ?? longName ?? (prefix ? `${prefix}/${cString(h, 0, 100)}` : cString(h, 0, 100));
      const rawLink = pax.get('linkpath') ?? longLink ?? cString(h, 157, 100);
      pax = new Map();
      longName = longLink = undefined;
      const path = safeEntryPath(rawName, 'entry', type === '5');
      if (path === '') {
        if (!(await reader.skip(padded(size)))) throw truncated();
        continue;
      }
      switch (type) {
        case '0': case '7': {
          paths.add(path);
          if (wanted(path)) {
            if (size > limits.maxFileBytes) throw new UnsafeBundleError(`"${path}" is ${size} bytes, over the limit of ${limits.maxFileBytes} for one file`);
            const data = await reader.read(padded(size));
            if (!data) throw truncated();
            files.set(path, Buffer.from(data.subarray(0, size)));
          } else {
            if (!(await reader.skip(padded(size)))) throw truncated();
            files.delete(path);
          }
          symlinks.delete(path);
          continue;
        }
        case '5':
          paths.add(path);
          directories.add(path);
          break;
        case '2':
          symlinks.set(path, symlinkTarget(path, rawLink));
          paths.add(path);
          files.delete(path);
          break;
        case '1': {
          const target = safeEntryPath(rawLink, `hard link "${path}" ->`);
          if (!paths.has(target)) throw new UnsafeBundleError(`hard link "${path}" -> "${rawLink}" names no earlier entry of the archive`);
          paths.add(path);
          const data = files.get(target);
          if (data && wanted(path)) files.set(path, data);
          break;
        }
        case '3': case '4':
          throw new UnsafeBundleError(`"${path}" is a device file (${type === '3' ? 'character' : 'block'}): a bundle holds only files, directories and links`);
        case '6':
          throw new UnsafeBundleError(`"${path}" is a FIFO: a bundle holds only files, directories and links`);
        default:
          throw new UnsafeBundleError(`"${path}" has tar entry type "${type}", which a bundle never holds`);
      }
      if (!(await reader.skip(padded(size)))) throw truncated();
    }
  } finally {
    await reader.close();
  }
  return { files, paths, directories, symlinks };
}
