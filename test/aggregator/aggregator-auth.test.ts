/** Token files, the listen rules and viewer access, without sockets. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Authenticator, checkListenPolicy, emptyCredentials, isLoopbackAddress, matchToken, parseAgentTokens, parseViewerTokens } from '../../src/aggregator/auth.js';
import { parseListen } from '../../src/aggregator/server.js';
import { SqliteStore } from '../../src/aggregator/store-sqlite.js';
import { tempDir } from '../helpers/aggregator-client.js';

const TOK = 'abcdefghijklmnop-1';

describe('token files', () => {
  it('reads "TOKEN HOST" and "enrol TOKEN EXPIRES LABEL" lines with comments', () => {
    const t = parseAgentTokens(`# fleet\n${TOK} ecs1   # web\n\nenrol ${TOK}2 2030-01-01T00:00:00Z asg-web\n`);
    expect(matchToken(t.agents, TOK)?.name).toBe('ecs1');
    expect(matchToken(t.agents, `${TOK}x`)).toBeUndefined();
    expect(matchToken(t.enrolment, `${TOK}2`)).toMatchObject({ name: 'asg-web', expiresAt: Date.parse('2030-01-01T00:00:00Z') });
  });
  it('reads the JSON form', () => {
    const t = parseAgentTokens(JSON.stringify({ agents: [{ token: TOK, host: 'ecs2' }], enrolment: [{ token: `${TOK}3`, expires: '2031-01-01T00:00:00Z' }] }));
    expect(matchToken(t.agents, TOK)?.name).toBe('ecs2');
    expect(t.enrolment.size).toBe(1);
  });
  it('names the line of a bad entry', () => {
    expect(() => parseAgentTokens(`${TOK} ecs1\nshort ecs2\n`, 'tokens')).toThrow('tokens:2: a token must be at least 16 characters');
    expect(() => parseAgentTokens(`enrol ${TOK} tomorrow\n`, 'tokens')).toThrow(/tokens:1: enrolment expiry "tomorrow" is not an ISO time/);
    expect(() => parseAgentTokens(`${TOK}\n`, 'tokens')).toThrow('tokens:1: expected "TOKEN HOST"');
    expect(() => parseViewerTokens('[1]', 'viewers')).toThrow('viewers[0]: a token must be at least 16 characters');
  });
});

describe('listen rules', () => {
  const withAgents = { ...emptyCredentials(), ...parseAgentTokens(`${TOK} ecs1`) };
  it('serves loopback and unix sockets without tokens', () => {
    expect(() => checkListenPolicy('127.0.0.1', emptyCredentials(), false)).not.toThrow();
    expect(() => checkListenPolicy('::1', emptyCredentials(), false)).not.toThrow();
    expect(() => checkListenPolicy(undefined, emptyCredentials(), false)).not.toThrow();
  });
  it('refuses a non-loopback address without agent tokens unless --insecure', () => {
    expect(() => checkListenPolicy('0.0.0.0', emptyCredentials(), false)).toThrow(/refusing to listen on 0.0.0.0 without agent tokens/);
    expect(() => checkListenPolicy('0.0.0.0', emptyCredentials(), true)).not.toThrow();
    expect(() => checkListenPolicy('10.0.0.5', withAgents, false)).not.toThrow();
  });
  it('never lets a viewer in off loopback without a viewer token, even --insecure', async () => {
    const tmp = tempDir();
    const store = new SqliteStore(join(tmp.dir, 'a.db'));
    const open = new Authenticator(emptyCredentials(), store);
    expect((await open.viewerAllowed(undefined, true)).ok).toBe(true);
    expect(await open.viewerAllowed(undefined, false)).toMatchObject({ ok: false, status: 401 });
    const viewers = new Authenticator({ ...emptyCredentials(), viewers: parseViewerTokens(`${TOK}v alice`) }, store);
    expect(await viewers.viewerAllowed(undefined, true)).toMatchObject({ ok: false, status: 401 });
    expect((await viewers.viewerAllowed(`${TOK}v`, false)).ok).toBe(true);
    await store.close();
    tmp.remove();
  });
  it('binds a name to its first token when no agent tokens are configured', async () => {
    const tmp = tempDir();
    const store = new SqliteStore(join(tmp.dir, 'a.db'));
    const auth = new Authenticator(emptyCredentials(), store);
    const hello = (token: string) => ({ type: 'hello' as const, protocol: 1, agentVersion: 't', name: 'h', identity: { hostname: 'h' }, credential: { kind: 'token' as const, token }, lastSeq: 0 });
    expect((await auth.authenticateAgent(hello(TOK))).ok).toBe(true);
    expect((await auth.authenticateAgent(hello(TOK))).ok).toBe(true);
    expect(await auth.authenticateAgent(hello(`${TOK}-other`))).toMatchObject({ ok: false, reason: 'host_mismatch' });
    await store.close();
    tmp.remove();
  });
  it('parses listen addresses and loopback peers', () => {
    expect(parseListen('127.0.0.1:7480')).toEqual({ host: '127.0.0.1', port: 7480 });
    expect(parseListen('[::1]:9')).toEqual({ host: '::1', port: 9 });
    expect(() => parseListen('7480')).toThrow(/not HOST:PORT/);
    expect(isLoopbackAddress('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopbackAddress('10.0.0.1')).toBe(false);
  });
});
