/**
 * The archive reader (src/collect/archive-tar.ts, archive.ts, bundle-tree.ts): archives of every
 * compression read in memory the same as the directory they hold; every hostile archive refused
 * with its reason, built here byte by byte (test/helpers/tar.ts); limits by entries and bytes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { readArchive } from '../../src/collect/archive.js';
import { readTar } from '../../src/collect/archive-tar.js';
import { openBundles } from '../../src/collect/bundle-open.js';
import { ArchiveTree, singleTopDirectory } from '../../src/collect/bundle-tree.js';
import { readBundle } from '../../src/collect/bundle.js';
import { UnsafeBundleError } from '../../src/collect/errors.js';
import { repoRoot } from '../helpers/samples.js';
import { tarOf, tarOfDirectories, tgzOf, type TarEntry } from '../helpers/tar.js';

const tmp = mkdtempSync(join(tmpdir(), 'hc-archive-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const ecs3 = join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3');
const sos391 = join(repoRoot, 'fixtures', 'bundles', 'sos-3.9.1-layout');

let n = 0;
function write(data: Buffer): string {
  const p = join(tmp, `a${++n}`);
  writeFileSync(p, data);
  return p;
}

async function refusal(entries: TarEntry[] | Buffer): Promise<string> {
  const path = write(Buffer.isBuffer(entries) ? entries : tgzOf(entries));
  const err = await openBundles(path).then(() => undefined, (e: Error) => e);
  expect(err, 'refused').toBeInstanceOf(Error);
  return (err as Error).message;
}

async function* chunks(b: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += 700) yield b.subarray(i, i + 700);
}

const meta = JSON.stringify({ bundleFormat: 1, hostname: 'h', sources: [] });

describe('archives read in memory', () => {
  it('a hostcheck bundle as .tar.gz, .tar.xz, .tar.bz2, .tar.zst and plain .tar gives the bundle its directory gives', async () => {
    const direct = await readBundle(ecs3);
    for (const [flag, ext] of [['-z', 'tgz'], ['-J', 'txz'], ['-j', 'tbz'], ['--zstd', 'tzst'], ['', 'tar']]) {
      const file = join(tmp, `ecs3.${ext}`);
      execFileSync('tar', ['-c', ...(flag ? [flag] : []), '-f', file, '-C', join(ecs3, '..'), 'ecs3']);
      const [b] = await openBundles(file);
      expect(b.meta, ext).toEqual(direct.meta);
      expect(b.files, ext).toEqual(direct.files);
    }
  });

  it('links inside the tree are followed, also through linked directories (proc/net -> self/net, self -> 2308)', async () => {
    const contents = await readTar(chunks(tarOf([
      { name: 'r/proc/2308/net/dev', data: 'x\n' }, { name: 'r/proc/self', type: '2', linkname: '2308' }, { name: 'r/proc/net', type: '2', linkname: 'self/net' },
      { name: 'r/loop', type: '2', linkname: 'loop' },
    ])), () => true);
    const tree = singleTopDirectory(new ArchiveTree('t', contents));
    expect(tree.text('proc/net/dev')).toBe('x\n');
    expect(tree.list('proc/net')).toEqual(['dev']);
    expect(tree.text('loop')).toBeUndefined();
  });

  it('a sosreport archive made with tar -C DIR . (a ./ entry, the ip_addr link)', async () => {
    const file = join(tmp, 'sos391.tar.xz');
    execFileSync('tar', ['-cJf', file, '-C', sos391, '.']);
    const contents = await readArchive(file, () => true);
    expect(contents.symlinks.get('sosreport-sos-lab.0-19700101000000/ip_addr')).toBe('sosreport-sos-lab.0-19700101000000/sos_commands/networking/ip_-o_addr');
    const bundles = await openBundles(file);
    expect(bundles.map((b) => b.meta.name)).toContain('sos-lab:hclab-0-0000-ecs3');
  });

  it('keeps only the files a layout reads; the rest is counted and skipped', async () => {
    const contents = await readTar(chunks(tarOf([{ name: 'r/sos_commands/networking/ip_-4_rule', data: 'x\n' }, { name: 'r/var/log/messages', data: 'y'.repeat(5000) }])), (p) => p.includes('networking'));
    expect([...contents.files.keys()]).toEqual(['r/sos_commands/networking/ip_-4_rule']);
    expect(contents.paths.has('r/var/log/messages')).toBe(true);
  });
});

describe('hostile archives are refused', () => {
  it('path traversal with ..', async () => {
    expect(await refusal([{ name: 'b/meta.json', data: meta }, { name: 'b/../../escaped.txt', data: 'x' }])).toMatch(/path traversal/);
  });
  it('an absolute path', async () => {
    expect(await refusal([{ name: '/tmp/hc-absolute.txt', data: 'x' }])).toMatch(/absolute path/);
  });
  it('a symbolic link out of the tree, relative or absolute', async () => {
    expect(await refusal([{ name: 'b/meta.json', data: meta }, { name: 'b/ip-route-v4.txt', type: '2', linkname: '../../../etc/passwd' }])).toMatch(/points outside the archive/);
    expect(await refusal([{ name: 'b/ip-route-v4.txt', type: '2', linkname: '/etc/passwd' }])).toMatch(/outside the archive, to the absolute path/);
  });
  it('a hard link out of the tree, or to nothing in it', async () => {
    expect(await refusal([{ name: 'b/x', type: '1', linkname: '../../etc/shadow' }])).toMatch(/path traversal/);
    expect(await refusal([{ name: 'b/x', type: '1', linkname: '/etc/shadow' }])).toMatch(/absolute path/);
    expect(await refusal([{ name: 'b/x', type: '1', linkname: 'etc/shadow' }])).toMatch(/names no earlier entry/);
  });
  it('device files and FIFOs', async () => {
    expect(await refusal([{ name: 'b/ip-route-v4.txt', type: '3' }])).toMatch(/device file \(character\)/);
    expect(await refusal([{ name: 'b/ip-route-v4.txt', type: '4' }])).toMatch(/device file \(block\)/);
    expect(await refusal([{ name: 'b/ip-route-v4.txt', type: '6' }])).toMatch(/FIFO/);
  });
  it('an entry that declares more bytes than the limit (refused before reading them)', async () => {
    expect(await refusal([{ name: 'b/big', data: 'x', declaredSize: 5 * 2 ** 30 }])).toMatch(/archive bomb: an entry declares 5368709120 bytes/);
  });
  it('more entries than the limit (200,000)', async () => {
    expect(await refusal(gzipSync(tarOfDirectories(200_001, (i) => `b/${i}`), { level: 1 }))).toMatch(/archive bomb: more than 200000 entries/);
  }, 60_000);
  it('more uncompressed bytes than the limit: a small gzip of zeros (limit lowered to 16 MiB here)', async () => {
    const files = Array.from({ length: 8 }, (_, i) => ({ name: `b/zeros${i}`, data: Buffer.alloc(8 * 2 ** 20) }));
    const zeros = gzipSync(tarOf(files), { level: 9 });
    expect(zeros.length).toBeLessThan(200_000);
    const err = await readArchive(write(zeros), () => true, { maxBytes: 16 * 2 ** 20 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(UnsafeBundleError);
    expect((err as Error).message).toMatch(/archive bomb: more than 16777216 bytes uncompressed/);
  });
  it('a kept file over the per-file limit', async () => {
    const err = await readArchive(write(tgzOf([{ name: 'b/meta.json', data: 'x'.repeat(2000) }])), () => true, { maxFileBytes: 1000 }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/"b\/meta.json" is 2000 bytes, over the limit of 1000/);
  });
  it('a truncated archive: gzip, xz, inside an entry, without its end', async () => {
    const whole = tgzOf([{ name: 'b/meta.json', data: meta }, { name: 'b/ip-route-v4.txt', data: 'r'.repeat(100_000) }]);
    expect(await refusal(whole.subarray(0, whole.length / 2))).toMatch(/truncated archive: the gzip stream/);
    const xz = join(tmp, 'whole.tar.xz');
    execFileSync('tar', ['-cJf', xz, '-C', join(ecs3, '..'), 'ecs3']);
    const bytes = readFileSync(xz);
    expect(await refusal(bytes.subarray(0, bytes.length - 100))).toMatch(/truncated archive: xz says/);
    const plain = tarOf([{ name: 'b/meta.json', data: meta }, { name: 'b/x', data: 'y'.repeat(3000) }]);
    expect(await refusal(plain.subarray(0, 1536))).toMatch(/truncated archive: it ends inside an entry/);
    expect(await refusal(tgzOf([{ name: 'b/meta.json', data: meta }], { end: false }))).toMatch(/no end-of-archive marker/);
  });
  it('a damaged header, and a file that is no archive', async () => {
    const t = tarOf([{ name: 'b/meta.json', data: meta }]);
    t[10] ^= 0xff;
    expect(await refusal(gzipSync(t))).toMatch(/bad header checksum/);
    expect(await refusal(Buffer.from('just text\n'))).toMatch(/neither a directory nor an archive/);
  });
  it('an archive or directory of no known layout', async () => {
    expect(await refusal([{ name: 'x/notes.txt', data: 'hello' }, { name: 'x/more.txt', data: 'hi' }])).toMatch(/no bundle layout hostcheck knows/);
    const dir = join(tmp, 'nolayout');
    mkdirSync(join(dir, 'a'), { recursive: true });
    writeFileSync(join(dir, 'a', 'x'), '');
    writeFileSync(join(dir, 'y'), '');
    await expect(openBundles(dir)).rejects.toThrow(/no bundle layout hostcheck knows/);
  });
});

describe('directories are read inside themselves only', () => {
  it('meta.json naming a file outside the bundle', async () => {
    const dir = join(tmp, 'metaout');
    mkdirSync(dir);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ bundleFormat: 1, hostname: 'h', sources: [{ name: 'ip-route-v4', file: '../../../etc/passwd', status: 'collected' }] }));
    await expect(readBundle(dir)).rejects.toThrow(/path traversal/);
  });
  it('a bundle file that is a link out of the directory', async () => {
    const dir = join(tmp, 'linkout');
    mkdirSync(dir);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ bundleFormat: 1, hostname: 'h', sources: [{ name: 'ip-route-v4', file: 'ip-route-v4.txt', status: 'collected' }] }));
    symlinkSync('/etc/passwd', join(dir, 'ip-route-v4.txt'));
    await expect(readBundle(dir)).rejects.toThrow(/leads outside the bundle/);
  });
  it('a FIFO where a file should be (reading it would block)', async () => {
    const dir = join(tmp, 'fifo');
    mkdirSync(dir);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ bundleFormat: 1, hostname: 'h', sources: [{ name: 'ip-route-v4', file: 'ip-route-v4.txt', status: 'collected' }] }));
    execFileSync('mkfifo', [join(dir, 'ip-route-v4.txt')]);
    await expect(readBundle(dir)).rejects.toThrow(/not a regular file/);
  });
});
