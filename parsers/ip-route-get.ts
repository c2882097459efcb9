/**
 * ip-route-get: the answers of `ip -o route get ...` (one per line; `-o` joins a route's
 * continuation lines with a backslash), as `ip -o -force -batch -` prints them for the questions
 * that did not fail; and `parseBatchErrors` for what that batch prints on stderr for the others
 * ("RTNETLINK answers: Invalid argument" then "Command failed -:3").
 *
 *   10.1.2.3 via 172.31.15.253 dev eth0 table 77 src 172.31.4.18 mark 7 uid 0 \    cache
 *   local 172.31.4.18 from 172.18.1.22 dev lo table local \    cache <local> iif eth0
 */
import type { RouteAnswer, RouteGetRecord } from '../src/model/kernel.js';
import { guarded, splitLines, type ParseResult, type ParseWarning, type Parser } from './types.js';

const TYPES = new Set(['unicast', 'local', 'broadcast', 'multicast', 'anycast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat']);
/** What `ip route get` prints as an error for a route of a reject type (the kernel answers so for IPv4). */
const REJECT_ERRORS: Record<string, string> = { blackhole: 'Invalid argument', unreachable: 'No route to host', prohibit: 'Permission denied' };

/** One answer line → the answer, or a reason it cannot be read. */
export function parseAnswerLine(line: string): { dst: string; answer: RouteAnswer } | { reason: string } {
  const words = line.replace(/\\/g, ' ').trim().split(/\s+/).filter((w) => w.length > 0);
  if (words.length === 0) return { reason: 'empty answer' };
  let i = 0;
  let type = 'unicast';
  if (TYPES.has(words[0])) type = words[i++];
  const dst = words[i++];
  if (dst === undefined || !/^[0-9a-fA-F.:]+(\/\d+)?$/.test(dst)) return { reason: 'no destination address' };
  if (REJECT_ERRORS[type]) return { dst, answer: { kind: 'error', error: REJECT_ERRORS[type] } };
  const hop: { dev?: string; via?: string } = {};
  for (; i < words.length; i++) {
    const w = words[i];
    if (w === 'dev' && words[i + 1] !== undefined) hop.dev = words[++i];
    else if (w === 'via' && words[i + 1] !== undefined) {
      // `via inet6 fe80::1` for a gateway of the other family.
      if ((words[i + 1] === 'inet' || words[i + 1] === 'inet6') && words[i + 2] !== undefined) i++;
      hop.via = words[++i];
    } else if (w === 'cache') break;
  }
  return { dst, answer: { kind: 'route', type, nexthops: [hop] } };
}

export function parse(text: string): ParseResult<RouteGetRecord> {
  return guarded(text, (t) => {
    const records: RouteGetRecord[] = [];
    const warnings: ParseWarning[] = [];
    splitLines(t).forEach((line, k) => {
      if (line.trim() === '') return;
      const r = parseAnswerLine(line);
      if ('reason' in r) warnings.push({ lineNumber: k + 1, text: line, reason: r.reason });
      else records.push({ answer: r.answer, dst: r.dst, origin: { lineNumber: k + 1, text: line.replace(/\s*\\\s*/g, ' ').trim() } });
    });
    return { records, warnings };
  });
}

export const parser: Parser<RouteGetRecord> = {
  name: 'ip-route-get',
  description: 'ip -o route get answers (one per line, as ip -o -force -batch prints them)',
  parse,
};

/**
 * stderr of `ip -force -batch -`: the 1-based batch line of each failed command and its error
 * (the text after "RTNETLINK answers: " or "Error: ", else the lines before "Command failed").
 */
export function parseBatchErrors(stderr: string): Map<number, string> {
  const out = new Map<number, string>();
  let pending: string[] = [];
  for (const line of splitLines(typeof stderr === 'string' ? stderr : '')) {
    const failed = /^Command failed (?:\S*):(\d+)\s*$/.exec(line);
    if (failed) {
      const message = pending.map((l) => l.replace(/^RTNETLINK answers:\s*/, '').replace(/^Error:\s*/, '').replace(/\.$/, '').trim()).filter((l) => l.length > 0).join('; ');
      out.set(Number(failed[1]), message || 'failed without a message');
      pending = [];
    } else if (line.trim() !== '') pending.push(line);
  }
  return out;
}
