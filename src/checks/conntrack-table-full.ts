/**
 * conntrack-table-full: the connection tracking table is full or close to it
 * (nf_conntrack_count against nf_conntrack_max), conntrack has dropped packets for want of room
 * (drop, early_drop), or inserts lost a race (insert_failed: the 5-second DNS delays).
 */
import type { ConntrackStatsRecord } from '../model/conntrack.js';
import { evidenceOf, findingKey, uniqueEvidence, type Evidence, type Finding } from '../model/finding.js';
import type { HostSnapshot } from '../model/snapshot.js';
import type { SysctlRecord } from '../model/sysctl.js';
import { kernelSignals } from '../simulate/kernel-signals.js';
import type { Check, HostContext } from './types.js';
import { sysctls } from './view.js';

const ID = 'conntrack-table-full';

/** Warn this many percent of nf_conntrack_max before the table is full (config `conntrackMargin`). */
export const DEFAULT_CONNTRACK_MARGIN = 20;

/** An idle established TCP connection stays this long by default (5 days): the usual reason a table fills. */
const DAY_SECONDS = 86_400;

function netfilterSysctl(s: HostSnapshot, name: string): { record: SysctlRecord; value: number } | undefined {
  const record = sysctls(s).find((r) => r.key === `net.netfilter.${name}`);
  if (record === undefined) return undefined;
  const value = Number(record.value.trim());
  return Number.isSafeInteger(value) ? { record, value } : undefined;
}

/** The statistics to read: /proc/net/stat/nf_conntrack where read (it has every counter), else conntrack -S; never both (they count the same). */
function statsOf(s: HostSnapshot): ConntrackStatsRecord | undefined {
  const all = s.conntrack?.stats ?? [];
  return all.find((r) => r.rows[0]?.origin.source === 'conntrack-stat') ?? all[0];
}

/** The rows whose named counters are not zero: the lines that prove the sum. */
function rowsWith(stats: ConntrackStatsRecord, names: readonly string[]): Evidence[] {
  return uniqueEvidence(stats.rows.filter((r) => names.some((n) => (r.counters[n] ?? 0) > 0)).flatMap((r) => evidenceOf(r.origin)));
}

function figures(stats: ConntrackStatsRecord, names: readonly string[]): string {
  return names.filter((n) => stats.totals[n] !== undefined).map((n) => `${n}=${stats.totals[n]}`).join(', ');
}

const sizeFix = (max: number): string[] => [
  `sysctl -w net.netfilter.nf_conntrack_max=${Math.max(262_144, max * 2)}`,
  `# persist it: echo 'net.netfilter.nf_conntrack_max = ${Math.max(262_144, max * 2)}' > /etc/sysctl.d/90-conntrack.conf; raise nf_conntrack_buckets (the hash size) with it, about max/4 (/sys/module/nf_conntrack/parameters/hashsize)`,
  '# or keep fewer entries: shorter net.netfilter.nf_conntrack_tcp_timeout_established and _udp_timeout, NOTRACK for traffic that needs no state (raw table)',
];

function capacityFindings(ctx: HostContext, margin: number): Finding[] {
  const s = ctx.snapshot;
  const count = netfilterSysctl(s, 'nf_conntrack_count');
  const max = netfilterSysctl(s, 'nf_conntrack_max');
  if (count === undefined || max === undefined || max.value <= 0) return [];
  const percent = Math.floor((count.value * 100) / max.value);
  const full = count.value >= max.value;
  if (!full && count.value * 100 < max.value * (100 - margin)) return [];
  const buckets = netfilterSysctl(s, 'nf_conntrack_buckets');
  const established = netfilterSysctl(s, 'nf_conntrack_tcp_timeout_established');
  const longIdle = established !== undefined && established.value > DAY_SECONDS ? established : undefined;
  const subject = 'nf_conntrack table';
  return [{
    check: ID, severity: full ? 'error' : 'warning', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
    summary: full
      ? `the conntrack table is full: ${count.value} of ${max.value} entries — new connections are dropped`
      : `the conntrack table is ${percent}% full: ${count.value} of ${max.value} entries (warned within ${margin}% of nf_conntrack_max)`,
    evidence: uniqueEvidence([count, max, buckets, longIdle].flatMap((x) => (x ? evidenceOf(x.record.origin) : []))),
    why: `Every tracked connection takes an entry; when nf_conntrack_count reaches nf_conntrack_max the kernel can only evict an unreplied entry (early_drop) or drop the packet of a new connection ("nf_conntrack: table full, dropping packet"), so new connections fail while established ones and ping work.${longIdle ? ` Idle established TCP connections stay ${longIdle.value} s (${Math.round(longIdle.value / DAY_SECONDS)} days) in the table.` : ''}`,
    fix: sizeFix(max.value),
  }];
}

