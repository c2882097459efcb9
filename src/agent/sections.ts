/**
 * A section on the wire: cut into `section` messages that each fit the server's maxPayload once
 * JSON-escaped (docs/protocol.md, "Sections").
 */

const MiB = 1024 * 1024;

// What JSON escapes other than as a backslash and a letter, or UTF-8 makes longer than one byte.
const NOT_PLAIN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\uffff]/;

/**
 * The bytes of `content.slice(at, end)` once JSON-escaped. Of an ASCII piece without control
 * characters but newlines and tabs (a dump's usual case) they are counted (its length, the quotes,
 * a backslash before each `"`, `\`, newline, carriage return and tab) instead of made into the
 * escaped copy (4 MB a piece).
 */
function escapedBytes(content: string, at: number, end: number): number {
  const piece = content.slice(at, end);
  if (NOT_PLAIN.test(piece)) return Buffer.byteLength(JSON.stringify(piece));
  let n = piece.length + 2;
  for (const c of ['"', '\\', '\n', '\r', '\t']) for (let k = piece.indexOf(c); k >= 0; k = piece.indexOf(c, k + 1)) n++;
  return n;
}

/** The pieces of `content`, in order, each a `section` message's `data` under `maxPayload` bytes. */
export function sectionChunks(content: string, maxPayload: number): string[] {
  const budget = maxPayload - 1024;
  const size = Math.max(16 * 1024, Math.min(4 * MiB, Math.floor(budget / 2)));
  const chunks: string[] = [];
  let at = 0;
  while (at < content.length) {
    let end = Math.min(content.length, at + size);
    // Escapes (quotes, backslashes, control characters) and UTF-8 can make a piece longer than its characters.
    while (end - at > 1024 && escapedBytes(content, at, end) > budget) end = at + ((end - at) >> 1);
    chunks.push(content.slice(at, end));
    at = end;
  }
  if (chunks.length === 0) chunks.push('');
  return chunks;
}
