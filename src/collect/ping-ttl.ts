/**
 * The traceroute stand-in when traceroute is missing: `ping -n -c1 -W1 -t TTL DST` for rising
 * TTLs. Each run's output goes into one transcript (so evidence has line numbers), and each TTL
 * becomes one hop record in the traceroute parser's shape:
 *
 *     $ ping -n -c1 -W1 -t 2 10.200.1.15
 *     From 10.100.1.18 icmp_seq=1 Time to live exceeded          → hop 2: 10.100.1.18
 *     64 bytes from 10.200.1.15: icmp_seq=1 ttl=62 time=0.9 ms   → reached
 *     From 10.0.0.1 icmp_seq=1 Destination Host Unreachable      → !H
 */
import type { TracerouteHop, TracerouteProbe } from '../model/traceroute.js';

/** ping's words for ICMP Destination Unreachable codes, as traceroute marks them. */
const UNREACHABLE: [RegExp, string][] = [
  [/Destination Host Unreachable/i, '!H'],
  [/Destination Net Unreachable/i, '!N'],
  [/Destination Protocol Unreachable/i, '!P'],
  [/Packet filtered|Communication prohibited/i, '!X'],
  [/Frag needed/i, '!F'],
  [/Source Route Failed/i, '!S'],
];

export interface PingTtlRun {
  ttl: number;
  argv: string[];
  stdout: string;
}

export interface PingTtlTrace {
  /** Every run's command line and output, one after another. */
  transcript: string;
  hops: TracerouteHop[];
  reached: boolean;
}

/** Read one ping run's output as a hop; lineBase is where its output starts in the transcript. */
function hopOf(run: PingTtlRun, lineBase: number, destination: string): { hop: TracerouteHop; reached: boolean; unreachable: boolean } {
  const lines = run.stdout.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const origin = { source: 'ping', lineNumber: lineBase + i, text: line };
    const exceeded = /^From (\S+?):? icmp_seq=\d+ Time to live exceeded/.exec(line);
    if (exceeded) return { hop: { hop: run.ttl, probes: [{ address: exceeded[1] }], origin }, reached: false, unreachable: false };
    const from = /^From (\S+?):? icmp_seq=\d+ (.*)$/.exec(line);
    if (from) {
      const mark = UNREACHABLE.find(([re]) => re.test(from[2]))?.[1] ?? `!<${from[2].trim()}>`;
      return { hop: { hop: run.ttl, probes: [{ address: from[1], annotation: mark }], origin }, reached: false, unreachable: true };
    }
    const reply = /^\d+ bytes from (\S+?):.*time=([\d.]+) ms/.exec(line);
    if (reply) {
      const probe: TracerouteProbe = { address: reply[1], rttMs: Number(reply[2]) };
      return { hop: { hop: run.ttl, probes: [probe], origin }, reached: reply[1] === destination, unreachable: false };
    }
  }
  // Nothing answered this TTL: quote the command line as the evidence of the silence.
  return { hop: { hop: run.ttl, probes: [{}], origin: { source: 'ping', lineNumber: lineBase - 1, text: `$ ${run.argv.join(' ')}` } }, reached: false, unreachable: false };
}

/** Turn the outputs of the rising-TTL pings into hops; stops at the first reply or unreachable. */
export function traceFromPings(runs: readonly PingTtlRun[], destination: string): PingTtlTrace {
  const transcript: string[] = [];
  const hops: TracerouteHop[] = [];
  let reached = false;
  for (const run of runs) {
    transcript.push(`$ ${run.argv.join(' ')}`);
    const body = run.stdout.replace(/\n$/, '');
    const h = hopOf({ ...run, stdout: body }, transcript.length + 1, destination);
    transcript.push(...body.split('\n'));
    hops.push(h.hop);
    if (h.reached) reached = true;
    if (h.reached || h.unreachable) break;
  }
  return { transcript: transcript.join('\n') + '\n', hops, reached };
}

/** Whether the hop answered at all (for the runner's "stop after N silent TTLs"). */
export function answered(hop: TracerouteHop): boolean {
  return hop.probes.some((p) => p.address !== undefined);
}
