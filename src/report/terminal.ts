/**
 * Text from a bundle or an agent made safe for a terminal (DESIGN.md's Safety; docs/bundle.md): interface names, iptables comments, route lines, host names and messages can carry
 * escape sequences (`\x1b[31m`, `\x1b]0;title\x07`), a `\r` that hides what precedes it, a
 * newline that forges a line, or bidirectional overrides that reorder it. Every face that
 * prints such text as text passes it through safeText; JSON goes through safeJson.
 */

/** DEL, the C1 controls (0x9b is an 8-bit CSI) and the bidirectional formatting characters. */
const ABOVE_C0 = '\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';
/** What a terminal would act on: those and the C0 controls but tab. */
const UNSAFE = new RegExp(`[\\x00-\\x08\\x0a-\\x1f${ABOVE_C0}]`, 'g');
/** What JSON.stringify leaves raw inside strings (it escapes every C0 control itself). */
const UNSAFE_IN_JSON = new RegExp(`[${ABOVE_C0}]`, 'g');

const hex = (c: string, width: number): string => c.charCodeAt(0).toString(16).padStart(width, '0');

/** One line of untrusted text with every unsafe character written as `\xNN` (`\uNNNN` above 0xff). */
export function safeText(s: string | undefined): string {
  // A bundle's meta.json may lack a field the types promise (collectedAt, a name): print nothing, never throw.
  if (typeof s !== 'string') return s === undefined || s === null ? '' : safeText(String(s));
  return s.replace(UNSAFE, (c) => (c.charCodeAt(0) <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
}

/** Several lines (an error message, a block of output): each line made safe, the newlines kept. */
export function safeLines(s: string): string {
  return s.split('\n').map(safeText).join('\n');
}

/**
 * JSON for a terminal: JSON.stringify escapes C0 controls already; DEL, C1 and bidi become
 * `\uNNNN` too. They occur only inside strings, so the JSON and its values are unchanged.
 */
export function safeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(UNSAFE_IN_JSON, (c) => `\\u${hex(c, 4)}`);
}
