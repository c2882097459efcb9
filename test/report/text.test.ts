/** The text report's closing line: a source collected with lines its parser could not read says so. */
import { describe, expect, it } from 'vitest';
import type { Report } from '../../src/report/json.js';
import { renderText } from '../../src/report/text.js';

function report(sources: Report['sources']): Report {
  return {
    schemaVersion: 1, hostcheckVersion: '0.0.0', host: 'h', collectedAt: '2026-01-01T00:00:00Z', complete: true, sources,
    notes: [], findings: [], ignored: [], exitCode: 0, summary: { error: 0, warning: 0, info: 0 },
  };
}

describe('renderText: collection status', () => {
  it('says complete when every source was read whole', () => {
    const text = renderText(report([{ name: 'ip-addr', status: 'collected', required: true, warnings: 0 }]), { color: false });
    expect(text.trimEnd().split('\n').at(-1)).toBe('no errors, 0 warning(s), 0 info; collection complete');
  });

  it('names a source whose parser could not read some lines, and says so on the closing line', () => {
    const text = renderText(report([{ name: 'ip-addr', status: 'collected', required: true, warnings: 2 }, { name: 'ip-link', status: 'collected', required: true, warnings: 0 }]), { color: false });
    expect(text).toContain('partly read: ip-addr: 2 line(s) hostcheck could not read');
    expect(text).not.toContain('partly read: ip-link');
    expect(text.trimEnd().split('\n').at(-1)).toBe('no errors, 0 warning(s), 0 info; collection complete, 1 source(s) partly read');
  });
});
