import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parser } from '../../parsers/sysctl.js';
import { effectiveRpFilter } from '../../src/simulate/rp-filter.js';
import { describeSamples } from '../helpers/samples.js';

describe('sysctl: examples', () => {
  it('reads key = value lines and splits per-device conf keys', () => {
    const r = parse('net.ipv4.conf.eth0.rp_filter = 1\nkernel.hostname = ecs3\n');
    expect(r.warnings).toEqual([]);
    expect(r.form).toBe('sysctl');
    expect(r.records).toEqual([
      { key: 'net.ipv4.conf.eth0.rp_filter', value: '1', family: 4, section: 'conf', device: 'eth0', name: 'rp_filter', origin: { lineNumber: 1, text: 'net.ipv4.conf.eth0.rp_filter = 1' } },
      { key: 'kernel.hostname', value: 'ecs3', origin: { lineNumber: 2, text: 'kernel.hostname = ecs3' } },
    ]);
  });

  it('reads interface names with dots in both key forms', () => {
    const r = parse('net.ipv4.conf.eth0/100.rp_filter = 2\nnet/ipv4/conf/eth0.100/forwarding = 1\n');
    expect(r.records.map((x) => [x.key, x.device, x.name])).toEqual([
      ['net.ipv4.conf.eth0/100.rp_filter', 'eth0.100', 'rp_filter'],
      ['net.ipv4.conf.eth0/100.forwarding', 'eth0.100', 'forwarding'],
    ]);
  });

  it('keeps empty values and values with tabs; accepts key=value', () => {
    const r = parse('kernel.hotplug = \nnet.ipv4.tcp_rmem = 4096\t87380\t6291456\nnet.ipv4.ip_forward=1\n');
    expect(r.records.map((x) => x.value)).toEqual(['', '4096\t87380\t6291456', '1']);
    expect(r.records[2].family).toBe(4);
  });

  it('reads neigh and ipv6 sections', () => {
    const r = parse('net.ipv4.neigh.eth0.base_reachable_time_ms = 30000\nnet.ipv6.conf.all.disable_ipv6 = 0\n');
    expect(r.records.map((x) => [x.family, x.section, x.device, x.name])).toEqual([[4, 'neigh', 'eth0', 'base_reachable_time_ms'], [6, 'conf', 'all', 'disable_ipv6']]);
  });

  it('turns sysctl: messages and other lines into warnings', () => {
    const r = parse("sysctl: permission denied on key 'fs.protected_hardlinks'\nsysctl: cannot stat /proc/sys/net/x: No such file or directory\nnot a setting\n");
    expect(r.records).toEqual([]);
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([1, 2, 3]);
    expect(r.warnings[0].reason).toContain('permission denied');
  });

  it('warns about BSD { } structure values and their member lines instead of recording them', () => {
    const r = parse('kern.boottime = {\n\tsec = 1700000000,\n\tusec = 0\n}\nkern.clockrate: { hz = 100, tick = 10000 }\nkern.open = {\n\thz = 100\nnet.ipv4.ip_forward = 1\n');
    expect(r.records.map((x) => [x.key, x.value])).toEqual([['net.ipv4.ip_forward', '1']]);
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(r.warnings[0].reason).toBe('a { } structure value (BSD sysctl -a), not a setting');
    expect(r.warnings[1].reason).toBe('inside a { } value (BSD sysctl -a), not a setting');
  });

  it('maps ip netconf (new and old forms) to the same records as sysctl', () => {
    const r = parse([
      'inet eth0 forwarding on rp_filter strict mc_forwarding off proxy_neigh off ignore_routes_with_linkdown off ',
      'ipv4 dev docker0 forwarding off rp_filter loose mc_forwarding 0 proxy_neigh on',
      'inet6 all forwarding off mc_forwarding off proxy_neigh on ignore_routes_with_linkdown on ',
    ].join('\n'));
    expect(r.warnings).toEqual([]);
    expect(r.form).toBe('netconf');
    expect(r.records.map((x) => `${x.key}=${x.value}`)).toEqual([
      'net.ipv4.conf.eth0.forwarding=1', 'net.ipv4.conf.eth0.rp_filter=1', 'net.ipv4.conf.eth0.mc_forwarding=0',
      'net.ipv4.conf.eth0.proxy_arp=0', 'net.ipv4.conf.eth0.ignore_routes_with_linkdown=0',
      'net.ipv4.conf.docker0.forwarding=0', 'net.ipv4.conf.docker0.rp_filter=2', 'net.ipv4.conf.docker0.mc_forwarding=0',
      'net.ipv4.conf.docker0.proxy_arp=1',
      'net.ipv6.conf.all.forwarding=0', 'net.ipv6.conf.all.mc_forwarding=0', 'net.ipv6.conf.all.proxy_ndp=1',
      'net.ipv6.conf.all.ignore_routes_with_linkdown=1',
    ]);
    const fromSysctl = parse('net.ipv4.conf.eth0.rp_filter = 1\n').records[0];
    const fromNetconf = r.records[1];
    expect({ ...fromNetconf, origin: undefined }).toEqual({ ...fromSysctl, origin: undefined });
  });

  it('keeps what it can of a netconf line with an unknown setting, and warns once', () => {
    const r = parse('inet tun0 forwarding on rp_filter unknown mode\n');
    expect(r.records.map((x) => x.name)).toEqual(['forwarding']);
    expect(r.warnings).toHaveLength(1);
  });

  it('effectiveRpFilter is max(all, dev), the last value winning', () => {
    const r = parse('net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.conf.eth0.rp_filter = 0\nnet.ipv4.conf.docker0.rp_filter = 2\n');
    expect(effectiveRpFilter(r.records, 'eth0')).toBe(1);
    expect(effectiveRpFilter(r.records, 'docker0')).toBe(2);
    expect(effectiveRpFilter(r.records, 'missing')).toBe(1);
    expect(effectiveRpFilter(parse('inet all rp_filter off\ninet eth0.5 rp_filter loose\n').records, 'eth0.5')).toBe(2);
    expect(effectiveRpFilter([], 'eth0')).toBeUndefined();
    const later = parse('net.ipv4.conf.all.rp_filter = 2\nnet.ipv4.conf.all.rp_filter = 0\n').records;
    expect(effectiveRpFilter(later, 'lo')).toBe(0);
  });

  it('is registered under its file name', () => {
    expect(parser.name).toBe('sysctl');
  });
});

