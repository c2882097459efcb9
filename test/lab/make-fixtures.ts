/**
 * Lab-captured fixtures: `npm run fixtures` (= `npm run build && tsx test/lab/make-fixtures.ts`), as root.
 *
 * Builds each scenario's lab, runs `bin/hostcheck capture` inside every captured host and writes
 * the bundle to fixtures/scenarios/<scenario>/<host>/, then copies the real kernel outputs of
 * selected hosts to fixtures/<format>/lab-<name>.{txt,in.json} so the golden runner covers them
 * (and writes their goldens for every format that is registered in parsers/index.ts).
 *
 * Output is deterministic: the few values that change from run to run are normalised, and
 * meta.json's `normalised` field lists what was done (see fixtures/scenarios/README.md).
 *
 *   tsx test/lab/make-fixtures.ts            rewrite the fixtures
 *   tsx test/lab/make-fixtures.ts --check    capture into a temp dir and list files that differ (exit 1)
 *   ... --only NAME[,NAME]                   only these scenarios (with --check: the others count as differing)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parserFor } from '../../parsers/index.js';
import { goldenCases } from '../../scripts/golden-cases.js';
import { SECOND_INCIDENT, secondIncident } from './second-incident-topology.js';
import { richHost, settleIpv6 } from './fixture-topologies.js';
import { Lab, labPrerequisites, repoRoot, type Topology } from './lab.js';
import { FIXED_ISO, FIXED_MACHINE_ID, FIXTURE_PREFIX, NORMALISED, normaliseFile } from './fixture-normalise.js';
import { HEALTHY } from './healthy-topologies.js';
import { firstIncident } from './topologies.js';

export { FIXTURE_PREFIX, NORMALISED, normaliseFile };

export interface Scenario {
  name: string;
  description: string;
  topology: () => Topology;
  /** Hosts whose bundle is captured. */
  hosts: string[];
  /** Traffic before the capture (e.g. pings that fill the neighbour table, as running VMs do). */
  warmUp?: (lab: Lab) => Promise<void>;
}

/**
 * The topology with IPv6 duplicate address detection off in every host: link-local addresses and
 * their routes appear at once instead of after a random 0-1 s delay per interface, which would
 * shuffle the order of same-prefix IPv6 routes (fe80::/64, anycast fe80::) between runs.
 * Nothing that hostcheck collects shows accept_dad.
 */
export function withoutDad(topology: Topology): Topology {
  const hosts = Object.fromEntries(
    Object.entries(topology.hosts).map(([name, spec]) => [
      name,
      { ...spec, sysctls: { 'net.ipv6.conf.all.accept_dad': 0, 'net.ipv6.conf.default.accept_dad': 0, ...spec.sysctls } },
    ]),
  );
  return { ...topology, hosts };
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'first-incident',
    description: 'three VPCs joined by a router; ecs3 has an idle docker0 (172.17.0.1/16, NO-CARRIER) that captures ecs1 172.17.0.64',
    topology: () => withoutDad(firstIncident()),
    hosts: ['router', 'ecs1', 'ecs2', 'ecs3'],
  },
  {
    name: 'first-incident-no-docker0',
    description: 'the same mesh without docker0 on ecs3: everything reaches everything',
    topology: () => withoutDad(firstIncident({ docker0: false })),
    hosts: ['router', 'ecs1', 'ecs2', 'ecs3'],
  },
  {
    name: 'rich',
    description: 'one host with every kind of state hostcheck reads (test/lab/fixture-topologies.ts richHost)',
    topology: richHost,
    hosts: ['rich'],
  },
  {
    name: 'second-incident',
    description: 'the VPN selector gap: client 10.64.3.22 loops between vpcrouter and the gateway, whose out policy selects only 10.16.0.0/16',
    topology: () => withoutDad(secondIncident()),
    hosts: ['client', 'vpcrouter', 'gateway'],
  },
  {
    name: 'vms-on-bridge',
    description: 'a KVM host (`host`) whose VMs vm1 192.168.50.11 and vm2 .12 sit on its bridge br0 192.168.50.0/24: the bridge reaches them, it captures nothing',
    topology: () => withoutDad(HEALTHY['vms-on-own-bridge'].topology()),
    hosts: ['host', 'vm1', 'vm2'],
    warmUp: async (lab) => {
      for (const vm of ['192.168.50.11', '192.168.50.12']) if (!(await lab.ping('host', vm)).ok) throw new Error(`vms-on-bridge: host cannot ping ${vm}`);
    },
  },
  {
    name: 'second-incident-widened',
    description: "the second incident after the author's fix: the gateway's out policy selects 0.0.0.0/0",
    topology: () => withoutDad(widenedSecondIncident()),
    hosts: ['client', 'vpcrouter', 'gateway'],
  },
];