function dropFindings(ctx: HostContext, stats: ConntrackStatsRecord): Finding[] {
  const out: Finding[] = [];
  const t = stats.totals;
  const failed = t.insert_failed ?? 0;
  // A lost insert race counts in drop too (nf_ct_resolve_clash): only the rest were dropped for want of room.
  const forRoom = Math.max(0, (t.drop ?? 0) - failed);
  const evicted = t.early_drop ?? 0;
  const max = netfilterSysctl(ctx.snapshot, 'nf_conntrack_max');
  if (forRoom + evicted > 0) {
    const subject = 'nf_conntrack drops';
    out.push({
      check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
      summary: `conntrack has dropped packets for want of room: ${figures(stats, ['drop', 'early_drop', 'insert_failed'])}${failed > 0 ? ` (${forRoom} of the drops are not lost insert races)` : ''}`,
      evidence: uniqueEvidence([...rowsWith(stats, ['drop', 'early_drop']), ...(max ? evidenceOf(max.record.origin) : [])]),
      why: 'drop counts packets of new connections conntrack could not make an entry for (the table was full and nothing could be evicted) and the losers of insert races (insert_failed); early_drop counts unreplied entries evicted to make room. Either means the table filled up since the counters started (boot, or the namespace\'s creation).',
      fix: sizeFix(max?.value ?? 65_536),
      signals: kernelSignals({ cause: 'conntrack-full' }),
    });
  }
  if (failed > 0) {
    const subject = 'nf_conntrack insert races';
    const clash = t.clash_resolve ?? t.clashres;
    out.push({
      check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
      summary: `conntrack lost ${failed} insert race${failed === 1 ? '' : 's'} (insert_failed=${failed}, drop=${t.drop ?? 0}${clash ? `, clashes resolved ${clash}` : ''}): the losing packet${failed === 1 ? ' was' : 's were'} dropped — the race behind the well-known 5-second DNS delays`,
      evidence: rowsWith(stats, ['insert_failed']),
      why: 'Two packets of one new UDP flow sent at once from one socket (glibc sends the A and AAAA queries in parallel) race to insert the same conntrack entry on two CPUs; the loser is dropped and counted as insert_failed, and the resolver waits its 5-second timeout before it retries. Behind DNAT (a Kubernetes DNS Service) the two may even be sent to different back ends.',
      fix: [
        '# in the clients\' /etc/resolv.conf (a pod\'s dnsConfig): options single-request-reopen (or single-request), so A and AAAA do not share a socket at once',
        '# or run a node-local DNS cache (NodeLocal DNSCache) so queries are not DNATed and tracked on the way; kernels from 5.0 resolve most such clashes themselves (clash_resolve)',
      ],
      signals: kernelSignals({ cause: 'conntrack-insert-race' }),
    });
  }
  return out;
}

export const conntrackTableFull: Check = {
  id: ID,
  title: 'The connection tracking table is full or losing packets',
  severity: 'error',
  explain: `Every connection the host tracks (any iptables or nft rule with state, NAT, Docker,
kube-proxy) takes an entry in the conntrack table. When nf_conntrack_count reaches
nf_conntrack_max the kernel drops the packets of new connections ("nf_conntrack: table full,
dropping packet") while established connections and ping keep working. This check reads
nf_conntrack_count, _max, _buckets and the timeouts (/proc/sys/net/netfilter) and the per-CPU
statistics (/proc/net/stat/nf_conntrack, or conntrack -S; the rows are summed): a warning when the
count is within the margin of the maximum (config conntrackMargin, percent, default 20), an error
when the table is full or conntrack has dropped packets (drop, early_drop); and an error naming
the insert race when insert_failed is not zero — two packets of one new UDP flow (the A and AAAA
queries glibc sends at once) racing to insert one entry, the loser dropped: the well-known
5-second DNS delays. Each finding quotes the figures and the rows they come from. The counters
count since boot (or the network namespace's creation).

Fix: raise net.netfilter.nf_conntrack_max (persist in /etc/sysctl.d/, with the hash size),
shorten the timeouts that keep idle entries, or NOTRACK traffic that needs no state; for the
insert race, options single-request-reopen in resolv.conf or a node-local DNS cache.`,
  families: {
    host(ctx) {
      const margin = ctx.conntrackMargin ?? DEFAULT_CONNTRACK_MARGIN;
      const stats = statsOf(ctx.snapshot);
      return [...capacityFindings(ctx, margin), ...(stats ? dropFindings(ctx, stats) : [])];
    },
  },
};
