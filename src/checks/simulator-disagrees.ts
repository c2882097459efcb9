/**
 * simulator-disagrees: on a live host the kernel answers a route question a finding rests on
 * (`ip route get ...`) otherwise than hostcheck's simulator. The finding that rested on it is
 * kept, marked `contradicted`; this error names the question and both answers. It comes from
 * the kernel join (kernel-join.ts), not from the model alone.
 */
import { findingKey, type Finding } from '../model/finding.js';

export const ID = 'simulator-disagrees';

export const simulatorDisagreesInfo = {
  id: ID,
  title: "The kernel's route answer differs from hostcheck's simulation",
  severity: 'error' as const,
  explain: `On a live host hostcheck asks the kernel every route decision its findings rest on
(ip route get DST from SRC [iif DEV] [mark M], all in one ip -force -batch, read-only). When the
kernel answers otherwise than the simulator, the findings that rested on it are marked
"contradicted" (their analysis is kept: the kernel confirms, it never decides alone) and this
error names the question and both answers.

It means hostcheck's model of this host is wrong somewhere (a hostcheck bug: a route, rule or
setting read or applied wrongly), or the routing changed between the collection and the
question (run hostcheck again).

Fix: run hostcheck again; if it stays, capture a bundle (hostcheck capture --out DIR) and report
it with the question and the kernel's answer.`,
};

/** The error for one question the kernel answered otherwise; `findings` rested on it. */
export function disagreementFinding(args: { host: string; args: string; kernelText: string; simulator: string[]; lineNumber: number; findings: readonly Finding[] }): Finding {
  const subject = `ip route get ${args.args}`;
  const rested = args.findings.map((f) => `${f.check} (${f.subject})`);
  return {
    check: ID, severity: 'error', host: args.host, subject, key: findingKey(ID, args.host, subject),
    summary: `the kernel answers ip route get ${args.args} with "${args.kernelText}"; hostcheck's simulator answered "${args.simulator.join('" or "')}"`,
    evidence: [{ source: 'ip-route-get', lineNumber: args.lineNumber, text: args.kernelText }],
    why: `The finding${rested.length === 1 ? '' : 's'} ${rested.join(', ')} rest${rested.length === 1 ? 's' : ''} on this route decision. The kernel decides otherwise, so hostcheck's model of this host is wrong here (a hostcheck bug), or the routing changed between the collection and the question.`,
    fix: ['# run hostcheck again; if the disagreement stays, capture a bundle and report it with this question and answer:', 'hostcheck capture --out /tmp/hostcheck-bundle'],
    kernel: { status: 'confirmed', evidence: [`ip route get ${args.args}: ${args.kernelText}`] },
  };
}
