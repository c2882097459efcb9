/**
 * proc-net-counters: the kernel's per-namespace counters, in the forms /proc/net prints them
 * (several files may be concatenated; the form is detected line by line). Names follow nstat:
 *
 *   TcpExt: SyncookiesSent ... IPReversePathFilter ...     (/proc/net/netstat, /proc/net/snmp:
 *   TcpExt: 0 ... 3 ...                                      a names line, then a values line)
 *   Ip6InNoRoutes                   	2                       (/proc/net/snmp6, /proc/net/xfrm_stat)
 *   XfrmOutPolBlock         	3
 *   Inter-|   Receive ...                                    (/proc/net/dev: `DEV rx_dropped`, ...)
 *     eth0:  252  3  0  0  0  0  0  0  252  3  0  0  0  0  0  0
 *   entries  clashres found new invalid ...                 (/proc/net/stat/nf_conntrack: hex,
 *   00000000  00000000 00000000 ...                          one row per CPU, summed: `nf_conntrack drop`)
 */
import type { CounterRecord } from '../src/model/kernel.js';
import { guarded, splitLines, type ParseResult, type ParseWarning, type Parser } from './types.js';

/** /proc/net/dev's columns, named as /sys/class/net/DEV/statistics names them. */
const DEV_COLUMNS = ['rx_bytes', 'rx_packets', 'rx_errors', 'rx_dropped', 'rx_fifo_errors', 'rx_frame_errors', 'rx_compressed', 'multicast',
  'tx_bytes', 'tx_packets', 'tx_errors', 'tx_dropped', 'tx_fifo_errors', 'collisions', 'tx_carrier_errors', 'tx_compressed'];

const NUMBER = /^-?\d+$/;
const HEX = /^[0-9a-fA-F]+$/;

export function parse(text: string): ParseResult<CounterRecord> {
  return guarded(text, (t) => {
    const lines = splitLines(t);
    const records: CounterRecord[] = [];
    const warnings: ParseWarning[] = [];
    const warn = (i: number, reason: string) => warnings.push({ lineNumber: i + 1, text: lines[i], reason });
    let mode: 'plain' | 'dev' | 'conntrack' = 'plain';
    let conntrack: { names: string[]; sums: number[]; line: number } | undefined;
    const flushConntrack = () => {
      if (!conntrack) return;
      conntrack.names.forEach((n, k) => records.push({ name: `nf_conntrack ${n}`, value: conntrack!.sums[k], origin: { lineNumber: conntrack!.line + 1, text: lines[conntrack!.line] } }));
      conntrack = undefined;
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const trimmed = line.trim();
      if (trimmed === '') continue;
      if (trimmed.startsWith('Inter-|')) {
        flushConntrack();
        mode = 'dev';
        if (lines[i + 1]?.includes('|')) i++;
        continue;
      }
      if (/^entries\s/.test(trimmed)) {
        flushConntrack();
        mode = 'conntrack';
        conntrack = { names: trimmed.split(/\s+/), sums: [], line: i };
        continue;
      }
      if (mode === 'conntrack' && conntrack) {
        const cells = trimmed.split(/\s+/);
        if (cells.length === conntrack.names.length && cells.every((c) => HEX.test(c))) {
          const first = conntrack.sums.length === 0;
          cells.forEach((c, k) => {
            const v = parseInt(c, 16);
            // `entries` is the table's size, printed alike on every CPU's row: not summed.
            conntrack!.sums[k] = first ? v : conntrack!.names[k] === 'entries' ? conntrack!.sums[k] : conntrack!.sums[k] + v;
          });
          continue;
        }
        flushConntrack();
        mode = 'plain';
      }
      if (mode === 'dev') {
        const m = /^\s*([^:\s][^:]*):\s*(.*)$/.exec(line);
        const cells = m?.[2].trim().split(/\s+/) ?? [];
        if (m && cells.length === DEV_COLUMNS.length && cells.every((c) => NUMBER.test(c))) {
          const device = m[1].trim();
          cells.forEach((c, k) => records.push({ name: `${device} ${DEV_COLUMNS[k]}`, value: Number(c), device, origin: { lineNumber: i + 1, text: line } }));
          continue;
        }
        mode = 'plain';
      }
      // A names line and a values line with the same prefix (/proc/net/netstat, /proc/net/snmp).
      const head = /^(\w+):\s+(.*)$/.exec(line);
      if (head) {
        const next = lines[i + 1];
        if (next === undefined || !next.startsWith(`${head[1]}:`)) {
          warn(i, `a "${head[1]}:" names line without its values line`);
          continue;
        }
        const names = head[2].trim().split(/\s+/);
        const values = next.slice(head[1].length + 1).trim().split(/\s+/);
        if (names.length !== values.length || !values.every((v) => NUMBER.test(v))) {
          warn(i + 1, `${names.length} names but ${values.length} values, or a value that is not a number`);
          i++;
          continue;
        }
        names.forEach((n, k) => records.push({ name: `${head[1]}${n}`, value: Number(values[k]), origin: { lineNumber: i + 2, text: next } }));
        i++;
        continue;
      }
      const pair = /^(\w+)\s+(-?\d+)$/.exec(trimmed);
      if (pair) {
        records.push({ name: pair[1], value: Number(pair[2]), origin: { lineNumber: i + 1, text: line } });
        continue;
      }
      warn(i, 'not a counter line of /proc/net (netstat, snmp, snmp6, xfrm_stat, dev, stat/nf_conntrack)');
    }
    flushConntrack();
    return { records, warnings };
  });
}

export const parser: Parser<CounterRecord> = {
  name: 'proc-net-counters',
  description: '/proc/net/netstat, snmp, snmp6, xfrm_stat, dev and stat/nf_conntrack counters (nstat names)',
  parse,
};
