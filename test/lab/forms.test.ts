/**
 * iproute2 prints the same state as text and, with -j, as JSON; hostcheck reads both. On a real
 * kernel (the rich lab host, captured with `bin/hostcheck capture`), the text and JSON forms of
 * ip route (v4, v6), ip rule (v4, v6), ip addr and ip link must give identical records except
 * `origin`. Needs a build (`npm run build`): bin/hostcheck runs build/.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parserFor } from '../../parsers/index.js';
import { sourceByName } from '../../src/collect/sources.js';
import { RICH, richHost, settleIpv6 } from './fixture-topologies.js';
import { describeLab, useLab } from './suite.js';

interface FormCase {
  /** The text source in the bundle; its JSON twin is `<source>-json`. */
  source: string;
  format: string;
  family?: 4 | 6;
}

const CASES: FormCase[] = [
  { source: 'ip-route-v4', format: 'ip-route', family: 4 },
  { source: 'ip-route-v6', format: 'ip-route', family: 6 },
  { source: 'ip-rule-v4', format: 'ip-rule', family: 4 },
  { source: 'ip-rule-v6', format: 'ip-rule', family: 6 },
  { source: 'ip-addr', format: 'ip-addr' },
  { source: 'ip-link', format: 'ip-link' },
];

/** A JSON copy with every `origin` removed (and undefined fields gone). */
function withoutOrigin(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (key, v: unknown) => (key === 'origin' ? undefined : v)));
}

type Link = { name: string; linkNetnsid?: number; details?: Record<string, string> };

/**
 * The one fact the two forms print differently: a veth whose peer is in a *named* namespace shows
 * `link-netns NAME` in text (iproute2 resolves the id through /run/netns) but `link_netnsid N` in
 * JSON. Returns those per interface and removes them, so the rest can be compared as equal.
 */
function takePeerNamespaces(links: Link[]): Map<string, string | number> {
  const found = new Map<string, string | number>();
  for (const link of links) {
    if (link.details && 'link-netns' in link.details) {
      found.set(link.name, link.details['link-netns']);
      delete link.details['link-netns'];
      if (Object.keys(link.details).length === 0) delete link.details;
    }
    if (link.linkNetnsid !== undefined) {
      found.set(link.name, link.linkNetnsid);
      delete link.linkNetnsid;
    }
  }
  return found;
}

