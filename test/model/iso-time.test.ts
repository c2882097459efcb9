import { describe, expect, it } from 'vitest';
import { isoTime } from '../../src/model/iso-time.js';

describe('isoTime', () => {
  it('writes what toISOString writes, across the range a Date holds', () => {
    const times = [0, 1, -1, 999, 1000, 1_796_452_498_682, Date.UTC(2024, 1, 29, 23, 59, 59, 7), Date.UTC(1969, 11, 31, 23, 59, 59, 999),
      Date.UTC(0, 0, 1), -62_198_755_200_000, -62_198_755_200_001, Date.UTC(9999, 11, 31, 23, 59, 59, 999), 253_402_300_800_000, 8.64e15, -8.64e15];
    let state = 12345;
    for (let i = 0; i < 2000; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      times.push((state / 2 ** 32 - 0.5) * 2 * (i % 2 === 0 ? 4e12 : 8.64e15));
    }
    for (const t of times) expect(isoTime(t), String(t)).toBe(new Date(t).toISOString());
  });

  it('is now by default, and refuses an invalid time as toISOString does', () => {
    const before = Date.now();
    const at = Date.parse(isoTime());
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
  });
});
