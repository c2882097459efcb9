import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parser } from '../../parsers/conntrack-stats.js';

describe('conntrack-stats: examples', () => {
  it('sums /proc/net/stat/nf_conntrack rows per counter and takes entries once', () => {
    const t = [
      'entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart',
      '00000028  00000000 00000000 00000000 00000003 00000000 00000000 00000000 00000000 00000001 00000002 00000000 00000000  00000000 00000000 00000000 00000000',
      '00000028  00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 0000000a 00000001 00000000  00000000 00000000 00000000 00000000',
    ].join('\n');
    const r = parse(t);
    expect(r.warnings).toEqual([]);
    expect(r.records).toHaveLength(1);
    const [rec] = r.records;
    expect(rec.form).toBe('proc');
    expect(rec.rows.map((x) => x.cpu)).toEqual([0, 1]);
    expect(rec.totals).toMatchObject({ entries: 40, insert_failed: 3, drop: 12, early_drop: 1, invalid: 3, clashres: 1 });
    expect(rec.rows[1].origin.lineNumber).toBe(3);
  });

  it('reads conntrack -S per-CPU lines (the tab after cpu=N, a trailing space) and sums them', () => {
    const t = 'cpu=0   \tfound=0 invalid=1 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=2 chaintoolong=0 \ncpu=1   \tfound=0 invalid=0 insert=0 insert_failed=4 drop=4 early_drop=0 error=0 search_restart=3 clash_resolve=0 chaintoolong=0 \n';
    const [rec] = parse(t).records;
    expect(rec.form).toBe('cpu');
    expect(rec.rows.map((x) => x.cpu)).toEqual([0, 1]);
    expect(rec.totals).toMatchObject({ insert_failed: 4, drop: 4, clash_resolve: 2, invalid: 1, search_restart: 3 });
  });

  it('reads the summed name/value form and warns about conntrack\'s own error line after it', () => {
    const r = parse('entries   \t\t90\ninsert_failed\t\t7\ndrop      \t\t7\nconntrack v1.4.4 (conntrack-tools): Operation failed: sorry, you must be root\n');
    expect(r.records[0]).toMatchObject({ form: 'summed', totals: { entries: 90, insert_failed: 7, drop: 7 } });
    expect(r.records[0].rows).toHaveLength(1);
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([4]);
  });

  it('warns at the line: a row whose columns disagree with the header, an unreadable counter, noise', () => {
    const r = parse('entries found drop\n00000001 00000002\ncpu=1 found=x\nhello\ncpu=2 drop=3\n');
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([2, 3, 4]);
    expect(r.records[0].totals).toEqual({ drop: 3 });
    expect(parser.parse('')).toEqual({ records: [], warnings: [] });
  });
});

describe('conntrack-stats: properties', () => {
  it('never throws, and every generated per-CPU listing sums to its rows', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      const r = parse(s);
      for (const w of r.warnings) expect(w.lineNumber).toBeGreaterThanOrEqual(0);
    }));
    const row = fc.record({ insert_failed: fc.nat(1e6), drop: fc.nat(1e6), early_drop: fc.nat(1e6) });
    fc.assert(fc.property(fc.array(row, { minLength: 1, maxLength: 16 }), (rows) => {
      const text = rows.map((x, i) => `cpu=${i} found=0 insert_failed=${x.insert_failed} drop=${x.drop} early_drop=${x.early_drop}`).join('\n');
      const [rec] = parse(text).records;
      for (const k of ['insert_failed', 'drop', 'early_drop'] as const) expect(rec.totals[k]).toBe(rows.reduce((n, x) => n + x[k], 0));
    }));
  });
});
