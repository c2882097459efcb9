/**
 * Tar archives built byte by byte, so tests can make the hostile ones no tar tool writes on
 * purpose: `..` paths, links out of the tree, device files, sizes that lie, a missing end.
 */
import { gzipSync } from 'node:zlib';

export interface TarEntry {
  name: string;
  /** ustar typeflag: 0 file, 1 hard link, 2 symlink, 3 char device, 4 block device, 5 directory, 6 FIFO. */
  type?: string;
  data?: Buffer | string;
  linkname?: string;
  /** The size the header declares, when it must differ from the data's. */
  declaredSize?: number;
}

function field(h: Buffer, at: number, len: number, value: string): void {
  h.write(value, at, len, 'utf8');
}

const octal = (n: number, digits: number) => n.toString(8).padStart(digits, '0');

export function tarHeader(e: TarEntry): Buffer {
  const h = Buffer.alloc(512);
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
  field(h, 0, 100, e.name);
  field(h, 100, 8, `${octal(e.type === '5' ? 0o755 : 0o644, 7)}\0`);
  field(h, 108, 8, `${octal(0, 7)}\0`);
  field(h, 116, 8, `${octal(0, 7)}\0`);
  field(h, 124, 12, `${octal(e.declaredSize ?? data.length, 11)}\0`);
  field(h, 136, 12, `${octal(0, 11)}\0`);
  field(h, 148, 8, '        ');
  field(h, 156, 1, e.type ?? '0');
  if (e.linkname) field(h, 157, 100, e.linkname);
  field(h, 257, 6, 'ustar\0');
  field(h, 263, 2, '00');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i];
  field(h, 148, 8, `${octal(sum, 6)}\0 `);
  return h;
}

/** A whole archive; `end: false` leaves out the end-of-archive blocks. */
export function tarOf(entries: TarEntry[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e));
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const tgzOf = (entries: TarEntry[], opts: { end?: boolean } = {}): Buffer => gzipSync(tarOf(entries, opts), { level: 1 });

/** `count` empty directory entries named by `nameOf(i)`: a header template patched per entry (fast for bombs). */
export function tarOfDirectories(count: number, nameOf: (i: number) => string): Buffer {
  const template = tarHeader({ name: '', type: '5' });
  const out = Buffer.alloc(count * 512 + 1024);
  for (let i = 0; i < count; i++) {
    const h = out.subarray(i * 512, i * 512 + 512);
    template.copy(h);
    h.write(nameOf(i), 0, 100, 'latin1');
    h.write('        ', 148, 8, 'latin1');
    let sum = 0;
    for (let k = 0; k < 512; k++) sum += h[k];
    h.write(`${octal(sum, 6)}\0 `, 148, 8, 'latin1');
  }
  return out;
}
