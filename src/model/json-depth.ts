/**
 * How deeply a JSON text nests, read from the text itself before anything parses or walks it:
 * a report nested thousands of levels deep must be refused as data, not overflow a recursive
 * walk later (JSON.stringify, a schema, the store).
 */

/** The first place where `text` nests deeper than `limit` arrays and objects, or undefined. */
export function jsonTooDeep(text: string, limit: number): { depth: number; offset: number } | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > limit) return { depth, offset: i };
    } else if (c === 125 || c === 93) depth--;
  }
  return undefined;
}
