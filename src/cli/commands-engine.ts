/** `hostcheck route get` and `hostcheck explain`: the simulator and the checks, one question at a time. */
import { Command } from 'commander';
import { checks } from '../checks/index.js';
import { simulatorDisagreesInfo } from '../checks/simulator-disagrees.js';
import { familiesOf } from '../checks/types.js';
import { fibOf } from '../simulate/snapshot-fib.js';
import { UsageError } from '../collect/errors.js';
import { loadSnapshot } from '../collect/index.js';
import { parseAddress } from '../net/address.js';
import { safeJson, safeText } from '../report/terminal.js';
import { lookup, type RouteLookupResult } from '../simulate/route-lookup.js';
import type { HostSnapshot } from '../model/snapshot.js';
import type { WalkPacket } from '../simulate/walk-types.js';
import { printJson, readInput } from './io.js';

/** `ip route get`'s words: DST [from SRC] [iif IF] [oif IF] [mark M] [tos T] [ipproto P] [sport N] [dport N] [uid N]. */
export function parseRouteGetArgs(words: string[]): { dst: string; src?: string; iif?: string; oif?: string; mark?: number; tos?: number; ipproto?: string; sport?: number; dport?: number; uid?: number } {
  if (words.length === 0) throw new UsageError('route get needs a destination address');
  const [dst, ...rest] = words;
  if (!parseAddress(dst)) throw new UsageError(`"${dst}" is not an address`);
  const q: ReturnType<typeof parseRouteGetArgs> = { dst };
  for (let i = 0; i < rest.length; i += 2) {
    const key = rest[i];
    const value = rest[i + 1];
    if (value === undefined) throw new UsageError(`"${key}" needs a value`);
    const num = (what: string): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`${what} "${value}" is not a number`);
      return n;
    };
    switch (key) {
      case 'from':
        if (!parseAddress(value)) throw new UsageError(`from "${value}" is not an address`);
        q.src = value;
        break;
      case 'iif': q.iif = value; break;
      case 'oif': q.oif = value; break;
      case 'mark': case 'fwmark': q.mark = num('mark') >>> 0; break;
      case 'tos': case 'dsfield': q.tos = num('tos'); break;
      case 'ipproto': q.ipproto = value; break;
      case 'sport': q.sport = num('sport'); break;
      case 'dport': q.dport = num('dport'); break;
      case 'uid': q.uid = num('uid'); break;
      default: throw new UsageError(`unknown selector "${key}" (from, iif, oif, mark, tos, ipproto, sport, dport, uid)`);
    }
  }
  return q;
}

const ERRORS: Record<string, string> = {
  blackhole: 'RTNETLINK answers: Invalid argument',
  unreachable: 'RTNETLINK answers: No route to host',
  prohibit: 'RTNETLINK answers: Permission denied',
  none: 'RTNETLINK answers: Network is unreachable',
};

export function routeGetJson(dst: string, r: RouteLookupResult) {
  return {
    type: r.type, dst, table: r.table ?? null, dev: r.dev ?? null, via: r.via ?? null, src: r.src ?? null,
    rule: r.rule?.priority ?? null,
    nexthops: r.nexthops?.map((n) => ({ via: n.via ?? null, dev: n.dev ?? null, weight: n.weight })) ?? [],
    ruleLine: r.rule && r.rule.origin.lineNumber > 0 ? r.rule.origin : null,
    routeLine: r.route?.origin ?? null,
  };
}

/** `ip route get`'s answer, with the rule and route lines that decide it. */
function routeGetText(dst: string, r: RouteLookupResult): string {
  const lines: string[] = [];
  if (r.type in ERRORS) lines.push(ERRORS[r.type]);
  else {
    const head = r.type === 'unicast' ? '' : `${r.type} `;
    lines.push(`${head}${dst}${r.via ? ` via ${r.via}` : ''}${r.dev ? ` dev ${r.dev}` : ''}${r.table && r.table !== 'main' ? ` table ${r.table}` : ''}${r.src ? ` src ${r.src}` : ''}`);
  }
  if (r.rule) lines.push(`  rule:  ${r.rule.origin.lineNumber > 0 ? r.rule.origin.text.replace(/\t/g, ' ') : `${r.rule.priority}: ${r.rule.origin.text}`}`);
  if (r.route) lines.push(`  route: ${r.route.origin.text.trim()}  (${r.route.origin.source ?? 'routes'} line ${r.route.origin.lineNumber})`);
  for (const t of r.trace ?? []) if (t.outcome !== 'no-match' && t.outcome !== 'decided') lines.push(`  tried: rule ${t.rule.priority} -> ${t.outcome}${t.route ? ` (${t.route.dst})` : ''}`);
  // Device names, tables and the quoted rule and route lines come from the bundle.
  return lines.map(safeText).join('\n') + '\n';
}