describeLab('text and JSON forms of ip give the same records (rich lab host)', () => {
  const lab = useLab(richHost());
  let bundle: string;

  beforeAll(async () => {
    bundle = await mkdtemp(join(tmpdir(), 'hc-forms-'));
    // The text and JSON forms are collected a few milliseconds apart: the state must not move.
    await settleIpv6(lab());
    const r = await lab().hostcheck(RICH.host, ['capture', '--out', bundle]);
    expect(r.exitCode, r.stderr).toBe(0);
  });
  afterAll(async () => {
    if (bundle) await rm(bundle, { recursive: true, force: true });
  });

  async function parseBoth(c: FormCase): Promise<{ text: unknown[]; json: unknown[] }> {
    const parser = parserFor(c.format);
    if (!parser) throw new Error(`parser ${c.format} is not registered in parsers/index.ts`);
    const textFile = sourceByName(c.source)!.file;
    const jsonFile = sourceByName(`${c.source}-json`)!.file;
    const text = parser.parse(await readFile(join(bundle, textFile), 'utf8'), { family: c.family });
    const json = parser.parse(await readFile(join(bundle, jsonFile), 'utf8'), { family: c.family });
    expect(text.form, textFile).toBe('text');
    expect(json.form, jsonFile).toBe('json');
    expect(text.warnings, textFile).toEqual([]);
    expect(json.warnings, jsonFile).toEqual([]);
    expect(text.records.length, textFile).toBeGreaterThan(0);
    return { text: withoutOrigin(text.records) as unknown[], json: withoutOrigin(json.records) as unknown[] };
  }

  for (const c of CASES) {
    it(`${c.source}: \`${sourceByName(c.source)!.argv!.join(' ')}\` and its -j form give the same records`, async () => {
      const { text, json } = await parseBoth(c);
      if (c.format === 'ip-addr' || c.format === 'ip-link') {
        const links = (records: unknown[]) => (c.format === 'ip-addr' ? records.map((b) => (b as { link: Link }).link) : (records as Link[]));
        const fromText = takePeerNamespaces(links(text));
        const fromJson = takePeerNamespaces(links(json));
        // Text names the peer's namespace, JSON gives its id: the veths and only they have one.
        expect(Object.fromEntries(fromText)).toEqual({ eth0: `${lab().prefix}gw`, eth1: `${lab().prefix}lan` });
        expect([...fromJson.keys()].sort()).toEqual(['eth0', 'eth1']);
        for (const id of fromJson.values()) expect(typeof id).toBe('number');
      }
      expect(text).toEqual(json);
    });
  }

  it('the capture holds what the forms test is meant to cover', async () => {
    const routes = (await parseBoth(CASES[0])).text as { type: string; table: string; nexthops: unknown[] }[];
    const types = new Set(routes.map((r) => r.type));
    for (const t of ['unicast', 'local', 'broadcast', 'blackhole', 'unreachable', 'prohibit', 'throw']) expect(types, t).toContain(t);
    expect(new Set(routes.map((r) => r.table))).toEqual(new Set(['main', 'local', '100', '200']));
    expect(routes.some((r) => r.nexthops.length === 2)).toBe(true);
    const v6 = (await parseBoth(CASES[1])).text as { nexthops: unknown[]; type: string }[];
    expect(v6.some((r) => r.nexthops.length === 2)).toBe(true);
    expect(v6.some((r) => r.type === 'unreachable')).toBe(true);
    const rules = (await parseBoth(CASES[2])).text as { priority: number; action: string; not: boolean }[];
    expect(rules.map((r) => r.priority)).toEqual([0, 1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 32766, 32767]);
    expect(new Set(rules.map((r) => r.action))).toEqual(new Set(['lookup', 'goto', 'nop']));
    const links = (await parseBoth(CASES[5])).text as { name: string; kind: string }[];
    expect(Object.fromEntries(links.map((l) => [l.name, l.kind]))).toEqual({
      lo: 'loopback', docker0: 'bridge', eth0: 'veth', eth1: 'veth', vx0: 'vxlan', mv0: 'macvlan', tap0: 'tap',
    });
  });
});

describeLab('interface names with a backslash or an @ read the same as text and JSON', () => {
  const lab = useLab({ hosts: { odd: {} } });
  const NAMES: [string, string[]][] = [
    ['a\\b', ['type', 'veth', 'peer', 'name', 'x@y']],
    ['q@r', ['type', 'bridge']],
    ['ok', ['link', 'x@y', 'type', 'macvlan']],
  ];

  beforeAll(async () => {
    for (const [name, args] of NAMES) await lab().exec('odd', ['ip', 'link', 'add', name, ...args], { check: true });
    await lab().exec('odd', ['ip', 'address', 'add', '10.9.9.1/24', 'dev', 'a\\b'], { check: true });
  });

  for (const [format, argv] of [['ip-addr', ['ip', '-d', 'addr', 'show']], ['ip-link', ['ip', '-d', 'link', 'show']]] as const) {
    it(`${format}: every interface keeps its name, its parent and its addresses`, async () => {
      const parser = parserFor(format)!;
      const text = parser.parse((await lab().exec('odd', argv, { check: true })).stdout);
      const json = parser.parse((await lab().exec('odd', [argv[0], '-j', ...argv.slice(1)], { check: true })).stdout);
      expect(text.warnings).toEqual([]);
      const links = (records: unknown[]) => (format === 'ip-addr' ? records.map((b) => (b as { link: Link }).link) : (records as Link[]));
      const named = (records: unknown[]) => links(records).map((l) => `${l.name}${(l as { parent?: string }).parent ? ` on ${(l as { parent?: string }).parent}` : ''}`).sort();
      expect(named(text.records)).toEqual(['a\\b on x@y', 'lo', 'ok on x@y', 'q@r', 'x@y on a\\b']);
      expect(named(text.records)).toEqual(named(json.records));
      if (format === 'ip-addr') {
        const blocks = text.records as { link: Link; addresses: { ifname: string; cidr: string }[] }[];
        const owner = blocks.find((b) => b.addresses.some((a) => a.cidr === '10.9.9.1/24'));
        expect(owner?.link.name).toBe('a\\b');
        expect(owner?.addresses.map((a) => a.ifname)).toEqual(['a\\b']);
      }
    });
  }
});
