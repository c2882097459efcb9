/** Running hostcheck inside a lab host for the end-to-end check tests, and applying the fixes it prints. */
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/report/json.js';
import type { Lab } from './lab.js';

/** `hostcheck --json --name HOST ARGS` inside the host: its report and exit code. */
export async function hostcheckReport(lab: Lab, host: string, args: string[]): Promise<{ report: Report; exitCode: number }> {
  const r = await lab.hostcheck(host, ['--json', '--name', host, ...args]);
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`hostcheck in ${host} printed no JSON (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  }
  return { report, exitCode: r.exitCode };
}

export const errorsOf = (r: Report): Finding[] => r.findings.filter((f) => f.severity === 'error');

/** Run every fix step that is a command (steps starting with # are explanations); the steps run. */
export async function applyPrintedFix(lab: Lab, host: string, f: Finding): Promise<string[]> {
  const steps = f.fix.filter((s) => !s.trimStart().startsWith('#')).map((s) => s.replace(/\s+#.*$/, ''));
  for (const step of steps) await lab.applyFix(host, step);
  return steps;
}
