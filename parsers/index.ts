/**
 * The parser registry: keys are format names, equal to the file names in this folder and to
 * `hostcheck parse FORMAT`. A test asserts keys = files = fixture folders = docs entries.
 */
import type { Parser } from './types.js';

export const parsers: Record<string, Parser> = {};

export function parserFor(format: string): Parser | undefined {
  return Object.prototype.hasOwnProperty.call(parsers, format) ? parsers[format] : undefined;
}
