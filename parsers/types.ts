/**
 * The contract every parser in this folder keeps: pure text in, typed records plus
 * line-numbered warnings out, never a throw on input.
 */

/** One piece of input a parser could not read, and why. */
export interface ParseWarning {
  lineNumber: number;
  text: string;
  reason: string;
}

export interface ParseResult<T> {
  records: T[];
  warnings: ParseWarning[];
  /** Which form of the format was detected (e.g. "text" or "json"). */
  form?: string;
}

/** A parser module: `parse` must never throw on any input string. */
export interface Parser<T = unknown> {
  /** Format name, equal to the file name and to the CLI's `hostcheck parse FORMAT`. */
  name: string;
  /** One line for `hostcheck parse --help`. */
  description: string;
  parse(text: string, opts?: ParseOptions): ParseResult<T>;
}

/** Hints a caller may give; a parser that needs none ignores them. */
export interface ParseOptions {
  /** Address family when the input does not say (e.g. `ip -6 rule` prints `from all`). */
  family?: 4 | 6;
  /** ip-route: the table of routes whose line names none (`ip route list table NAME` output). */
  table?: string;
}

/** Split text into lines without allocating per-line regexes; keeps a trailing partial line. */
export function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.length > 0 && l.charCodeAt(l.length - 1) === 13) lines[i] = l.slice(0, -1);
  }
  return lines;
}

/** Run a parser body and turn any unexpected exception into a warning (a last line of defence). */
export function guarded<T>(text: unknown, body: (text: string) => ParseResult<T>): ParseResult<T> {
  return guard(text, body, (w) => ({ records: [], warnings: [w] }));
}

/** guarded for a parser whose result is not a ParseResult: `failed` makes the empty result. */
export function guard<R>(text: unknown, body: (text: string) => R, failed: (warning: ParseWarning) => R): R {
  if (typeof text !== 'string') return failed({ lineNumber: 0, text: '', reason: 'input is not text' });
  try {
    return body(text);
  } catch (err) {
    return failed({ lineNumber: 0, text: '', reason: `internal parser error: ${(err as Error).message}` });
  }
}

/**
 * The top-level array of an `ip -j` dump, or the one warning that says why there is none
 * (`what` names the elements: "routes", "rules").
 */
export function jsonArrayOf(text: string, what: string): { items: unknown[] } | { warning: ParseWarning } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { warning: { lineNumber: 1, text: text.slice(0, 200), reason: `invalid JSON: ${(err as Error).message}` } };
  }
  if (!Array.isArray(data)) return { warning: { lineNumber: 1, text: text.slice(0, 200), reason: `JSON is not an array of ${what}` } };
  return { items: data };
}
