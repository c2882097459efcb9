/** What the agent takes from the server, validated without zod (src/model/server-messages.ts), and the config file likewise. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/model/config.js';
import { validateServerMessage } from '../../src/model/server-messages.js';

const context = { peers: [{ name: 'ecs1', addresses: ['172.17.0.64'], vpc: 'vpc-1' }], remotes: ['10.200.0.0/20'], ports: ['tcp/443'] };

describe('validateServerMessage', () => {
  it('keeps the fields the protocol knows and drops the rest', () => {
    const welcome = { type: 'welcome', protocol: 1, host: 'ecs3', ackedSeq: 4, context, maxPayload: 1024, heartbeatSeconds: 30, run: 'rm -rf /' };
    expect(validateServerMessage(welcome)).toEqual({ ok: true, message: { type: 'welcome', protocol: 1, host: 'ecs3', ackedSeq: 4, context, maxPayload: 1024, heartbeatSeconds: 30 } });
    expect(validateServerMessage({ type: 'heartbeat', at: 'x' })).toEqual({ ok: true, message: { type: 'heartbeat', at: 'x' } });
    expect(validateServerMessage({ type: 'error', reason: 'no' })).toEqual({ ok: true, message: { type: 'error', reason: 'no' } });
  });

  it('names the first field that is wrong', () => {
    expect(validateServerMessage({ type: 'ack', seq: 0 })).toEqual({ ok: false, reason: 'seq: expected integer >= 1' });
    expect(validateServerMessage({ type: 'ack', seq: 1.5 })).toEqual({ ok: false, reason: 'seq: expected integer' });
    expect(validateServerMessage({ type: 'context', context: { ...context, ports: ['http'] } })).toEqual({ ok: false, reason: 'context.ports.0: expected tcp/N or udp/N' });
    expect(validateServerMessage({ type: 'context', context: { ...context, peers: [{ name: '', addresses: [] }] } })).toEqual({ ok: false, reason: 'context.peers.0.name: expected a string of 1 to 253 characters' });
    expect(validateServerMessage({ type: 'welcome', protocol: 1, host: 'h', ackedSeq: 0, context, maxPayload: 1, heartbeatSeconds: 0 })).toEqual({ ok: false, reason: 'heartbeatSeconds: expected positive number' });
    expect(validateServerMessage({ type: 'error', reason: 'x'.repeat(1025) }).ok).toBe(false);
    expect(validateServerMessage([])).toEqual({ ok: false, reason: '(top): expected object' });
    expect(validateServerMessage({ type: 'exec' })).toEqual({ ok: false, reason: 'type: expected welcome, ack, context, heartbeat or error' });
  });
});

describe('parseConfig (no zod)', () => {
  it('accepts a full agent config, dropReasons included, and fills the lists', () => {
    const r = parseConfig({ server: 'ws+unix:///run/hc.sock', interval: 60, dropReasons: true, peers: [{ address: '10.0.0.1' }] });
    expect(r).toEqual({ config: { peers: [{ address: '10.0.0.1' }], remotes: [], ports: [], ignore: [], server: 'ws+unix:///run/hc.sock', interval: 60, dropReasons: true }, errors: [] });
  });

  it('names every field that is wrong, as before', () => {
    expect(parseConfig({ peers: [{ address: 'x' }, { address: '10.0.0.1', nam: 'a' }], remotes: ['10.16.0.5/16', '10.0.0.0/33', '2001:db8::1/32'], ports: ['tcp/70000', 'icmp'], dropReasons: 'yes', colour: 1, interval: 0.01 }).errors).toEqual([
      '(top level): Unrecognized key: "colour"',
      'peers[0].address: not an IPv4 or IPv6 address',
      'peers[1]: Unrecognized key: "nam"',
      'remotes[0]: "10.16.0.5/16" has host bits set; did you mean 10.16.0.0/16?',
      'remotes[1]: "10.0.0.0/33" is not a CIDR (e.g. 10.16.0.0/16)',
      'remotes[2]: "2001:db8::1/32" has host bits set',
      'ports[0]: port above 65535',
      'ports[1]: must be tcp/N or udp/N',
      'interval: must be at least 0.1 seconds',
      'dropReasons: Invalid input: expected boolean, received string',
    ]);
    expect(parseConfig('x').errors).toEqual(['(top level): Invalid input: expected object, received string']);
    expect(parseConfig({ peers: 'x' }).errors).toEqual(['peers: Invalid input: expected array, received string']);
  });
});
