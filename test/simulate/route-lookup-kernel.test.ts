/**
 * The route simulator against the kernel: random rules and routes go into a network
 * namespace, `ip route show table all` / `ip rule` / `ip addr` come back through the parsers,
 * and every query's answer must equal `ip -j route get`. Needs root and `ip netns`; skipped
 * otherwise. Multipath answers only need the kernel's chosen nexthop among ours (it hashes).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parse as parseRoutes } from '../../parsers/ip-route.js';
import { parse as parseRules } from '../../parsers/ip-rule.js';
import { parse as parseAddrs } from '../../parsers/ip-addr.js';
import { buildFib, fibContextFrom, lookup, type RouteLookupResult, type RouteQuery } from '../../src/simulate/route-lookup.js';

function canUseNetns(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = `hc-h6-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const NS = `hc-h6-${process.pid}-${Math.floor(Math.random() * 1e6)}`;

function ip(args: string[], input?: string): { out: string; err: string } {
  try {
    return { out: execFileSync('ip', ['-n', NS, ...args], { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString(), err: '' };
  } catch (e) {
    const x = e as { stdout?: Buffer; stderr?: Buffer };
    return { out: x.stdout?.toString() ?? '', err: x.stderr?.toString() ?? 'failed' };
  }
}

function sh(argv: string[]): void {
  execFileSync(argv[0], argv.slice(1), { stdio: 'ignore' });
}

const GATEWAYS4 = [['10.0.0.254', 'd0'], ['10.1.0.254', 'd1'], ['10.2.0.254', 'd2']];
const GATEWAYS6 = [['2001:db8:a::fe', 'd0'], ['2001:db8:b::fe', 'd1'], ['2001:db8:c::fe', 'd2']];

/** Route lines for `ip -batch` (v4 or v6), over overlapping prefixes. */
function routeArb(family: 4 | 6) {
  const prefixes = family === 4
    ? ['default', '20.0.0.0/8', '20.1.0.0/16', '20.1.2.0/24', '20.1.2.128/25', '20.1.2.200/32', '30.0.0.0/16', '10.0.0.128/25']
    : ['default', '2001:db8:20::/44', '2001:db8:21::/48', '2001:db8:21:2::/64', '2001:db8:21:2::c8/128', '2001:db8:30::/48', '2001:db8:a::/65'];
  const gws = family === 4 ? GATEWAYS4 : GATEWAYS6;
  return fc.record({
    prefix: fc.constantFrom(...prefixes),
    table: fc.constantFrom('main', '100', '200'),
    kind: fc.constantFrom('via', 'via', 'via', 'dev', 'multipath', 'blackhole', 'unreachable', 'prohibit', 'throw'),
    gw: fc.integer({ min: 0, max: 2 }),
    metric: fc.integer({ min: 0, max: 3 }),
    tos: fc.constantFrom('', '', ' tos 0x10'),
  }).map((r) => {
    const [gw, dev] = gws[r.gw];
    const tos = family === 4 ? r.tos : '';
    const tail = ` table ${r.table} metric ${r.metric}${tos}`;
    switch (r.kind) {
      case 'via': return `route add ${r.prefix} via ${gw} dev ${dev}${tail}`;
      case 'dev': return `route add ${r.prefix} dev ${dev}${tail}`;
      case 'multipath': {
        const [gw2, dev2] = gws[(r.gw + 1) % 3];
        return `route add ${r.prefix}${tail} nexthop via ${gw} dev ${dev} weight 1 nexthop via ${gw2} dev ${dev2} weight 2`;
      }
      default: return `route add ${r.kind} ${r.prefix}${tail}`;
    }
  });
}