/** The fix the incident's author suggests, applied in the lab: the gateway encrypts every source (0.0.0.0/0). */
function widenedSecondIncident(): Topology {
  const a = SECOND_INCIDENT;
  const t = secondIncident();
  const g = t.hosts.gateway;
  const everySource = (line: string): string => line.replace(`src ${a.covered} dst ${a.remote} dir out`, `src 0.0.0.0/0 dst ${a.remote} dir out`);
  return { ...t, hosts: { ...t.hosts, gateway: { ...g, rules: [`to ${a.remote} lookup 220 pref 220`], xfrmPolicies: (g.xfrmPolicies ?? []).map(everySource) } } };
}

/** Raw outputs copied to the golden fixture folders: [scenario, host, bundle file, format, fixture file]. */
export const GOLDEN_COPIES: [string, string, string, string, string][] = [
  ['rich', 'rich', 'ip-route-v4.txt', 'ip-route', 'lab-rich-v4.txt'],
  ['rich', 'rich', 'ip-route-v4.json', 'ip-route', 'lab-rich-v4-json.in.json'],
  ['rich', 'rich', 'ip-route-v6.txt', 'ip-route', 'lab-rich-v6.txt'],
  ['rich', 'rich', 'ip-route-v6.json', 'ip-route', 'lab-rich-v6-json.in.json'],
  ['first-incident', 'ecs3', 'ip-route-v4.txt', 'ip-route', 'lab-ecs3-v4.txt'],
  ['first-incident', 'ecs3', 'ip-route-v4.json', 'ip-route', 'lab-ecs3-v4-json.in.json'],
  ['rich', 'rich', 'ip-rule-v4.txt', 'ip-rule', 'lab-rich-v4.txt'],
  ['rich', 'rich', 'ip-rule-v4.json', 'ip-rule', 'lab-rich-v4-json.in.json'],
  ['rich', 'rich', 'ip-rule-v6.txt', 'ip-rule', 'lab-rich-v6.txt'],
  ['rich', 'rich', 'ip-rule-v6.json', 'ip-rule', 'lab-rich-v6-json.in.json'],
  ['rich', 'rich', 'ip-addr.txt', 'ip-addr', 'lab-rich.txt'],
  ['rich', 'rich', 'ip-addr.json', 'ip-addr', 'lab-rich-json.in.json'],
  ['first-incident', 'ecs3', 'ip-addr.txt', 'ip-addr', 'lab-ecs3.txt'],
  ['first-incident', 'ecs3', 'ip-addr.json', 'ip-addr', 'lab-ecs3-json.in.json'],
  ['rich', 'rich', 'ip-link.txt', 'ip-link', 'lab-rich.txt'],
  ['rich', 'rich', 'ip-link.json', 'ip-link', 'lab-rich-json.in.json'],
  ['first-incident', 'ecs3', 'ip-link.txt', 'ip-link', 'lab-ecs3.txt'],
  ['first-incident', 'ecs3', 'ip-link.json', 'ip-link', 'lab-ecs3-json.in.json'],
];

/** The namespace prefix written into fixtures in place of the lab's random one. */
/**
 * True when `a` and `b` hold the same content for the fixture's purpose: identical, or for route
 * listings the same routes in another order. The kernel lists same-prefix IPv6 routes on different
 * devices in the order the devices got carrier, which depends on which lab host came up first; an
 * existing fixture that differs only so is kept, so regenerating does not churn.
 */
