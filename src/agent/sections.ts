/**
 * A section on the wire: cut into `section` messages that each fit the server's maxPayload once
 * JSON-escaped (docs/protocol.md, "Sections").
 */

const MiB = 1024 * 1024;

/** The pieces of `content`, in order, each a `section` message's `data` under `maxPayload` bytes. */
export function sectionChunks(content: string, maxPayload: number): string[] {
  const budget = maxPayload - 1024;
  const size = Math.max(16 * 1024, Math.min(4 * MiB, Math.floor(budget / 2)));
  const chunks: string[] = [];
  let at = 0;
  while (at < content.length) {
    let end = Math.min(content.length, at + size);
    // Escapes (quotes, backslashes, control characters) and UTF-8 can make a piece longer than its characters.
    while (end - at > 1024 && Buffer.byteLength(JSON.stringify(content.slice(at, end))) > budget) end = at + ((end - at) >> 1);
    chunks.push(content.slice(at, end));
    at = end;
  }
  if (chunks.length === 0) chunks.push('');
  return chunks;
}
