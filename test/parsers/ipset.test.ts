import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parser } from '../../parsers/ipset.js';

describe('ipset: examples', () => {
  it('reads create and add lines with options, members split by the type', () => {
    const r = parse([
      'create kube-svc hash:ip,port family inet hashsize 1024 maxelem 65536 comment',
      'add kube-svc 10.96.0.10,udp:53 timeout 300 comment "kube dns"',
      'create six hash:net family inet6 counters',
      'add six 2001:db8::/32 nomatch',
      'create ports bitmap:port range 0-1024',
      'add ports 80',
    ].join('\n'));
    expect(r.warnings).toEqual([]);
    expect(r.form).toBe('save');
    expect(r.records.map((s) => [s.name, s.type, s.family])).toEqual([['kube-svc', 'hash:ip,port', 'inet'], ['six', 'hash:net', 'inet6'], ['ports', 'bitmap:port', undefined]]);
    expect(r.records[0].options).toEqual({ family: 'inet', hashsize: '1024', maxelem: '65536', comment: true });
    expect(r.records[0].origin).toEqual({ lineNumber: 1, text: 'create kube-svc hash:ip,port family inet hashsize 1024 maxelem 65536 comment' });
    expect(r.records[0].members).toEqual([{
      text: '10.96.0.10,udp:53', lineNumber: 2,
      parts: [{ kind: 'ip', value: '10.96.0.10' }, { kind: 'port', proto: 'udp', port: '53' }],
      options: { timeout: '300', comment: 'kube dns' },
    }]);
    expect(r.records[1].members[0].options).toEqual({ nomatch: true });
    expect(r.records[2].members[0].parts).toEqual([{ kind: 'port', port: '80' }]);
  });

  it('reads ipset list blocks', () => {
    const r = parse('Name: a\nType: hash:ip\nRevision: 4\nHeader: family inet hashsize 1024 maxelem 65536\nSize in memory: 168\nReferences: 1\nNumber of entries: 1\nMembers:\n10.0.0.1\n\nName: b\nType: list:set\nHeader: size 8\nMembers:\na\n');
    expect(r.warnings).toEqual([]);
    expect(r.form).toBe('list');
    expect(r.records.map((s) => [s.name, s.type, s.family, s.revision, s.references, s.members.map((m) => m.text)])).toEqual([
      ['a', 'hash:ip', 'inet', 4, 1, ['10.0.0.1']],
      ['b', 'list:set', undefined, undefined, undefined, ['a']],
    ]);
  });

  it('keeps a member whose parts do not read, without parts', () => {
    const r = parse('create m hash:mac\nadd m not-a-mac\n');
    expect(r.warnings).toEqual([]);
    expect(r.records[0].members[0]).toEqual({ text: 'not-a-mac', lineNumber: 2 });
  });

  it('warns once per unreadable line', () => {
    const r = parse('create a hash:ip\nadd b 1.2.3.4\nadd a\ncreate x\ncreate y notatype\nadd a 1.2.3.4 timeout\nhello\nadd a 1.2.3.5 comment "open\nadd a 1.2.3.6\n');
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([2, 3, 4, 5, 6, 7, 8]);
    expect(r.records[0].members.map((m) => m.lineNumber)).toEqual([9]);
  });

  it('exports the parser contract', () => {
    expect(parser.name).toBe('ipset');
    expect(parser.parse('')).toEqual({ records: [], warnings: [], form: 'save' });
  });
});

const setName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,15}$/);
const modelSet = fc.record({
  name: setName,
  kind: fc.constantFrom('hash:ip', 'hash:net', 'hash:ip,port'),
  members: fc.array(fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.constantFrom('tcp', 'udp'), fc.integer({ min: 1, max: 65535 }), fc.option(fc.nat(), { nil: undefined })), { maxLength: 4 }),
});
const garbage = fc.oneof(
  fc.tuple(fc.constantFrom('x', '%', 'Q', '9', 'z'), fc.string({ maxLength: 15 })).map(([a, b]) => (a + b).replace(/[\r\n]/g, ' ')),
  fc.constantFrom('add', 'create', 'create onlyname', 'add no.such.set 1.2.3.4'),
);

describe('ipset: properties', () => {
  it('every valid set and member is read, every garbage line gives one warning', () => {
    fc.assert(
      fc.property(fc.uniqueArray(modelSet, { selector: (s) => s.name, maxLength: 4 }), fc.array(fc.tuple(fc.nat(30), garbage), { maxLength: 5 }), (sets, junk) => {
        const items: { text: string; garbage: boolean }[] = [];
        for (const s of sets) {
          items.push({ text: `create ${s.name} ${s.kind} family inet hashsize 1024 maxelem 65536`, garbage: false });
          for (const [ip, len, proto, port, timeout] of s.members) {
            const text = s.kind === 'hash:ip' ? ip : s.kind === 'hash:net' ? `${ip}/${len}` : `${ip},${proto}:${port}`;
            items.push({ text: `add ${s.name} ${text}${timeout !== undefined ? ` timeout ${timeout}` : ''}`, garbage: false });
          }
        }
        for (const [at, g] of junk) items.splice(Math.min(at, items.length), 0, { text: g, garbage: true });
        const lines = items.map((x) => x.text);
        const garbageLines = items.flatMap((x, i) => (x.garbage ? [i + 1] : []));
        const r = parse(lines.join('\n'));
        expect(r.warnings.map((w) => w.lineNumber)).toEqual(garbageLines);
        expect(r.records.map((x) => x.name)).toEqual(sets.map((s) => s.name));
        r.records.forEach((rec, i) => {
          expect(rec.type).toBe(sets[i].kind);
          expect(rec.members).toHaveLength(sets[i].members.length);
          rec.members.forEach((m, k) => {
            expect(m.parts?.[0]).toEqual({ kind: sets[i].kind === 'hash:net' ? 'net' : 'ip', value: sets[i].kind === 'hash:net' ? `${sets[i].members[k][0]}/${sets[i].members[k][1]}` : sets[i].members[k][0] });
            const timeout = sets[i].members[k][4];
            expect(m.options).toEqual(timeout !== undefined ? { timeout: String(timeout) } : undefined);
          });
        });
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on any string', () => {
    fc.assert(fc.property(fc.string(), (s) => void parse(s)), { numRuns: 200 });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => void parse(s)), { numRuns: 200 });
  });
});
