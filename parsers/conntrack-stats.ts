/**
 * conntrack-stats: connection tracking's per-CPU statistics, in any of the three forms hosts print.
 *
 * `cat /proc/net/stat/nf_conntrack` — a header, then one row of hex counters per CPU (`entries` is
 * the table's count, printed the same on every row):
 *
 *     entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
 *     00000022  00000000 00000000 00000000 00000003 00000000 00000000 00000000 00000000 00000001 00000001 00000000 00000000  00000000 00000000 00000000 00000002
 *
 * `conntrack -S` — one line per CPU, decimal `name=value` pairs:
 *
 *     cpu=0   	found=0 invalid=516 insert=0 insert_failed=1 drop=1 early_drop=0 error=0 search_restart=20749
 *
 * `conntrack -S` of conntrack-tools 1.4.4 on older kernels — one summed `name<TAB>value` per line:
 *
 *     insert_failed		0
 *
 * Rows are summed (`entries` taken once); unreadable lines are warnings with their line number.
 */
import type { ConntrackStatsRecord, ConntrackStatsRow } from '../src/model/conntrack.js';
import { guarded, splitLines, type ParseResult, type ParseWarning, type Parser } from './types.js';

const NAME = /^[a-z_]+$/;

function totalsOf(rows: ConntrackStatsRow[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const r of rows) {
    for (const [k, v] of Object.entries(r.counters)) {
      // /proc's `entries` column is the table's count on every row: once, not per CPU.
      totals[k] = k === 'entries' ? Math.max(totals[k] ?? 0, v) : (totals[k] ?? 0) + v;
    }
  }
  return totals;
}

export function parse(text: string): ParseResult<ConntrackStatsRecord> {
  return guarded(text, (t) => {
    const warnings: ParseWarning[] = [];
    const rows: ConntrackStatsRow[] = [];
    let form: ConntrackStatsRecord['form'] | undefined;
    let header: string[] | undefined;
    let summed: ConntrackStatsRow | undefined;
    splitLines(t).forEach((line, i) => {
      const lineNumber = i + 1;
      const tokens = line.trim().split(/\s+/).filter(Boolean);
      if (tokens.length === 0) return;
      const warn = (reason: string) => warnings.push({ lineNumber, text: line, reason });
      if (tokens[0] === 'entries' && tokens.length > 2 && tokens.every((x) => NAME.test(x))) {
        header = tokens;
        return;
      }
      if (header !== undefined && tokens.every((x) => /^[0-9a-fA-F]+$/.test(x))) {
        if (tokens.length !== header.length) return warn(`${tokens.length} columns where the header names ${header.length}`);
        const counters: Record<string, number> = {};
        header.forEach((name, k) => { counters[name] = parseInt(tokens[k], 16); });
        form ??= 'proc';
        rows.push({ cpu: rows.length, counters, origin: { lineNumber, text: line } });
        return;
      }
      if (tokens[0].startsWith('cpu=')) {
        const counters: Record<string, number> = {};
        let cpu: number | undefined;
        for (const tok of tokens) {
          const m = /^([a-z_]+)=(\d+)$/.exec(tok);
          if (m === null) return warn(`unreadable counter "${tok}"`);
          if (m[1] === 'cpu') cpu = Number(m[2]);
          else counters[m[1]] = Number(m[2]);
        }
        form ??= 'cpu';
        rows.push({ cpu, counters, origin: { lineNumber, text: line } });
        return;
      }
      if (tokens.length === 2 && NAME.test(tokens[0]) && /^\d+$/.test(tokens[1])) {
        if (summed === undefined) {
          summed = { counters: {}, origin: { lineNumber, text: line } };
          rows.push(summed);
        }
        summed.counters[tokens[0]] = Number(tokens[1]);
        form ??= 'summed';
        return;
      }
      // conntrack prints its own errors after the figures (no CAP_NET_ADMIN): worth a warning, not a row.
      warn('unrecognised line');
    });
    if (form === undefined || rows.length === 0) return { records: [], warnings };
    return { records: [{ form, rows, totals: totalsOf(rows) }], warnings, form };
  });
}

export const parser: Parser<ConntrackStatsRecord> = {
  name: 'conntrack-stats',
  description: 'conntrack statistics: /proc/net/stat/nf_conntrack or conntrack -S (per-CPU counters, summed)',
  parse,
};
