import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from '../../parsers/docker-daemon.js';

describe('docker-daemon', () => {
  it('reads bip and default-address-pools with the lines that set them', () => {
    const text = '{\n  "bip": "192.168.200.1/24",\n  "default-address-pools": [{"base": "10.201.0.0/16", "size": 24}]\n}\n';
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.records).toEqual([
      {
        bip: '192.168.200.1/24',
        defaultAddressPools: [{ base: '10.201.0.0/16', size: 24 }],
        lines: {
          bip: { lineNumber: 2, text: '  "bip": "192.168.200.1/24",' },
          'default-address-pools': { lineNumber: 3, text: '  "default-address-pools": [{"base": "10.201.0.0/16", "size": 24}]' },
        },
        origin: { lineNumber: 2, text: '  "bip": "192.168.200.1/24",' },
      },
    ]);
  });

  it('an empty file is no configuration, and invalid JSON one warning', () => {
    expect(parse('')).toEqual({ records: [], warnings: [] });
    const r = parse('{ "bip": ');
    expect(r.records).toEqual([]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0].reason).toMatch(/invalid JSON/);
  });

  it('a bad pool entry is one warning and the good ones are kept', () => {
    const r = parse('{"default-address-pools": [{"base": "x"}, {"base": "10.9.0.0/16", "size": 24}]}');
    expect(r.records[0].defaultAddressPools).toEqual([{ base: '10.9.0.0/16', size: 24 }]);
    expect(r.warnings).toHaveLength(1);
  });

  it('never throws on any string', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      parse(s);
    }), { numRuns: 300 });
  });
});