function ruleArb(family: 4 | 6) {
  const selectors = family === 4
    ? ['', '', 'from 10.0.0.0/8', 'from 10.1.0.0/24', 'to 20.1.0.0/16', 'fwmark 0x1/0x1', 'iif lo', 'iif d2', 'oif d1', 'tos 0x10', 'ipproto tcp dport 80', 'iif nosuch']
    : ['', '', 'from 2001:db8:b::/48', 'to 2001:db8:21::/48', 'fwmark 0x1/0x1', 'iif lo', 'iif d2', 'oif d1', 'ipproto tcp dport 80', 'iif nosuch'];
  return fc.record({
    pref: fc.integer({ min: 1, max: 40 }).map((p) => p * 10),
    not: fc.constantFrom('', '', '', 'not '),
    sel: fc.constantFrom(...selectors),
    action: fc.constantFrom('lookup 100', 'lookup 200', 'lookup 100', 'lookup main', 'lookup 999', 'goto', 'nop', 'blackhole', 'unreachable', 'prohibit'),
    gotoTarget: fc.integer({ min: 1, max: 41 }).map((p) => p * 10),
    suppress: fc.constantFrom('', '', '', ' suppress_prefixlength 0', ' suppress_prefixlength 16'),
  }).map((r) => {
    const action = r.action === 'goto' ? `goto ${Math.max(r.gotoTarget, r.pref + 10)}` : r.action;
    const suppress = r.action.startsWith('lookup') ? r.suppress : '';
    return `rule add pref ${r.pref} ${r.not}${r.sel} ${action}${suppress}`.replace(/ +/g, ' ');
  });
}

const QUERY_DSTS4 = ['20.1.2.201', '20.1.2.200', '20.1.2.130', '20.1.2.5', '20.1.9.9', '20.9.9.9', '30.0.1.1', '10.0.0.200',
  '10.0.0.5', '10.1.0.1', '10.0.0.255', '8.8.8.8', '127.0.0.5'];
const QUERY_DSTS6 = ['2001:db8:21:2::c8', '2001:db8:21:2::9', '2001:db8:21:3::1', '2001:db8:2f::1', '2001:db8:30::1', '2001:db8:a::5',
  '2001:db8:a:0:8000::5', '2001:db8:b::1', '2a00::1', '::1'];

function queryArb(family: 4 | 6) {
  return fc.record({
    dst: fc.constantFrom(...(family === 4 ? QUERY_DSTS4 : QUERY_DSTS6)),
    src: fc.constantFrom(undefined, family === 4 ? '10.0.0.1' : '2001:db8:a::1', family === 4 ? '10.1.0.1' : '2001:db8:b::1'),
    mark: fc.constantFrom(undefined, 1, 2),
    tos: fc.constantFrom(undefined, undefined, 0x10),
    oif: fc.constantFrom(undefined, undefined, undefined, 'd0', 'd1'),
    tcp80: fc.boolean(),
    forwarded: fc.boolean(),
  });
}

type Answer = { error: string } | { type: string; dev?: string; via?: string; src?: string; alternatives?: string[] };

function kernelAnswer(args: string[], family: 4 | 6): Answer {
  const { out, err } = ip([family === 6 ? '-6' : '-4', '-j', 'route', 'get', ...args]);
  if (err) return { error: err.replace(/^RTNETLINK answers: /, '').trim() };
  const j = JSON.parse(out)[0] as { type?: string; dev?: string; gateway?: string; prefsrc?: string };
  return { type: j.type ?? 'unicast', dev: j.dev, via: j.gateway, src: j.prefsrc };
}

const ERRORS: Record<string, string> = {
  none: 'Network is unreachable', unreachable: 'No route to host', prohibit: 'Permission denied', blackhole: 'Invalid argument',
};

function simulatedAnswer(r: RouteLookupResult): Answer {
  if (ERRORS[r.type]) {
    // A rule's `unreachable` action is ENETUNREACH; an unreachable route is EHOSTUNREACH.
    return { error: r.type === 'unreachable' && !r.route ? ERRORS.none : ERRORS[r.type] };
  }
  return { type: r.type, dev: r.dev, via: r.via, src: r.src, alternatives: r.nexthops?.map((n) => `${n.via}@${n.dev}`) };
}

