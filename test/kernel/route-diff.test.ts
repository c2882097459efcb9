/**
 * The route simulator against the Linux kernel, end to end: random policy-routing setups
 * (route-gen.ts) are loaded into one lab namespace, `hostcheck capture` takes a bundle, and
 * `hostcheck route get --bundle --batch` must give the kernel's own answer (`ip -force -batch`
 * `route get`) for every lookup. Failures are compared like any other answer: the kernel
 * prints no type for them, so its errno text names one (Invalid argument = blackhole, No route
 * to host = unreachable route, Permission denied = prohibit, Network is unreachable = no route
 * or an `unreachable` rule). A disagreement fails the suite with a reproduction shrunk to the
 * lines that still make it disagree. HOSTCHECK_KERNEL_SETUPS / HOSTCHECK_KERNEL_SEED choose
 * the run (`npm run test:kernel -- --setups N --seed S`); docs/kernel-tests.md has the details.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseRouteGetArgs } from '../../src/cli/commands-engine.js';
import { fibOf } from '../../src/simulate/snapshot-fib.js';
import { loadSnapshot } from '../../src/collect/index.js';
import { parseAddress } from '../../src/net/address.js';
import { lookup, type Fib } from '../../src/simulate/route-lookup.js';
import { hostcheckBin, repoRoot } from '../lab/lab.js';
import { describeLab, useLab } from '../lab/suite.js';
import type { Topology } from '../lab/topology.js';
import { Coverage, featuresOf, generateSetup, tieKeysOf, type Lookup, type RouteSetup } from './route-gen.js';

const SETUPS = Number(process.env.HOSTCHECK_KERNEL_SETUPS ?? 100);
const SEED = Number(process.env.HOSTCHECK_KERNEL_SEED ?? 1);
/** Lookups per family per setup: 100 setups give 10,400. */
const LOOKUPS_PER_FAMILY = 52;
/** Every feature must be exercised by this many decided lookups (a full CI-size run only). */
const MIN_PER_FEATURE = 100;
/** Shrinking costs a capture per try: only the first few disagreeing setups are shrunk. */
const SHRINK_AT_MOST = Number(process.env.HOSTCHECK_KERNEL_SHRINK ?? 3);

const TOPOLOGY: Topology = {
  hosts: {
    r: {
      router: true,
      bridges: [{ name: 'br0', addresses: ['10.3.0.1/24', '2001:db8:d::1/64'] }],
      // No duplicate address detection: a link-local address still tentative while the bundle
      // is taken but usable when the kernel answers would make the first setups disagree.
      sysctls: { 'net.ipv6.conf.default.accept_dad': 0, 'net.ipv6.conf.all.accept_dad': 0 },
    },
  },
  links: [
    { a: { host: 'r', iface: 'd0', addresses: ['10.0.0.1/24', '2001:db8:a::1/64'] }, b: { host: 'r', iface: 'p0' } },
    { a: { host: 'r', iface: 'd1', addresses: ['10.1.0.1/24', '10.1.0.2/24', '2001:db8:b::1/64'] }, b: { host: 'r', iface: 'p1' } },
    { a: { host: 'r', iface: 'd2', addresses: ['10.2.0.1/24', '2001:db8:c::1/64'] }, b: { host: 'r', iface: 'p2' } },
    { a: { host: 'r', iface: 'd3' }, b: { host: 'r', iface: 'p3', bridge: 'br0' } },
    { a: { host: 'r', iface: 'd4', addresses: ['10.4.0.1/24', '2001:db8:e::1/64'] }, b: { host: 'r', iface: 'p4', up: false } },
  ],
};

/** The host in one line, for reproductions. */
const HOST_TEXT = 'veth pairs d0-p0 d1-p1 d2-p2 d3-p3 d4-p4 (p4 down), bridge br0 with port p3; '
  + 'd0 10.0.0.1/24 2001:db8:a::1/64, d1 10.1.0.1/24 10.1.0.2/24 2001:db8:b::1/64, d2 10.2.0.1/24 2001:db8:c::1/64, '
  + 'br0 10.3.0.1/24 2001:db8:d::1/64, d4 10.4.0.1/24 2001:db8:e::1/64';

