import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parser } from '../../parsers/docker-network.js';
import { describeSamples } from '../helpers/samples.js';

const ID = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

describe('docker-network: examples', () => {
  it('reads a network with IPAM, containers and options', () => {
    const net = {
      Name: 'backend', Id: ID, Scope: 'local', Driver: 'bridge', EnableIPv6: true, Internal: true,
      IPAM: { Driver: 'default', Config: [{ Subnet: '172.31.0.0/16', IPRange: '172.31.4.0/24', Gateway: '172.31.0.1' }] },
      Containers: { c1: { Name: 'db', EndpointID: 'e1', MacAddress: '02:42:ac:1f:04:02', IPv4Address: '172.31.4.2/16', IPv6Address: '' } },
      Options: { 'com.docker.network.driver.mtu': '1450' },
      Labels: { a: 'b' },
    };
    const r = parse(JSON.stringify([net]));
    expect(r.warnings).toEqual([]);
    expect(r.records).toEqual([
      {
        name: 'backend', id: ID, driver: 'bridge', scope: 'local', bridgeName: 'br-0123456789ab', internal: true, enableIPv6: true,
        ipam: { driver: 'default', config: [{ subnet: '172.31.0.0/16', gateway: '172.31.0.1', ipRange: '172.31.4.0/24' }] },
        containers: [{ id: 'c1', name: 'db', endpointId: 'e1', ipv4Address: '172.31.4.2/16', macAddress: '02:42:ac:1f:04:02' }],
        options: { 'com.docker.network.driver.mtu': '1450' },
        labels: { a: 'b' },
        origin: { lineNumber: 1, text: JSON.stringify({ Name: 'backend', Id: ID, Driver: 'bridge' }) },
      },
    ]);
  });

  it('names the bridge device: option, docker0 for the default network, br-<id12> otherwise', () => {
    const r = parse(JSON.stringify([
      { Name: 'bridge', Id: ID, Driver: 'bridge' },
      { Name: 'custom', Id: ID, Driver: 'bridge', Options: { 'com.docker.network.bridge.name': 'br-custom' } },
      { Name: 'app', Id: ID, Driver: 'bridge' },
      { Name: 'ov', Id: 'x', Driver: 'overlay' },
    ]));
    expect(r.records.map((n) => n.bridgeName)).toEqual(['docker0', 'br-custom', 'br-0123456789ab', undefined]);
  });

  it('accepts a single object (GET /networks/{id}) and old shapes with nulls', () => {
    const r = parse(JSON.stringify({ Name: 'old', Id: ID, Driver: 'bridge', IPAM: { Driver: 'default', Config: null }, Containers: null, Options: null }));
    expect(r.warnings).toEqual([]);
    expect(r.records[0]).toMatchObject({ name: 'old', ipam: { driver: 'default', config: [] }, containers: [], options: {} });
  });

  it('warns once per non-network element, naming its index', () => {
    const r = parse(JSON.stringify([{ Name: 'a', Id: '1' }, 'nope', { Name: 'x' }, 42, null]));
    expect(r.records.map((n) => n.name)).toEqual(['a']);
    expect(r.warnings.map((w) => [w.lineNumber, w.reason])).toEqual([
      [2, 'element 1: not a network object'],
      [3, 'element 2: network without Name and Id'],
      [4, 'element 3: not a network object'],
      [5, 'element 4: not a network object'],
    ]);
  });

  it('gives one warning with the line for invalid JSON', () => {
    const r = parse('[\n  {\n    "Name": "bridge",,\n  }\n]\n');
    expect(r.records).toEqual([]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0].lineNumber).toBe(3);
    expect(r.warnings[0].reason).toMatch(/^invalid JSON/);
    expect(parse('Error: No such network: foo\n').warnings).toHaveLength(1);
    expect(parse('[{"Name": "a"').warnings).toHaveLength(1);
  });

  it('reads one network per line and warns per bad line', () => {
    const r = parse('{"Name":"a","Id":"1","Driver":"bridge"}\n{"Name":"b","Id":"2"}\n{"Name":\n');
    expect(r.form).toBe('json-lines');
    expect(r.records.map((n) => [n.name, n.origin.lineNumber])).toEqual([['a', 1], ['b', 2]]);
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([3]);
  });

  it('gives nothing for empty input and [] ', () => {
    expect(parse('')).toEqual({ records: [], warnings: [], form: 'json' });
    expect(parse('[]\n').records).toEqual([]);
  });

  it('is registered under its file name', () => {
    expect(parser.name).toBe('docker-network');
  });
});

