import { describe, expect, it } from 'vitest';
import { createAgentLogger } from '../../src/agent/log.js';
import { LogLines } from '../helpers/agent-protocol-peer.js';

describe('the agent log', () => {
  it('writes one JSON line per event in pino\'s layout: level, time, the base fields, the event\'s fields, msg', () => {
    const raw: string[] = [];
    const log = createAgentLogger({ destination: { write: (chunk) => (raw.push(chunk), true) }, base: { host: 'web7' } });
    log.info({ seq: 3, skipped: undefined, err: new TypeError('bad') }, 'report');
    log.warn('no welcome within 10 s; reconnecting');
    log.error({ code: 1006 });
    expect(raw.every((l) => l.endsWith('}\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    const [report, warn, error] = raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(report)).toEqual(['level', 'time', 'component', 'host', 'seq', 'err', 'msg']);
    expect(report).toMatchObject({ level: 30, component: 'agent', host: 'web7', seq: 3, msg: 'report', err: { type: 'TypeError', message: 'bad' } });
    expect(new Date(report.time as string).toISOString()).toBe(report.time);
    expect(warn).toMatchObject({ level: 40, msg: 'no welcome within 10 s; reconnecting' });
    expect(error).toMatchObject({ level: 50, code: 1006 });
    expect(error).not.toHaveProperty('msg');
  });

  it('writes only its level and above, and a line for fields JSON cannot hold', () => {
    const lines = new LogLines();
    const log = createAgentLogger({ destination: lines, level: 'warn' });
    log.debug('heartbeat');
    log.info({ seq: 1 }, 'report');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    log.warn(cycle, 'cyclic');
    log.error({ n: 10n }, 'bigint');
    expect(lines.lines.map((l) => [l.level, l.msg])).toEqual([[40, 'cyclic'], [50, 'bigint']]);
    expect(lines.lines.every((l) => typeof l.logFieldsUnwritable === 'string')).toBe(true);
    expect(() => createAgentLogger({ level: 'verbose' })).toThrow(/unknown log level/);
    const silent = new LogLines();
    createAgentLogger({ destination: silent, level: 'silent' }).fatal('gone');
    expect(silent.lines).toEqual([]);
  });
});