describe.skipIf(!canUseNetns())('route lookup against the kernel', () => {
  beforeAll(() => {
    sh(['ip', 'netns', 'add', NS]);
    const setup = ['link set lo up'];
    for (let i = 0; i < 3; i++) {
      setup.push(`link add d${i} type veth peer name p${i}`, `link set d${i} up`, `link set p${i} up`);
      setup.push(`addr add 10.${i}.0.1/24 dev d${i}`, `addr add 2001:db8:${(10 + i).toString(16)}::1/64 dev d${i} nodad`);
    }
    setup.push('addr add 10.1.0.2/24 dev d1');
    ip(['-batch', '-'], setup.join('\n') + '\n');
    for (const k of ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']) sh(['ip', 'netns', 'exec', NS, 'sysctl', '-qw', k]);
  });

  afterAll(() => {
    try { sh(['ip', 'netns', 'del', NS]); } catch { /* already gone */ }
  });

  for (const family of [4, 6] as const) {
    it(`agrees with ip route get on random IPv${family} tables and rules`, () => {
      const f = family === 6 ? '-6' : '-4';
      fc.assert(
        fc.property(
          fc.array(routeArb(family), { minLength: 3, maxLength: 14 }),
          fc.array(ruleArb(family), { maxLength: 6 }),
          fc.boolean(), fc.boolean(),
          fc.array(queryArb(family), { minLength: 20, maxLength: 20 }),
          (routeLines, ruleLines, d1Down, ignoreLinkdown, queries) => {
            // Reset: drop the added rules and tables, then apply this case.
            // `rule flush` also drops main/default; they come back so that the rule list is the
            // kernel's (IPv6 ignores its rules until one has been added: fib6_has_custom_rules).
            const reset = ['rule flush', 'route flush table 100', 'route flush table 200', 'route flush table main proto boot',
              'rule add pref 32766 lookup main', ...(family === 4 ? ['rule add pref 32767 lookup default'] : [])];
            ip([f, '-force', '-batch', '-'], reset.join('\n') + '\n');
            ip(['link', 'set', 'p1', d1Down ? 'down' : 'up']);
            sh(['ip', 'netns', 'exec', NS, 'sysctl', '-qw', `net.ipv${family}.conf.d1.ignore_routes_with_linkdown=${ignoreLinkdown ? 1 : 0}`]);
            ip([f, '-force', '-batch', '-'], [...routeLines, ...ruleLines].join('\n') + '\n');

            const routeDump = ip([f, 'route', 'show', 'table', 'all']).out;
            const ruleDump = ip([f, 'rule', 'show']).out;
            const addrDump = ip(['addr', 'show']).out;
            const routes = parseRoutes(routeDump, { family });
            const rules = parseRules(ruleDump, { family });
            expect(routes.warnings).toEqual([]);
            expect(rules.warnings).toEqual([]);
            const ctx = fibContextFrom(parseAddrs(addrDump).records, [
              { family, device: 'd1', name: 'ignore_routes_with_linkdown', value: ignoreLinkdown ? '1' : '0' },
            ]);
            const fib = buildFib(routes.records, rules.records, ctx);

            for (const q of queries) {
              const forwarded = q.forwarded && !q.dst.startsWith('127.') && q.dst !== '::1';
              const args = [q.dst];
              const query: RouteQuery = { dst: q.dst };
              if (forwarded) {
                const from = family === 4 ? '10.2.0.9' : '2001:db8:c::9';
                args.push('from', from, 'iif', 'd2');
                Object.assign(query, { src: from, iif: 'd2' });
              } else {
                if (q.src) { args.push('from', q.src); query.src = q.src; }
                if (q.oif) { args.push('oif', q.oif); query.oif = q.oif; }
              }
              if (q.mark) { args.push('mark', String(q.mark)); query.mark = q.mark; }
              if (q.tos && family === 4) { args.push('tos', '0x10'); query.tos = 0x10; }
              if (q.tcp80) { args.push('ipproto', 'tcp', 'dport', '80'); Object.assign(query, { ipproto: 'tcp', dport: 80 }); }
              const want = kernelAnswer(args, family);
              const got = simulatedAnswer(lookup(fib, query));
              const context = `ip ${f} route get ${args.join(' ')}\n--- routes\n${routeDump}--- rules\n${ruleDump}`;
              if ('error' in want || 'error' in got) {
                expect(got, context).toEqual(want);
                continue;
              }
              expect(got.type, context).toBe(want.type);
              if (got.alternatives && got.alternatives.length > 1) {
                expect(got.alternatives, context).toContain(`${want.via}@${want.dev}`);
              } else {
                expect({ dev: got.dev, via: got.via }, context).toEqual({ dev: want.dev, via: want.via });
              }
              // The kernel prints the flow's own source (IPv4) or its preferred one (IPv6) when
              // `from` is given; ours is the flow's, so only sourceless queries are compared.
              if (!forwarded && !q.src && want.src !== undefined && !(got.alternatives && got.alternatives.length > 1)) {
                expect(got.src, context).toBe(want.src);
              }
            }
          },
        ),
        { numRuns: 25, endOnFailure: true },
      );
    });
  }
});