/** One answer, the kernel's or hostcheck's, in the terms they are compared in. */
type Answer =
  | { error: string }
  | { type: string; table?: string; dev?: string; via?: string; src?: string; nexthops?: { via?: string; dev?: string }[] };

const KERNEL_ERRORS: Record<string, string> = {
  'Invalid argument': 'blackhole',
  'No route to host': 'unreachable',
  'Permission denied': 'prohibit',
  'Network is unreachable': 'unreachable/none',
};

/** `ip -j -force -batch` output: one JSON array per successful line, errors on stderr with "Command failed -:N". */
function kernelAnswers(stdout: string, stderr: string, count: number): Answer[] {
  const failed = new Map<number, string>();
  let message = '';
  for (const line of stderr.split('\n')) {
    const m = /^Command failed \S*:(\d+)$/.exec(line);
    if (m) {
      failed.set(Number(m[1]), message);
      message = '';
    } else if (line.trim() && !message) message = line.replace(/^RTNETLINK answers: /, '').replace(/^Error: /, '').trim();
  }
  const ok = stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, string>[]);
  if (ok.length + failed.size !== count) throw new Error(`ip -batch answered ${ok.length} + ${failed.size} of ${count} lines:\n${stderr}`);
  const out: Answer[] = [];
  let next = 0;
  for (let i = 1; i <= count; i++) {
    const err = failed.get(i);
    if (err !== undefined) { out.push({ error: KERNEL_ERRORS[err] ?? err }); continue; }
    const j = ok[next++][0];
    out.push({ type: j.type ?? 'unicast', table: j.table, dev: j.dev, via: j.gateway, src: j.prefsrc });
  }
  return out;
}

/** One line of `hostcheck route get --batch`. */
interface CliLine {
  line: number; error?: string; type: string; table: string | null; dev: string | null; via: string | null; src: string | null;
  routeLine: unknown; nexthops: { via: string | null; dev: string | null }[];
}

function cliAnswer(j: CliLine): Answer {
  if (j.error) return { error: `hostcheck error: ${j.error}` };
  switch (j.type) {
    case 'blackhole': case 'prohibit': return { error: j.type };
    // A rule's `unreachable` is ENETUNREACH, like no route at all; an unreachable route is EHOSTUNREACH.
    case 'unreachable': return { error: j.routeLine ? 'unreachable' : 'unreachable/none' };
    case 'none': return { error: 'unreachable/none' };
    default: return {
      type: j.type, table: j.table ?? undefined, dev: j.dev ?? undefined, via: j.via ?? undefined, src: j.src ?? undefined,
      nexthops: j.nexthops.map((n) => ({ via: n.via ?? undefined, dev: n.dev ?? undefined })),
    };
  }
}

const TABLE_NUMBERS: Record<string, string> = { main: '254', local: '255', default: '253' };
/** Table names and numbers as one key; no table is main (the kernel prints none for main). */
const tableOf = (t: string | undefined): string => (t === undefined ? '254' : TABLE_NUMBERS[t] ?? t);

/**
 * Why hostcheck's answer is not the kernel's, or undefined when they agree. The kernel hashes a
 * multipath flow to one nexthop, which must be one of ours; it prints the source it chose only
 * when the lookup named none (`from`) and was not an arriving packet.
 */
