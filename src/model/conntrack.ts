/**
 * Connection tracking's statistics as the model holds them: per-CPU counter rows of
 * /proc/net/stat/nf_conntrack or `conntrack -S`, and their sums (parsers/conntrack-stats.ts makes
 * them). The table's size and fill (nf_conntrack_count, _max, _buckets) are sysctls.
 */
import type { Origin } from './records.js';

/** One row: a CPU's counters (`cpu=3 found=0 insert_failed=2 ...`), or the one summed block. */
export interface ConntrackStatsRow {
  /** The CPU the row counts for; absent for a summed listing. */
  cpu?: number;
  /** Counter name → value, names as the kernel prints them (`insert_failed`, `early_drop`, `clash_resolve`). */
  counters: Record<string, number>;
  origin: Origin;
}

export interface ConntrackStatsRecord {
  /** `proc`: the hex table of /proc/net/stat/nf_conntrack; `cpu`: conntrack -S's `cpu=N k=v` rows; `summed`: conntrack -S's `name value` lines. */
  form: 'proc' | 'cpu' | 'summed';
  rows: ConntrackStatsRow[];
  /** Every counter summed over the rows; `entries` (the table's count, the same on every row of /proc) is taken once, not summed. */
  totals: Record<string, number>;
}

