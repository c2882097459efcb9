/**
 * sectionChunks cuts a section into `section` messages under the server's maxPayload once
 * JSON-escaped; it counts a plain piece's escaped bytes instead of escaping it, and must count
 * what JSON.stringify makes.
 */
import { describe, expect, it } from 'vitest';
import { sectionChunks } from '../../src/agent/sections.js';
import { kubeProxyDump } from '../helpers/kube-proxy-dump.js';

describe('sectionChunks', () => {
  it('cuts dumps with quotes, backslashes, tabs and non-ASCII into pieces under the budget that join back whole', () => {
    const dump = kubeProxyDump(3000).text;
    const texts = [dump, `${dump}\t\\ "x"\r\n`.repeat(2), `é\u{1F600}${dump}`, `\u0001${dump}`, '"'.repeat(300_000), '\\\n'.repeat(200_000)];
    for (const maxPayload of [64 * 1024, 300 * 1024, 16 * 1024 * 1024]) {
      for (const text of texts) {
        const chunks = sectionChunks(text, maxPayload);
        expect(chunks.join('')).toBe(text);
        for (const c of chunks) expect(Buffer.byteLength(JSON.stringify(c))).toBeLessThanOrEqual(maxPayload - 1024);
        // A piece is halved only when it did not fit: with the budget counted right, escapes make more pieces.
        if (maxPayload === 64 * 1024 && text.startsWith('"')) expect(chunks.length).toBeGreaterThan(Math.ceil(text.length / ((64 * 1024 - 1024) / 2)));
      }
    }
  });
});
