/**
 * What the overview shows per host beyond its stored row: region and VPC (cloud identity),
 * the addresses it holds (every non-host-scope address with its prefix), and its open
 * findings counted by severity. Computed from the in-memory fleet index, not the database's
 * snapshot column, so 1,000 hosts cost one findings query.
 */
import type { Severity } from '../../model/finding.js';
import type { HostSnapshot } from '../../model/snapshot.js';

export interface HostSummary {
  region: string | null;
  vpc: string | null;
  addresses: string[];
  findings: Record<Severity, number>;
}

/** Open (not resolved) findings by host: a fleet finding counts for both hosts of its pair. */
export function openFindingCounts(findings: { finding: { host: string; severity: Severity; pair?: string[] }; state: string }[]): Map<string, Record<Severity, number>> {
  const counts = new Map<string, Record<Severity, number>>();
  for (const f of findings) {
    if (f.state === 'resolved') continue;
    for (const host of new Set([f.finding.host, ...(f.finding.pair ?? [])])) {
      let c = counts.get(host);
      if (!c) counts.set(host, (c = { error: 0, warning: 0, info: 0 }));
      c[f.finding.severity]++;
    }
  }
  return counts;
}

export function hostSummary(snapshot: HostSnapshot | undefined, vpcCidrs: string[], counts: Record<Severity, number> | undefined): HostSummary {
  const cloud = snapshot?.identity.cloud;
  const addresses = snapshot ? snapshot.interfaces.flatMap((i) => i.addresses).filter((a) => a.scope !== 'host' && a.scope !== 'link').map((a) => a.cidr) : [];
  return {
    region: cloud?.region ?? null,
    vpc: cloud?.vpcId ?? (vpcCidrs[0] ?? null),
    addresses,
    findings: counts ?? { error: 0, warning: 0, info: 0 },
  };
}
