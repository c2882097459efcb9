/**
 * kfree-skb: skb:kfree_skb events as a tracefs buffer prints them (trace_pipe or trace), and the
 * event's `format` file, which holds the kernel's own names of its drop reasons.
 *
 *   ping-4242  [001] ..s1.  812.127: kfree_skb: skbaddr=0000000012ab rx_sk=0000000000000000 protocol=2048 location=ip_rcv_finish_core+0x1d2/0x4b0 reason: IP_RPFILTER
 *   CPU:1 [LOST 23 EVENTS]
 *
 * Records are the events: reason, location (the function, offset removed) and protocol.
 */
import type { DropEventRecord } from '../src/model/kernel.js';
import { guarded, splitLines, type ParseResult, type ParseWarning, type Parser } from './types.js';

const EVENT = /\bkfree_skb:.*?(?:\bprotocol=(\d+))?\s+location=(\S+)\s+reason:\s+(\S+)/;
const LOST = /\[LOST (\d+) EVENTS\]/;

/** `ip_rcv_finish_core+0x1d2/0x4b0` → `ip_rcv_finish_core`; a bare address stays as printed. */
export function locationName(printed: string): string {
  const plus = printed.indexOf('+0x');
  return plus > 0 ? printed.slice(0, plus) : printed;
}

/** One line: an event, a lost-events note, or nothing this parser reads. */
export function parseTraceLine(line: string): { reason: string; location: string; protocol?: number } | { lost: number } | undefined {
  const m = EVENT.exec(line);
  if (m) return { reason: m[3], location: locationName(m[2]), protocol: m[1] !== undefined ? Number(m[1]) : undefined };
  const lost = LOST.exec(line);
  return lost ? { lost: Number(lost[1]) } : undefined;
}

export function parse(text: string): ParseResult<DropEventRecord> {
  return guarded(text, (t) => {
    const records: DropEventRecord[] = [];
    const warnings: ParseWarning[] = [];
    splitLines(t).forEach((line, k) => {
      if (line.trim() === '' || line.startsWith('#')) return;
      const r = parseTraceLine(line);
      if (r === undefined) warnings.push({ lineNumber: k + 1, text: line, reason: 'not a kfree_skb event line' });
      else if ('lost' in r) warnings.push({ lineNumber: k + 1, text: line, reason: `the trace buffer lost ${r.lost} events here` });
      else records.push({ reason: r.reason, location: r.location, ...(r.protocol !== undefined ? { protocol: r.protocol } : {}), origin: { lineNumber: k + 1, text: line.trim() } });
    });
    return { records, warnings };
  });
}

export const parser: Parser<DropEventRecord> = {
  name: 'kfree-skb',
  description: 'skb:kfree_skb trace events (tracefs trace_pipe or trace): drop reason, location, protocol',
  parse,
};

/** What an event's format file says: its fields and, for kfree_skb, the drop reasons by number. */
export interface EventFormat {
  fields: string[];
  /** From `__print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, ...)`; empty when the event has none. */
  reasons: Map<number, string>;
}

/** Parse tracefs `events/<system>/<event>/format`; never throws. */
export function parseEventFormat(text: string): EventFormat {
  const fields: string[] = [];
  const reasons = new Map<number, string>();
  if (typeof text !== 'string') return { fields, reasons };
  for (const m of text.matchAll(/field:[^;]*?(\w+)(?:\[\d*\])?;/g)) fields.push(m[1]);
  const at = text.indexOf('__print_symbolic(REC->reason');
  if (at >= 0) {
    for (const m of text.slice(at).matchAll(/\{\s*(\d+)\s*,\s*"([A-Z0-9_]+)"\s*\}/g)) reasons.set(Number(m[1]), m[2]);
  }
  return { fields, reasons };
}