// ---- properties ----

const hex = fc.stringMatching(/^[0-9a-f]{12,64}$/);
const network = fc.record({
  Name: fc.stringMatching(/^[a-z][a-z0-9_-]{0,12}$/),
  Id: hex,
  Driver: fc.constantFrom('bridge', 'overlay', 'host', 'null', 'macvlan'),
  Scope: fc.constantFrom('local', 'swarm'),
  Internal: fc.boolean(),
  EnableIPv6: fc.boolean(),
  IPAM: fc.record({ Driver: fc.constant('default'), Config: fc.array(fc.record({ Subnet: fc.constantFrom('172.17.0.0/16', '10.0.0.0/24', 'fd00::/64'), Gateway: fc.constantFrom('172.17.0.1', '10.0.0.1') }), { maxLength: 2 }) }),
  Containers: fc.dictionary(hex, fc.record({ Name: fc.stringMatching(/^[a-z]{1,8}$/), IPv4Address: fc.constant('172.17.0.2/16'), MacAddress: fc.constant('02:42:ac:11:00:02') }), { maxKeys: 3 }),
  Options: fc.dictionary(fc.constantFrom('com.docker.network.bridge.name', 'com.docker.network.driver.mtu'), fc.stringMatching(/^[a-z0-9]{1,10}$/)),
});
const notNetwork = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 }), fc.record({ Foo: fc.string() }));

describe('docker-network: properties', () => {
  it('every network element becomes its record; every other element one warning with its index', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(network.map((n) => ({ net: n })), notNetwork.map((x) => ({ bad: x }))), { maxLength: 8 }), fc.boolean(), (items, pretty) => {
        const doc = items.map((x) => ('net' in x ? x.net : x.bad));
        const r = parse(JSON.stringify(doc, null, pretty ? 2 : undefined));
        expect(r.warnings.map((w) => w.lineNumber)).toEqual(items.flatMap((x, i) => ('bad' in x ? [i + 1] : [])));
        const nets = items.flatMap((x, i) => ('net' in x ? [{ n: x.net, i }] : []));
        expect(r.records).toHaveLength(nets.length);
        r.records.forEach((rec, k) => {
          const { n, i } = nets[k];
          expect(rec.origin.lineNumber).toBe(i + 1);
          expect([rec.name, rec.id, rec.driver, rec.scope, rec.internal, rec.enableIPv6]).toEqual([n.Name, n.Id, n.Driver, n.Scope, n.Internal, n.EnableIPv6]);
          expect(rec.ipam.config.map((c) => c.subnet)).toEqual(n.IPAM.Config.map((c) => c.Subnet));
          expect(rec.containers.map((c) => c.id).sort()).toEqual(Object.keys(n.Containers).sort());
          const opt = n.Options['com.docker.network.bridge.name'];
          const expectedBridge = opt ?? (n.Driver !== 'bridge' ? undefined : n.Name === 'bridge' ? 'docker0' : `br-${n.Id.slice(0, 12)}`);
          expect(rec.bridgeName).toBe(expectedBridge);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on any string', () => {
    fc.assert(fc.property(fc.string(), (s) => { parse(s); }), { numRuns: 200 });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => { parse(s); }), { numRuns: 200 });
    fc.assert(fc.property(fc.json(), (s) => { parse(s); }), { numRuns: 200 });
  });

  it('never throws on mutated valid input; broken JSON gives warnings, not records from nowhere', () => {
    fc.assert(
      fc.property(fc.array(network, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 3 })), { minLength: 1, maxLength: 4 }), (nets, edits) => {
        let text = JSON.stringify(nets, null, 2);
        for (const [pos, ins] of edits) {
          const at = pos % (text.length + 1);
          text = text.slice(0, at) + ins + text.slice(at + 1);
        }
        const r = parse(text);
        expect(r.records.length + r.warnings.length).toBeGreaterThanOrEqual(0);
        for (const w of r.warnings) expect(w.lineNumber).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });
});

describeSamples('docker-network', parse);