export function routeCommand(): Command {
  const route = new Command('route').description("Ask the route simulator, like the kernel's ip route");
  route
    .command('get')
    .description('Which rule, table and route decide a packet — like "ip route get", for this host or a bundle')
    .argument('[words...]', 'DST [from SRC] [iif IF] [oif IF] [mark M] [tos T] [ipproto P] [sport N] [dport N] [uid N]')
    .option('--bundle <path>', 'a bundle: "hostcheck capture", a sosreport or calicoctl node diags')
    .option('--host <name>', 'which host of a bundle holding several (a sosreport\'s NETNS)')
    .option('--json', 'print type, dst, table, dev, via, src, rule and the deciding lines as JSON')
    .option('--batch <file>', 'many lookups: one "DST [from SRC] ..." per line (- for stdin); prints one JSON object per line')
    .option('--walk', 'walk the packet through netfilter and routing in the kernel\'s order (marks, NAT, conntrack, rp_filter, forwarding) and its reply; prints each stage that decides')
    .addHelpText('after', '\nExamples:\n  hostcheck route get 172.17.0.64 from 172.31.4.18\n  printf "10.0.0.1\\n10.0.0.2 from 10.9.0.5 iif eth1\\n" | hostcheck route get --batch - --bundle ./b\n  hostcheck route get 10.200.1.15 from 10.64.3.22 iif eth1 --bundle ./gw-bundle --json\n  hostcheck route get 172.18.1.22 --walk\n  hostcheck route get 8.8.8.8 from 192.168.10.5 iif eth1 ipproto tcp dport 443 --walk\n\nFailures print what the kernel prints (RTNETLINK answers: ...) and exit 2 as ip does; --json always exits 0 with "type".\nWith --walk the packet is an ICMP echo request unless ipproto says tcp/udp (a TCP SYN); exit 0 when it and its reply get through, 1 when not.')
    .action(async (words: string[], opts: { bundle?: string; host?: string; json?: boolean; batch?: string; walk?: boolean }) => {
      if (!opts.batch && words.length === 0) throw new UsageError('route get needs a destination address (or --batch FILE)');
      if (opts.walk) {
        if (opts.batch) throw new UsageError('--walk takes one packet, not --batch');
        const snapshot = await loadSnapshot({ bundle: opts.bundle, host: opts.host, purpose: 'analyze' });
        process.exitCode = await walkCommand(snapshot, parseRouteGetArgs(words), opts.json === true);
        return;
      }
      const snapshot = await loadSnapshot({ bundle: opts.bundle, host: opts.host, only: ['ip-route-v4', 'ip-route-v6', 'ip-rule-v4', 'ip-rule-v6', 'ip-addr', 'sysctl'] });
      if (opts.batch) {
        const fib = fibOf(snapshot);
        const lines = (await readInput(opts.batch)).split('\n');
        const out: string[] = [];
        lines.forEach((line, i) => {
          const w = line.trim().split(/\s+/).filter(Boolean);
          if (w.length === 0) return;
          try {
            const bq = parseRouteGetArgs(w);
            out.push(safeJson({ line: i + 1, ...routeGetJson(bq.dst, lookup(fib, bq)) }));
          } catch (err) {
            out.push(safeJson({ line: i + 1, error: (err as Error).message }));
          }
        });
        process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
        return;
      }
      const q = parseRouteGetArgs(words);
      const r = lookup(fibOf(snapshot), q, { trace: true });
      if (opts.json) return printJson(routeGetJson(q.dst, r));
      const text = routeGetText(q.dst, r);
      if (r.type in ERRORS) {
        process.stderr.write(text);
        process.exitCode = 2;
      } else process.stdout.write(text);
    });
  return route;
}