function difference(q: Lookup, kernel: Answer, ours: Answer, fib: Fib): string | undefined {
  if ('error' in kernel || 'error' in ours) {
    const k = 'error' in kernel ? kernel.error : kernel.type;
    const o = 'error' in ours ? ours.error : ours.type;
    return k === o ? undefined : `kernel ${k}, hostcheck ${o}`;
  }
  const diffs: string[] = [];
  if (kernel.type !== ours.type) diffs.push(`type: kernel ${kernel.type}, hostcheck ${ours.type}`);
  const kt = tableOf(kernel.table);
  const ot = tableOf(ours.table);
  if (kt !== ot) diffs.push(`table: kernel ${kt}, hostcheck ${ot}`);
  const multipath = (ours.nexthops?.length ?? 0) > 1;
  if (multipath) {
    // Broadcast and multicast leave without a gateway, whichever nexthop the hash picked.
    const gatewayless = kernel.type === 'broadcast' || kernel.type === 'multicast';
    if (!ours.nexthops!.some((n) => n.dev === kernel.dev && (gatewayless || n.via === kernel.via))) {
      diffs.push(`nexthop: kernel ${kernel.via ?? '-'} dev ${kernel.dev}, hostcheck one of ${ours.nexthops!.map((n) => `${n.via ?? '-'} dev ${n.dev}`).join(', ')}`);
    }
  } else {
    if (kernel.dev !== ours.dev) diffs.push(`dev: kernel ${kernel.dev}, hostcheck ${ours.dev}`);
    if (kernel.via !== ours.via) diffs.push(`via: kernel ${kernel.via}, hostcheck ${ours.via}`);
  }
  const words = q.words.split(' ');
  if (!words.includes('from') && !words.includes('iif') && kernel.src !== undefined) {
    let src = ours.src;
    if (multipath && diffs.length === 0) {
      // Our answer names the first nexthop's source; the kernel's is the one it hashed to.
      const query = parseRouteGetArgs(words);
      const r = lookup(fib, query);
      src = r.route?.src ?? fib.sources.choose(q.family, kernel.dev, kernel.via ?? r.nexthops?.find((n) => n.dev === kernel.dev)?.via, parseAddress(query.dst)!);
    }
    if (kernel.src !== src) diffs.push(`src: kernel ${kernel.src}, hostcheck ${src}`);
  }
  return diffs.length ? diffs.join('; ') : undefined;
}

const show = (a: Answer): string => JSON.stringify(a);

interface Disagreement { setup: RouteSetup; index: number; kernel: Answer; ours: Answer; why: string }

/** Everything one setup gives: per lookup the kernel's and hostcheck's answers. */
interface SetupRun { kernel: Answer[]; ours: Answer[]; bundle: string; loadErrors: string }

