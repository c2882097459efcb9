/**
 * The datapath checks end to end (issue 15): real packets show the fault, hostcheck inside the
 * host names it with the lines that decide, the printed fix is applied literally, and packets
 * then flow and hostcheck reports no error; a healthy variant of each stays silent.
 */
import { expect, it } from 'vitest';
import { FIRST_INCIDENT as fi } from './topologies.js';
import { MESH6, markIntoBlackhole } from './datapath-topologies.js';
import { applyPrintedFix, errorsOf, hostcheckReport } from './e2e-helpers.js';
import { describeLab, useLab } from './suite.js';

const peers = ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`, '--peer', `${MESH6.ecs1}=ecs1`, '--peer', `${MESH6.ecs2}=ecs2`];

describeLab('e2e: mark-routing (marks into policy routing, IPv4 and IPv6)', () => {
  const lab = useLab(markIntoBlackhole());

  it('symptom, diagnosis, printed fix, recovery', async () => {
    for (const [from, to] of [['ecs3', fi.ecs2], ['ecs2', fi.ecs3], ['ecs3', MESH6.ecs2], ['ecs2', MESH6.ecs3]]) {
      expect((await lab().ping(from, to)).ok, `${from} → ${to}`).toBe(false);
    }
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(true);
    expect((await lab().ping('ecs1', MESH6.ecs3)).ok).toBe(true);

    const { report, exitCode } = await hostcheckReport(lab(), 'ecs3', peers);
    expect(exitCode).toBe(1);
    const found = report.findings.filter((f) => f.check === 'mark-routing');
    expect(found.map((f) => f.subject).sort()).toEqual([`${fi.ecs2} mark 0x66`, `${MESH6.ecs2} mark 0x66`].sort());
    for (const f of found) expect(f.severity).toBe('error');
    const v4 = found.find((f) => f.subject.startsWith(fi.ecs2))!;
    expect(v4.summary).toContain('marked 0x66 by mangle/OUTPUT rule 1');
    expect(v4.summary).toContain('blackhole default in table 102');
    expect(v4.summary).toContain(`ICMP echo to ecs2 ${fi.ecs2}`);
    expect(v4.summary).toContain(`the reply to ICMP echo from ecs2 ${fi.ecs2}`);
    expect(v4.evidence.map((e) => e.text.replace(/^\[\d+:\d+\] /, '').trim())).toEqual([
      '-A OUTPUT -d 172.18.0.0/16 -j MARK --set-xmark 0x66/0xffffffff',
      '100:\tfrom all fwmark 0x66 lookup 102',
      'blackhole default table 102',
    ]);
    // No other check claims it: the unmarked route and the firewall are fine.
    expect(errorsOf(report).filter((f) => f.check !== 'mark-routing')).toEqual([]);

    for (const f of found) {
      const steps = await applyPrintedFix(lab(), 'ecs3', f);
      expect(steps[0]).toMatch(/^ip (-6 )?rule add to \S+ lookup main priority 99$/);
    }
    for (const [from, to] of [['ecs3', fi.ecs2], ['ecs2', fi.ecs3], ['ecs3', MESH6.ecs2], ['ecs2', MESH6.ecs3]]) {
      expect((await lab().ping(from, to)).ok, `${from} → ${to} after the fix`).toBe(true);
    }
    const after = await hostcheckReport(lab(), 'ecs3', peers);
    expect(errorsOf(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: mark-routing stays silent when the marked table routes', () => {
  const lab = useLab(markIntoBlackhole({ healthy: true }));
  it('marks and the fwmark rule, table 102 with a default route: traffic flows, no finding', async () => {
    for (const [from, to] of [['ecs3', fi.ecs2], ['ecs2', fi.ecs3], ['ecs3', MESH6.ecs2], ['ecs2', MESH6.ecs3]]) {
      expect((await lab().ping(from, to)).ok, `${from} → ${to}`).toBe(true);
    }
    const { report, exitCode } = await hostcheckReport(lab(), 'ecs3', peers);
    expect(report.findings.filter((f) => f.check === 'mark-routing')).toEqual([]);
    expect(errorsOf(report)).toEqual([]);
    expect(exitCode).toBe(0);
  });
});