/** `route get ... --walk`: the request's walk and, when it gets through, its reply's. */
async function walkCommand(snapshot: HostSnapshot, q: ReturnType<typeof parseRouteGetArgs>, json: boolean): Promise<number> {
  const [{ walkPacket }, { replyTo }, { renderWalk }] = await Promise.all([import('../simulate/walk.js'), import('../simulate/walk-reply.js'), import('./walk-render.js')]);
  const family = parseAddress(q.dst)!.family;
  const named = ['tcp', 'udp', 'icmp', 'icmpv6'] as const;
  const proto: WalkPacket['proto'] | undefined = q.ipproto === undefined ? (family === 4 ? 'icmp' : 'icmpv6')
    : named.find((n) => n === q.ipproto) ?? (Number.isInteger(Number(q.ipproto)) ? Number(q.ipproto) : undefined);
  if (proto === undefined) throw new UsageError(`ipproto "${q.ipproto}": give tcp, udp, icmp, icmpv6 or a number with --walk`);
  const icmp = proto === 'icmp' || proto === 'icmpv6';
  const packet: WalkPacket = {
    dst: q.dst, proto,
    ...(q.src !== undefined && { src: q.src }), ...(q.iif !== undefined && { iif: q.iif }), ...(q.oif !== undefined && { oif: q.oif }),
    ...(q.mark !== undefined && { mark: q.mark }), ...(q.tos !== undefined && { tos: q.tos }), ...(q.uid !== undefined && { uid: q.uid }),
    ...(icmp ? { icmpType: family === 4 ? 8 : 128, icmpCode: 0 } : { sport: q.sport ?? 40000, ...(q.dport !== undefined && { dport: q.dport }) }),
  };
  const request = walkPacket(snapshot, packet);
  const next = replyTo(request);
  const reply = 'packet' in next ? walkPacket(snapshot, next.packet) : undefined;
  const through = (w: typeof request | undefined): boolean => w !== undefined && ['delivered', 'sent', 'forwarded', 'bridged'].includes(w.outcome);
  if (json) printJson({ request, reply: reply ?? null, ...('none' in next && { noReply: next.none }) });
  else {
    let text = renderWalk(`${q.src ?? 'this host'} → ${q.dst}${q.iif ? ` (arriving on ${q.iif})` : ''}`, request);
    if (reply) text += renderWalk(`reply ${reply.packet.src} → ${reply.packet.dst}${reply.packet.iif ? ` (arriving on ${reply.packet.iif})` : ''}`, reply);
    else if (through(request)) text += `reply: not followed — ${'none' in next ? next.none : ''}\n`;
    process.stdout.write(text);
  }
  return through(request) && (reply === undefined ? 'none' in next : through(reply)) ? 0 : 1;
}

/** Every check `explain` knows: the registry's, and the kernel join's own finding (simulator-disagrees, in the host family). */
const explained: Record<string, { id: string; severity: string; title: string; explain: string; families: string[] }> = {
  ...Object.fromEntries(Object.values(checks).map((c) => [c.id, { id: c.id, severity: c.severity, title: c.title, explain: c.explain, families: familiesOf(c) }])),
  [simulatorDisagreesInfo.id]: { ...simulatorDisagreesInfo, families: ['host'] },
};

export function explainCommand(): Command {
  const ids = Object.keys(explained).sort();
  return new Command('explain')
    .description('What a check looks for, where it runs (host, fleet, trace), why it breaks traffic, and how to fix it')
    .argument('[check]', `one of: ${ids.join(', ')}`)
    .addHelpText('after', '\nFamilies: host (hostcheck, --bundle, the agent), fleet (hostcheck serve, hostcheck path), trace (hostcheck trace).\n\nExample:\n  hostcheck explain route-captures-peer')
    .action((id?: string) => {
      if (!id) {
        for (const c of ids.map((k) => explained[k])) process.stdout.write(`${c.id.padEnd(25)} ${c.families.join(', ').padEnd(12)} ${c.severity.padEnd(8)} ${c.title}\n`);
        return;
      }
      const c = Object.prototype.hasOwnProperty.call(explained, id) ? explained[id] : undefined;
      if (!c) throw new UsageError(`unknown check "${id}"; checks: ${ids.join(', ')}`);
      process.stdout.write(`${c.id} (${c.severity}; ${c.families.join(', ')}): ${c.title}\n\n${c.explain}\n`);
    });
}
