/**
 * readTextFile / readTextFd (src/collect/read-text.ts): a command's output read through a reused
 * 256 KiB buffer is the text readFileSync(path, 'utf8') gives, whatever the bytes (UTF-8 sequences
 * cut between two reads, invalid bytes, a BOM, an empty file), and from byte 0 whatever the offset.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTextFd, readTextFile } from '../../src/collect/read-text.js';
import { seededUint32 } from '../helpers/prng.js';

const dir = mkdtempSync(join(tmpdir(), 'hostcheck-read-text-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STEP = 256 * 1024;

describe('readTextFile', () => {
  it('gives what readFileSync gives: multi-byte sequences across reads, invalid bytes, a BOM, no bytes', () => {
    const next = seededUint32(22);
    const sizes = [0, 1, 3, STEP - 1, STEP, STEP + 1, 2 * STEP + 2, 3 * STEP - 3];
    let files = 0;
    for (const size of sizes) {
      for (const bom of [false, true]) {
        const bytes = Buffer.alloc(size);
        // Mostly ASCII, with two-, three- and four-byte sequences and stray continuation bytes.
        for (let i = 0; i < size;) {
          const r = next() % 20;
          const seq = r < 14 ? [97 + (next() % 26)] : r < 16 ? [...Buffer.from('é')] : r < 18 ? [...Buffer.from('→')] : r < 19 ? [...Buffer.from('😀')] : [0x80 + (next() % 0x40)];
          for (const b of seq) if (i < size) bytes[i++] = b;
        }
        if (bom && size >= 3) bytes.set([0xef, 0xbb, 0xbf]);
        // A four-byte sequence exactly across the first read's end.
        if (size > STEP + 2) bytes.set(Buffer.from('😀'), STEP - 2);
        const path = join(dir, `f${files++}`);
        writeFileSync(path, bytes);
        expect(readTextFile(path), `${size} bytes${bom ? ', BOM' : ''}`).toBe(readFileSync(path, 'utf8'));
      }
    }
  });

  it('reads a descriptor from byte 0 after a writer moved its offset to the end, and throws like readFileSync on a missing file', () => {
    const path = join(dir, 'written');
    const fd = openSync(path, 'w+');
    try {
      const text = 'default via 10.0.0.1 dev eth0\n'.repeat(20_000);
      writeSync(fd, text);
      expect(readTextFd(fd)).toBe(text);
    } finally {
      closeSync(fd);
    }
    expect(() => readTextFile(join(dir, 'missing'))).toThrow(/ENOENT/);
  });
});
