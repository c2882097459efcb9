/**
 * ip-neigh: `ip neigh show` (both families), the kernel's neighbour table: which addresses it
 * found on which link, with their link-layer address and NUD state. One entry per line,
 * `ADDR dev DEV [lladdr LLADDR] [router] [proxy] ... STATE`; `ip -s neigh` adds `ref`, `used`
 * and `probes`, read and dropped.
 *
 *   192.168.50.11 dev br0 lladdr 02:00:5e:10:00:0b REACHABLE
 *   172.17.0.64 dev docker0 FAILED
 */
import type { NeighbourRecord } from '../src/model/records.js';
import { parseIPv4, parseIPv6 } from '../src/net/address.js';
import { guarded, splitLines, type ParseResult, type ParseWarning, type Parser } from './types.js';

const STATES = new Set(['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE', 'FAILED', 'NOARP', 'PERMANENT', 'NONE']);
const FLAGS = new Set(['router', 'proxy', 'extern_learn', 'offload', 'managed', 'extern_valid']);
/** Words followed by one value that the checks do not need (`ip -s neigh`, protocols, nexthop ids). */
const SKIPPED_WITH_VALUE = new Set(['ref', 'used', 'probes', 'protocol', 'nhid', 'vni', 'port', 'via']);

/** `lladdr` values: colon- or dash-separated hex bytes (Ethernet, InfiniBand, ...), or an IPv4 address (tunnels). */
const LLADDR = /^(?:[0-9a-f]{2}(?:[:-][0-9a-f]{2})*|\d{1,3}(?:\.\d{1,3}){3})$/i;

/** One line → a record, or the reason it could not be read. */
function readLine(tokens: string[], lineNumber: number, text: string): NeighbourRecord | string {
  let i = 0;
  // `ip monitor neigh` prefixes; `ip neigh show` never prints them, a pasted monitor line may.
  if (tokens[i] === 'miss' || tokens[i] === 'delete') return `${tokens[i]} event, not a table entry`;
  const address = tokens[i++];
  const family = parseIPv4(address) !== null ? 4 : parseIPv6(address) !== null ? 6 : 0;
  if (family === 0) return `'${address}' is not an address`;
  const rec: NeighbourRecord = { family, address, states: [], flags: [], origin: { lineNumber, text } };
  while (i < tokens.length) {
    const t = tokens[i];
    if (t === 'dev' || t === 'lladdr') {
      const v = tokens[i + 1];
      if (v === undefined) return `${t} without a value`;
      if (t === 'dev') rec.dev = v;
      else if (!LLADDR.test(v)) return `'${v}' is not a link-layer address`;
      else rec.lladdr = v.toLowerCase();
      i += 2;
    } else if (SKIPPED_WITH_VALUE.has(t)) {
      const v = tokens[i + 1];
      if (v === undefined) return `${t} without a value`;
      // iproute2 prints `used 1/1/1probes 4`: the probe count's word is glued to the times.
      i += t === 'used' && v.endsWith('probes') ? 3 : 2;
    } else if (STATES.has(t)) {
      rec.states.push(t);
      i++;
    } else if (FLAGS.has(t)) {
      rec.flags.push(t);
      i++;
    } else {
      return `unknown word '${t}'`;
    }
  }
  if (rec.states.length === 0) return 'entry without a NUD state';
  return rec;
}

function parseText(text: string): ParseResult<NeighbourRecord> {
  const records: NeighbourRecord[] = [];
  const warnings: ParseWarning[] = [];
  const lines = splitLines(text);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const tokens = line.trim().split(/\s+/).filter((t) => t.length > 0);
    if (tokens.length === 0) continue;
    const r = readLine(tokens, n + 1, line);
    if (typeof r === 'string') warnings.push({ lineNumber: n + 1, text: line, reason: r });
    else records.push(r);
  }
  return { records, warnings };
}

/** Parse `ip neigh show` output. */
export function parse(text: string): ParseResult<NeighbourRecord> {
  return guarded(text, parseText);
}

export const parser: Parser<NeighbourRecord> = {
  name: 'ip-neigh',
  description: 'ip neigh show: the neighbour table (address, device, link-layer address, NUD state)',
  parse,
};