// ---- properties ----

const ident = fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/);
const devName = fc.stringMatching(/^[a-z][a-z0-9]{0,6}(\.[0-9]{1,4})?$/);

type Item =
  | { kind: 'conf'; family: 4 | 6; dev: string; name: string; value: string; slash: boolean }
  | { kind: 'plain'; key: string; value: string }
  | { kind: 'netconf'; family: 4 | 6; dev: string; forwarding: boolean; rp: 'off' | 'strict' | 'loose' }
  | { kind: 'garbage'; text: string };

const item: fc.Arbitrary<Item> = fc.oneof(
  fc.record({ kind: fc.constant('conf' as const), family: fc.constantFrom(4 as const, 6 as const), dev: devName, name: ident, value: fc.stringMatching(/^[0-9a-z]{0,6}$/), slash: fc.boolean() }),
  fc.record({ kind: fc.constant('plain' as const), key: fc.array(ident, { minLength: 1, maxLength: 4 }).map((p) => `kernel.${p.join('.')}`), value: fc.stringMatching(/^[0-9a-z\t ]{0,10}$/) }),
  fc.record({ kind: fc.constant('netconf' as const), family: fc.constantFrom(4 as const, 6 as const), dev: devName, forwarding: fc.boolean(), rp: fc.constantFrom('off' as const, 'strict' as const, 'loose' as const) }),
  fc.record({ kind: fc.constant('garbage' as const), text: fc.tuple(fc.constantFrom('garbage', 'sysctl: denied', '* Applying', 'hello world'), fc.stringMatching(/^[a-z0-9 .]{0,12}$/)).map(([a, b]) => `${a} ${b}`) }),
);

function render(it: Item): string {
  switch (it.kind) {
    case 'conf': {
      const fam = it.family === 4 ? 'ipv4' : 'ipv6';
      return it.slash ? `net/${fam}/conf/${it.dev}/${it.name} = ${it.value}` : `net.${fam}.conf.${it.dev.replaceAll('.', '/')}.${it.name} = ${it.value}`;
    }
    case 'plain':
      return `${it.key} = ${it.value}`;
    case 'netconf':
      return it.family === 4
        ? `inet ${it.dev} forwarding ${it.forwarding ? 'on' : 'off'} rp_filter ${it.rp} mc_forwarding off proxy_neigh off ignore_routes_with_linkdown off `
        : `inet6 ${it.dev} forwarding ${it.forwarding ? 'on' : 'off'} mc_forwarding off proxy_neigh off ignore_routes_with_linkdown off `;
    case 'garbage':
      return it.text;
  }
}

describe('sysctl: properties', () => {
  it('every valid line yields its records; every garbage line exactly one warning', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 15 }), (items) => {
        const lines = items.map(render);
        const r = parse(lines.join('\n'));
        expect(r.warnings.map((w) => w.lineNumber)).toEqual(items.flatMap((x, i) => (x.kind === 'garbage' ? [i + 1] : [])));
        let k = 0;
        items.forEach((x, i) => {
          const here = (n: number) => {
            const recs = r.records.slice(k, k + n);
            k += n;
            for (const rec of recs) expect(rec.origin).toEqual({ lineNumber: i + 1, text: lines[i] });
            return recs;
          };
          if (x.kind === 'conf') {
            const [rec] = here(1);
            expect([rec.family, rec.section, rec.device, rec.name, rec.value]).toEqual([x.family, 'conf', x.dev, x.name, x.value]);
          } else if (x.kind === 'plain') {
            const [rec] = here(1);
            expect([rec.key, rec.value]).toEqual([x.key, x.value]);
          } else if (x.kind === 'netconf') {
            const recs = here(x.family === 4 ? 5 : 4);
            expect(recs.every((rec) => rec.device === x.dev && rec.family === x.family)).toBe(true);
            expect(recs[0]).toMatchObject({ name: 'forwarding', value: x.forwarding ? '1' : '0' });
            if (x.family === 4) expect(recs[1]).toMatchObject({ name: 'rp_filter', value: { off: '0', strict: '1', loose: '2' }[x.rp] });
          }
        });
        expect(k).toBe(r.records.length);
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on any string', () => {
    fc.assert(fc.property(fc.string(), (s) => { parse(s); }), { numRuns: 200 });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => { parse(s); }), { numRuns: 200 });
  });

  it('never throws on mutated valid input', () => {
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 6 }), fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 3 })), { maxLength: 6 }), (items, edits) => {
        let text = items.map(render).join('\n');
        for (const [pos, ins] of edits) {
          const at = pos % (text.length + 1);
          text = text.slice(0, at) + ins + text.slice(at + 1);
        }
        const r = parse(text);
        for (const w of r.warnings) expect(w.lineNumber).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });
});

describeSamples('sysctl', parse);
