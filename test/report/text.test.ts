/** The text report's closing line: a source collected with lines its parser could not read says so. */
import { describe, expect, it } from 'vitest';
import type { Report } from '../../src/report/json.js';
import { renderText } from '../../src/report/text.js';

function report(sources: Report['sources']): Report {
  return {
    schemaVersion: 1, hostcheckVersion: '0.0.0', host: 'h', collectedAt: '2026-01-01T00:00:00Z', complete: true, sources,
    notes: [], findings: [], ignored: [], exitCode: 0, summary: { error: 0, warning: 0, info: 0 }, kernel: { source: 'live' },
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

describe('renderText: the kernel', () => {
  const finding = { check: 'rp-filter-drop', severity: 'error' as const, host: 'h', subject: 'eth1 10.9.0.5', key: 'k', summary: 'rp_filter drops', evidence: [], why: 'w', fix: [], kernel: { status: 'confirmed' as const, evidence: ['ip route get 10.2.0.10 from 10.9.0.5 iif eth1: Invalid argument (the simulator agrees)', 'TcpExtIPReversePathFilter +5 in 3 s'] } };

  it('one kernel line per finding, and what was asked and watched at the end', () => {
    const r: Report = {
      ...report([]), findings: [finding], summary: { error: 1, warning: 0, info: 0 },
      kernel: {
        source: 'live', routes: { status: 'asked', asked: 1, agreed: 1, contradicted: 0 },
        window: { seconds: 3, counters: [{ name: 'TcpExtIPReversePathFilter', delta: 5 }], missing: ['/proc/net/snmp6: absent (IPv6 disabled)'], drops: { status: 'unavailable', message: 'tracefs is not mounted', drops: [], systemWide: true } },
      },
    };
    const text = renderText(r, { color: false });
    expect(text).toContain('  kernel: confirmed — ip route get 10.2.0.10 from 10.9.0.5 iif eth1: Invalid argument (the simulator agrees); TcpExtIPReversePathFilter +5 in 3 s\n');
    expect(text).toContain('kernel: 1 route question(s) asked with ip route get: 1 agree with the simulator, 0 contradict it\n');
    expect(text).toContain('kernel: counters watched for 3 s: TcpExtIPReversePathFilter +5\n');
    expect(text).toContain('kernel: not read: /proc/net/snmp6: absent (IPv6 disabled)\n');
    expect(text).toContain('kernel: drop reasons unavailable: tracefs is not mounted\n');
  });

  it('a bundle says nothing was asked', () => {
    expect(renderText({ ...report([]), kernel: { source: 'bundle' } }, { color: false })).toContain('kernel: a bundle: nothing was asked of a kernel');
  });
});