export function equivalent(file: string, a: string, b: string): boolean {
  if (a === b) return true;
  if (!/^ip-route-v[46]\.(txt|json)$/.test(file)) return false;
  const items = (text: string): string[] => {
    if (!file.endsWith('.json')) return text.split('\n').sort();
    try {
      return (JSON.parse(text) as unknown[]).map((r) => JSON.stringify(r)).sort();
    } catch {
      return [text];
    }
  };
  const x = items(a);
  const y = items(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** meta.json with its volatile fields fixed, and a record of what was normalised. */
export function normaliseMeta(text: string, host: string, outDir: string): string {
  const meta = JSON.parse(text) as Record<string, unknown> & { sources: { durationMs: number }[]; argv: string[] };
  meta.startedAt = FIXED_ISO;
  meta.durationMs = 0;
  if (meta.machineId !== undefined) meta.machineId = FIXED_MACHINE_ID;
  meta.hostname = host;
  const out = meta.argv.indexOf('--out');
  if (out >= 0) meta.argv[out + 1] = outDir;
  for (const s of meta.sources) s.durationMs = 0;
  meta.normalised = {
    by: 'test/lab/make-fixtures.ts',
    note: 'a lab capture with the values that change on every run fixed, so regenerating gives the same files',
    files: NORMALISED,
  };
  return JSON.stringify(meta, null, 2) + '\n';
}

/** Captures one scenario into `<root>/scenarios/<scenario>/<host>/`. */
async function captureScenario(scenario: Scenario, root: string): Promise<void> {
  const lab = await Lab.create(scenario.topology());
  try {
    await settleIpv6(lab);
    await scenario.warmUp?.(lab);
    const raw = mkdtempSync(join(tmpdir(), 'hc-fixtures-'));
    try {
      for (const host of scenario.hosts) {
        const tmp = join(raw, host);
        const r = await lab.hostcheck(host, ['capture', '--out', tmp, '--name', host]);
        if (r.exitCode !== 0) throw new Error(`capture in ${scenario.name}/${host} exited ${r.exitCode}: ${r.stderr}`);
        const rel = join('fixtures', 'scenarios', scenario.name, host);
        const dest = join(root, 'scenarios', scenario.name, host);
        const previous = new Map<string, string>();
        for (const file of existsSync(dest) ? readdirSync(dest) : []) previous.set(file, readFileSync(join(dest, file), 'utf8'));
        rmSync(dest, { recursive: true, force: true });
        mkdirSync(dest, { recursive: true });
        for (const file of readdirSync(tmp).sort()) {
          let text = normaliseFile(file, readFileSync(join(tmp, file), 'utf8'), lab.prefix);
          if (file === 'meta.json') text = normaliseMeta(text, host, rel);
          const old = previous.get(file);
          writeFileSync(join(dest, file), old !== undefined && equivalent(file, old, text) ? old : text);
        }
        process.stdout.write(`${rel}: ${r.stdout.trim().split('\n')[0]}\n`);
      }
    } finally {
      rmSync(raw, { recursive: true, force: true });
    }
  } finally {
    await lab.destroy();
  }
}

function scenariosReadme(): string {
  const lines = [
    '# Lab-captured bundles',
    '',
    'Written by `npm run fixtures` (test/lab/make-fixtures.ts) as root: each scenario is built as',
    'network namespaces (test/lab/), `hostcheck capture --out` runs inside every listed host, and the',
    'bundle lands in `<scenario>/<host>/`. Analyse one anywhere with',
    '`hostcheck snapshot --bundle fixtures/scenarios/<scenario>/<host>`. Bundle layout: docs/bundle.md.',
    '',
    '| scenario | hosts | what it is |',
    '|---|---|---|',
    ...SCENARIOS.map((s) => `| \`${s.name}\` | ${s.hosts.join(', ')} | ${s.description} |`),
    '',
    '## Normalised values',
    '',
    'Everything is the kernel\'s real output except these values, which change on every run and are',
    'fixed so that regenerating gives the same files (each meta.json repeats this under `normalised`):',
    '',
    '| file | normalised |',
    '|---|---|',
    ...Object.entries(NORMALISED).map(([f, what]) => `| \`${f}\` | ${what} |`),
    '',
    'Not normalised, because they describe the machine that captured: `os`, `kernel`, `toolVersions`',
    '(and what the kernel prints may change with its version). MACs and IPv6 link-local addresses are',
    'stable: the lab derives every MAC from host and interface name, and the rich topology sets its',
    'devices\' MACs. IPv6 duplicate address detection is off in every scenario host (`withoutDad`),',
    'so link-local addresses are never `tentative`; captures wait until every interface with carrier has',
    'its link-local address (`settleIpv6`).',
    '',
    '## What may still differ between regenerations',
    '',
    'The lab builds its hosts in parallel, phase by phase. Two things depend on which host\'s `ip -batch`',
    'finished first, and so can differ between runs (`--check` shows them):',
    '',
    '- the order of IPv6 routes with the same prefix on different devices (`fe80::/64`, `anycast fe80::`,',
    '  `multicast ff00::/8`): the kernel lists them in the order the devices got carrier, and a veth',
    '  gets carrier when the peer host brings its end up. make-fixtures keeps an existing route file',
    '  that holds the same routes in another order (`equivalent`), so this causes no churn;',
    '- interface numbers where two hosts create interfaces in one namespace at the same time (ecs3\'s',
    '  `docker0` and `eth0`, created by ecs3 and by the router), and so `eth0@ifN` on the peer.',
    '',
    'Both are real kernel output either way; the records are the same, only their order or ifindex moves.',
    '',
    'Check determinism with `tsx test/lab/make-fixtures.ts --check` (captures into a temp dir and',
    'lists files that differ from these).',
    '',
  ];
  return lines.join('\n');
}

/** Copies the selected raw outputs into fixtures/<format>/lab-*, and writes goldens for registered formats. */
function copyGoldenInputs(root: string): void {
  for (const [scenario, host, file, format, name] of GOLDEN_COPIES) {
    const dir = join(root, format);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, name), readFileSync(join(root, 'scenarios', scenario, host, file), 'utf8'));
  }
  for (const format of [...new Set(GOLDEN_COPIES.map((c) => c[3]))]) {
    const parser = parserFor(format);
    if (!parser) {
      process.stdout.write(`${format}: not registered yet; run "npx tsx scripts/update-goldens.ts ${format}" once it is\n`);
      continue;
    }
    // Same as scripts/update-goldens.ts, for the lab-* cases only.
    for (const c of goldenCases(join(root, format)).filter((g) => g.name.startsWith('lab-'))) {
      const result = parser.parse(readFileSync(c.input, 'utf8'));
      writeFileSync(c.golden, JSON.stringify(result, null, 2) + '\n');
      process.stdout.write(`${format}/${c.name}: ${result.records.length} records, ${result.warnings.length} warnings\n`);
    }
  }
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const onlyAt = process.argv.indexOf('--only');
  const only = onlyAt >= 0 ? (process.argv[onlyAt + 1] ?? '').split(',') : undefined;
  const unknown = only?.filter((n) => !SCENARIOS.some((sc) => sc.name === n)) ?? [];
  if (unknown.length) throw new Error(`--only: no scenario ${unknown.join(', ')} (scenarios: ${SCENARIOS.map((sc) => sc.name).join(', ')})`);
  const prerequisites = labPrerequisites();
  if (!prerequisites.ok) throw new Error(`cannot build the lab: ${prerequisites.reason}`);
  if (!existsSync(join(repoRoot, 'build', 'src', 'cli', 'main.js'))) execFileSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  const fixtures = join(repoRoot, 'fixtures');
  const root = check ? mkdtempSync(join(tmpdir(), 'hc-fixtures-check-')) : fixtures;
  try {
    for (const scenario of SCENARIOS) if (!only || only.includes(scenario.name)) await captureScenario(scenario, root);
    writeFileSync(join(root, 'scenarios', 'README.md'), scenariosReadme());
    if (!check) {
      copyGoldenInputs(root);
      return;
    }
    const differ = listFiles(join(root, 'scenarios')).filter((f) => {
      const committed = join(fixtures, 'scenarios', f);
      return !existsSync(committed) || !equivalent(f.split('/').pop()!, readFileSync(committed, 'utf8'), readFileSync(join(root, 'scenarios', f), 'utf8'));
    });
    for (const f of differ) {
      process.stdout.write(`differs: fixtures/scenarios/${f}\n`);
      try {
        execFileSync('diff', ['-u', join(fixtures, 'scenarios', f), join(root, 'scenarios', f)], { encoding: 'utf8' });
      } catch (err) {
        process.stdout.write(`${String((err as { stdout?: string }).stdout ?? '').split('\n').slice(2, 40).join('\n')}\n`);
      }
    }
    process.stdout.write(differ.length ? `${differ.length} files differ\n` : 'fixtures/scenarios is reproduced exactly\n');
    if (differ.length) process.exitCode = 1;
  } finally {
    if (check) rmSync(root, { recursive: true, force: true });
  }
}

// Other fixture scripts import the helpers above; only running this file captures.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