describeLab('route lookup against the kernel (differential)', () => {
  const lab = useLab(TOPOLOGY);
  let work = '';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'hc-route-diff-'));
    if (!existsSync(join(repoRoot, 'build', 'src', 'cli', 'main.js'))) throw new Error('build/ is missing: run "npm run build" first');
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Loads `setup` (only `lookups` are asked), captures a bundle and asks both sides. */
  async function runSetup(setup: RouteSetup, lookups: Lookup[], dir: string): Promise<SetupRun> {
    await mkdir(dir, { recursive: true });
    const q4 = lookups.filter((l) => l.family === 4);
    const q6 = lookups.filter((l) => l.family === 6);
    const ordered = [...q4, ...q6];
    const reset = (lines: string[]): string[] => lines.filter((l) => l.startsWith('rule flush') || l.startsWith('route flush') || /^rule add pref 3276[67] lookup (main|default)$/.test(l));
    const load = (lines: string[]): string[] => lines.filter((l) => !reset([l]).length);
    const ignore = setup.ignoreLinkdown ? 1 : 0;
    await Promise.all([
      writeFile(join(dir, 'reset4'), reset(setup.v4).join('\n') + '\n'),
      writeFile(join(dir, 'reset6'), reset(setup.v6).join('\n') + '\n'),
      // The last line proves the batch ran to its end (a syntax error stops ip even with -force).
      writeFile(join(dir, 'load4'), [...load(setup.v4), 'link show dev lo'].join('\n') + '\n'),
      writeFile(join(dir, 'load6'), [...load(setup.v6), 'link show dev lo'].join('\n') + '\n'),
      writeFile(join(dir, 'q4'), q4.map((l) => `route get ${l.words}\n`).join('')),
      writeFile(join(dir, 'q6'), q6.map((l) => `route get ${l.words}\n`).join('')),
      writeFile(join(dir, 'cli'), ordered.map((l) => `${l.words}\n`).join('')),
    ]);
    const script = [
      `cd ${dir}`,
      'ip -4 -force -batch reset4 >/dev/null 2>&1; ip -6 -force -batch reset6 >/dev/null 2>&1',
      `echo ${ignore} > /proc/sys/net/ipv4/conf/d4/ignore_routes_with_linkdown`,
      `echo ${ignore} > /proc/sys/net/ipv6/conf/d4/ignore_routes_with_linkdown`,
      'ip -4 -force -batch load4 >load4.out 2>load4.err; ip -6 -force -batch load6 >load6.out 2>load6.err',
      'rm -rf bundle',
      // Once more after a pause: another process may be rewriting build/ (npm run build).
      `${hostcheckBin} capture --out bundle >capture.out 2>&1 || { sleep 3; rm -rf bundle; ${hostcheckBin} capture --out bundle >capture.out 2>&1; } || exit 3`,
      'ip -4 -j -force -batch q4 >k4.out 2>k4.err; ip -6 -j -force -batch q6 >k6.out 2>k6.err',
      'exit 0',
    ].join('\n');
    const r = await lab().exec('r', ['sh', '-c', script]);
    if (r.exitCode !== 0) throw new Error(`setup ${setup.seed}: the namespace script failed (${r.exitCode}): ${r.stderr}${await readFile(join(dir, 'capture.out'), 'utf8').catch(() => '')}`);
    const read = (f: string): Promise<string> => readFile(join(dir, f), 'utf8');
    for (const f of ['load4.out', 'load6.out']) {
      if (!(await read(f)).includes('lo:')) throw new Error(`setup ${setup.seed}: ${f.slice(0, 5)} stopped early:\n${await read(f.replace('.out', '.err'))}`);
    }
    const kernel = [
      ...kernelAnswers(await read('k4.out'), await read('k4.err'), q4.length),
      ...kernelAnswers(await read('k6.out'), await read('k6.err'), q6.length),
    ];
    const cliRun = await hostcheckRetried(['route', 'get', '--bundle', join(dir, 'bundle'), '--batch', join(dir, 'cli')]);
    const cli = cliRun.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as CliLine);
    if (cli.length !== ordered.length) throw new Error(`hostcheck route get answered ${cli.length} of ${ordered.length} lookups`);
    // Back to the setup's order.
    const byLookup = new Map<Lookup, number>(ordered.map((l, i) => [l, i]));
    const idx = lookups.map((l) => byLookup.get(l)!);
    const loadErrors = `${await read('load4.err')}${await read('load6.err')}`;
    return { kernel: idx.map((i) => kernel[i]), ours: idx.map((i) => cliAnswer(cli[i])), bundle: join(dir, 'bundle'), loadErrors };
  }

  /** bin/hostcheck, once more after a pause if it fails (another process may be rewriting build/). */
  async function hostcheckRetried(args: string[]) {
    let r = await lab().hostcheck('r', args);
    if (r.exitCode !== 0) {
      await new Promise((done) => setTimeout(done, 3000));
      r = await lab().hostcheck('r', args);
    }
    if (r.exitCode !== 0) throw new Error(`hostcheck ${args.slice(0, 2).join(' ')} failed (${r.exitCode}): ${r.stderr}`);
    return r;
  }

  async function fibFor(bundle: string) {
    const snapshot = await loadSnapshot({ bundle, only: ['ip-route-v4', 'ip-route-v6', 'ip-rule-v4', 'ip-rule-v6', 'ip-addr', 'sysctl'] });
    return { fib: fibOf(snapshot), ties: tieKeysOf(snapshot.routes.toArray()) };
  }

  /** Drops lines while the lookup still disagrees: the reproduction of a disagreement. */
  async function shrink(d: Disagreement): Promise<string> {
    const q = d.setup.lookups[d.index];
    const dir = join(work, `shrink-${d.setup.seed}`);
    let current: RouteSetup = { ...d.setup, lookups: [q] };
    const fixed = (l: string): boolean => l.startsWith('rule flush') || l.startsWith('route flush');
    const stillDisagrees = async (s: RouteSetup): Promise<{ kernel: Answer; ours: Answer; why: string } | undefined> => {
      const run = await runSetup(s, [q], dir);
      const { fib } = await fibFor(run.bundle);
      const why = difference(q, run.kernel[0], run.ours[0], fib);
      return why ? { kernel: run.kernel[0], ours: run.ours[0], why } : undefined;
    };
    let last = { kernel: d.kernel, ours: d.ours, why: d.why };
    // The other family's lines first, all at once, then one line at a time.
    const other: keyof RouteSetup = q.family === 4 ? 'v6' : 'v4';
    const without = { ...current, [other]: current[other].filter(fixed) };
    const r0 = await stillDisagrees(without);
    if (r0) { current = without; last = r0; }
    const fam: 'v4' | 'v6' = q.family === 4 ? 'v4' : 'v6';
    for (let i = current[fam].length - 1; i >= 0; i--) {
      if (fixed(current[fam][i])) continue;
      const trial = { ...current, [fam]: current[fam].filter((_, k) => k !== i) };
      const r = await stillDisagrees(trial);
      if (r) { current = trial; last = r; }
    }
    const lines = (f: 'v4' | 'v6'): string => current[f].filter((l) => !l.startsWith('route flush')).map((l) => `    ${l}`).join('\n');
    return [
      `setup seed ${d.setup.seed}, shrunk to:`,
      `  host: ${HOST_TEXT}; net.ipv${q.family}.conf.d4.ignore_routes_with_linkdown=${d.setup.ignoreLinkdown ? 1 : 0}, forwarding on`,
      `  ip -4 -batch -:\n${lines('v4')}`,
      `  ip -6 -batch -:\n${lines('v6')}`,
      `  lookup: ip ${q.family === 6 ? '-6 ' : ''}route get ${q.words}`,
      `  kernel:    ${show(last.kernel)}`,
      `  hostcheck: ${show(last.ours)}`,
      `  why: ${last.why}`,
      `  rerun: npm run test:kernel -- --setups 1 --seed ${d.setup.seed}`,
    ].join('\n');
  }

  it(`agrees with ip route get on ${SETUPS} random setups from seed ${SEED}`, async () => {
    const started = Date.now();
    const coverage = new Coverage();
    const disagreements: Disagreement[] = [];
    const refused = new Map<string, number>();
    for (let n = 0; n < SETUPS; n++) {
      const setup = generateSetup(SEED + n, LOOKUPS_PER_FAMILY);
      const run = await runSetup(setup, setup.lookups, join(work, 'setup'));
      for (const line of run.loadErrors.split('\n')) {
        if (!line.trim() || line.startsWith('Command failed')) continue;
        refused.set(line.trim(), (refused.get(line.trim()) ?? 0) + 1);
      }
      const { fib, ties } = await fibFor(run.bundle);
      setup.lookups.forEach((q, i) => {
        const why = difference(q, run.kernel[i], run.ours[i], fib);
        if (why) { disagreements.push({ setup, index: i, kernel: run.kernel[i], ours: run.ours[i], why }); return; }
        const query = parseRouteGetArgs(q.words.split(' '));
        const traced = lookup(fib, query, { trace: true });
        const k = run.kernel[i];
        coverage.add(featuresOf(query, traced, ties), 'error' in k ? k.error : k.type);
      });
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const lookups = SETUPS * LOOKUPS_PER_FAMILY * 2;
    console.log([
      `[route-diff] ${SETUPS} setups (seeds ${SEED}..${SEED + SETUPS - 1}), ${lookups} lookups, ${disagreements.length} disagreements, ${seconds} s`,
      `[route-diff] generated lines the kernel refused (the bundle shows what it kept): ${[...refused].sort((a, b) => b[1] - a[1]).map(([m, n]) => `${m} ${n}`).join(', ') || 'none'}`,
      `[route-diff] coverage (decided lookups that exercised each feature):`,
      coverage.table(),
    ].join('\n'));

    if (disagreements.length > 0) {
      const shrunk: string[] = [];
      const seen = new Set<number>();
      for (const d of disagreements) {
        if (seen.has(d.setup.seed) || seen.size >= SHRINK_AT_MOST) continue;
        seen.add(d.setup.seed);
        shrunk.push(await shrink(d));
      }
      const list = disagreements.slice(0, 60).map((d) => `  seed ${d.setup.seed}: ip ${d.setup.lookups[d.index].family === 6 ? '-6 ' : ''}route get ${d.setup.lookups[d.index].words}: ${d.why}`);
      expect.fail(`${disagreements.length} lookups disagree with the kernel:\n${list.join('\n')}\n\nreproductions:\n${shrunk.join('\n\n')}`);
    }
    if (SETUPS >= 100) expect(coverage.short(MIN_PER_FEATURE), `features with fewer than ${MIN_PER_FEATURE} lookups`).toEqual([]);
  }, Math.max(300_000, SETUPS * 10_000));
});
