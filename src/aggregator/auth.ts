/**
 * Credentials: per-host agent tokens, enrolment tokens (one per autoscaling group, with an
 * expiry), viewer tokens for the API, and tokens issued at enrolment (stored as hashes).
 * Tokens are looked up by their SHA-256 and then compared with timingSafeEqual, so neither the
 * lookup nor the compare leaks the secret. File formats: docs/serve.md.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { Hello } from '../model/protocol.js';
import type { Store } from './store.js';

/** Raised for unreadable token files and for refused listen addresses. */
export class AuthConfigError extends Error {
  override name = 'AuthConfigError';
}

export interface TokenEntry {
  hash: Buffer;
  /** Agent tokens: the host; viewer tokens: a label; enrolment tokens: a label. */
  name: string;
  /** Enrolment tokens only: ms since epoch after which it is refused. */
  expiresAt?: number;
}

export interface Credentials {
  agents: Map<string, TokenEntry>;
  enrolment: Map<string, TokenEntry>;
  viewers: Map<string, TokenEntry>;
}

export const emptyCredentials = (): Credentials => ({ agents: new Map(), enrolment: new Map(), viewers: new Map() });

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** The entry whose token equals `token`, compared in constant time. */
export function matchToken(map: Map<string, TokenEntry>, token: string): TokenEntry | undefined {
  const h = hashToken(token);
  const e = map.get(h.toString('hex'));
  return e && timingSafeEqual(e.hash, h) ? e : undefined;
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function add(map: Map<string, TokenEntry>, token: string, entry: Omit<TokenEntry, 'hash'>): void {
  const hash = hashToken(token);
  map.set(hash.toString('hex'), { hash, ...entry });
}

const MIN_TOKEN = 16;

/**
 * Agent token file: `TOKEN HOST` per line, `enrol TOKEN EXPIRES [LABEL]` for an enrolment
 * token (EXPIRES an ISO time), `#` comments; or JSON
 * `{ "agents": [{ "token", "host" }], "enrolment": [{ "token", "expires", "label"? }] }`.
 */
export function parseAgentTokens(text: string, file = 'tokens'): Pick<Credentials, 'agents' | 'enrolment'> {
  const agents = new Map<string, TokenEntry>();
  const enrolment = new Map<string, TokenEntry>();
  const addEnrol = (token: string, expires: string, label: string, where: string): void => {
    const at = Date.parse(expires);
    if (Number.isNaN(at)) throw new AuthConfigError(`${where}: enrolment expiry "${expires}" is not an ISO time (e.g. 2030-01-01T00:00:00Z)`);
    add(enrolment, checkToken(token, where), { name: label, expiresAt: at });
  };
  if (text.trimStart().startsWith('{')) {
    let doc: { agents?: { token: string; host: string }[]; enrolment?: { token: string; expires: string; label?: string }[] };
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new AuthConfigError(`${file}: not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    (doc.agents ?? []).forEach((a, i) => {
      if (typeof a?.host !== 'string' || !a.host) throw new AuthConfigError(`${file}: agents[${i}] has no host`);
      add(agents, checkToken(a.token, `${file}: agents[${i}]`), { name: a.host });
    });
    (doc.enrolment ?? []).forEach((e, i) => addEnrol(e?.token, String(e?.expires), e?.label ?? `enrolment[${i}]`, `${file}: enrolment[${i}]`));
    return { agents, enrolment };
  }
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const where = `${file}:${i + 1}`;
    const words = line.split(/\s+/);
    if (words[0] === 'enrol') {
      if (words.length < 3) throw new AuthConfigError(`${where}: expected "enrol TOKEN EXPIRES [LABEL]"`);
      addEnrol(words[1], words[2], words[3] ?? `line ${i + 1}`, where);
    } else {
      if (words.length !== 2) throw new AuthConfigError(`${where}: expected "TOKEN HOST"`);
      add(agents, checkToken(words[0], where), { name: words[1] });
    }
  });
  return { agents, enrolment };
}

/** Viewer token file: `TOKEN [NAME]` per line with `#` comments, or a JSON array of tokens. */
export function parseViewerTokens(text: string, file = 'viewer tokens'): Map<string, TokenEntry> {
  const viewers = new Map<string, TokenEntry>();
  if (text.trimStart().startsWith('[')) {
    let list: unknown;
    try {
      list = JSON.parse(text);
    } catch (err) {
      throw new AuthConfigError(`${file}: not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    (list as unknown[]).forEach((t, i) => add(viewers, checkToken(t, `${file}[${i}]`), { name: `viewer ${i + 1}` }));
    return viewers;
  }
  text.split('\n').forEach((raw, i) => {
    const [token, name] = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (token) add(viewers, checkToken(token, `${file}:${i + 1}`), { name: name ?? `viewer line ${i + 1}` });
  });
  return viewers;
}

function checkToken(t: unknown, where: string): string {
  if (typeof t !== 'string' || t.length < MIN_TOKEN) throw new AuthConfigError(`${where}: a token must be at least ${MIN_TOKEN} characters`);
  return t;
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return true; // a unix socket peer
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}

/** Loopback listen hosts: 127.x, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || isLoopbackAddress(host);
}

/**
 * The listen rules: without agent credentials (per-host or enrolment) only loopback and unix
 * sockets, unless `insecure`. Viewer auth off loopback is never disabled (see viewerAllowed).
 */
export function checkListenPolicy(listenHost: string | undefined, creds: Credentials, insecure: boolean): void {
  if (listenHost === undefined || isLoopbackHost(listenHost)) return;
  if (creds.agents.size + creds.enrolment.size > 0 || insecure) return;
  throw new AuthConfigError(`refusing to listen on ${listenHost} without agent tokens: give --tokens FILE, listen on 127.0.0.1 or --socket PATH, or pass --insecure (viewer tokens stay required off loopback)`);
}

export type AgentAuth =
  | { ok: true; host: string; issuedToken?: string }
  | { ok: false; reason: 'auth_failed' | 'host_mismatch' | 'enrol_expired' | 'viewer_token'; detail: string };

export type ViewerVerdict = { ok: true } | { ok: false; status: 401 | 403; detail: string };

export class Authenticator {
  constructor(
    private readonly creds: Credentials,
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** With no agent credentials configured, the first token a name presents binds it (loopback only). */
  get openMode(): boolean {
    return this.creds.agents.size + this.creds.enrolment.size === 0;
  }

  async authenticateAgent(hello: Hello): Promise<AgentAuth> {
    const { token, kind } = hello.credential;
    const name = hello.name;
    if (matchToken(this.creds.viewers, token)) return { ok: false, reason: 'viewer_token', detail: 'a viewer token is not an agent credential' };
    if (kind === 'enrol') return this.enrol(hello);
    const fileEntry = matchToken(this.creds.agents, token);
    if (fileEntry) return fileEntry.name === name ? { ok: true, host: name } : { ok: false, reason: 'host_mismatch', detail: `this token is not valid for host "${name}"` };
    const hash = hashToken(token).toString('hex');
    const issued = await this.store.tokenByHash(hash);
    if (issued && timingSafeEqual(Buffer.from(issued.tokenHash, 'hex'), Buffer.from(hash, 'hex'))) {
      return issued.host === name ? { ok: true, host: name } : { ok: false, reason: 'host_mismatch', detail: `this token is not valid for host "${name}"` };
    }
    if (this.openMode) {
      const bound = await this.store.tokenByHost(name);
      if (bound) return { ok: false, reason: 'host_mismatch', detail: `host "${name}" is bound to another credential` };
      await this.store.putToken({ host: name, tokenHash: hash, instanceId: hello.identity.instanceId ?? null, via: 'first-use' });
      return { ok: true, host: name };
    }
    return { ok: false, reason: 'auth_failed', detail: 'unknown agent token' };
  }

  private async enrol(hello: Hello): Promise<AgentAuth> {
    const entry = matchToken(this.creds.enrolment, hello.credential.token);
    if (!entry) return { ok: false, reason: 'auth_failed', detail: 'unknown enrolment token' };
    if (entry.expiresAt !== undefined && this.now() > entry.expiresAt) {
      return { ok: false, reason: 'enrol_expired', detail: `enrolment token "${entry.name}" expired at ${new Date(entry.expiresAt).toISOString()}` };
    }
    const name = hello.name;
    if ([...this.creds.agents.values()].some((e) => e.name === name)) return { ok: false, reason: 'host_mismatch', detail: `host "${name}" has a per-host token; it cannot enrol` };
    const existing = await this.store.tokenByHost(name);
    const instanceId = hello.identity.instanceId ?? null;
    // Re-enrolment is allowed only for the same cloud instance (an agent that lost its token).
    if (existing && (existing.instanceId === null || existing.instanceId !== instanceId)) {
      return { ok: false, reason: 'host_mismatch', detail: `host "${name}" is already enrolled${existing.instanceId ? ' by another instance' : ''}` };
    }
    const issuedToken = newToken();
    await this.store.putToken({ host: name, tokenHash: hashToken(issuedToken).toString('hex'), instanceId, via: `enrolment:${entry.name}` });
    return { ok: true, host: name, issuedToken };
  }

  /** May this HTTP request see the API? Viewer tokens when configured; else loopback only. */
  async viewerAllowed(token: string | undefined, fromLoopback: boolean): Promise<ViewerVerdict> {
    if (token !== undefined) {
      if (matchToken(this.creds.viewers, token)) return { ok: true };
      if (matchToken(this.creds.agents, token) || (await this.store.tokenByHash(hashToken(token).toString('hex')))) {
        return { ok: false, status: 403, detail: 'an agent token is not a viewer token' };
      }
      return { ok: false, status: 401, detail: 'unknown viewer token' };
    }
    if (this.creds.viewers.size === 0 && fromLoopback) return { ok: true };
    return { ok: false, status: 401, detail: 'viewer token required (Authorization: Bearer TOKEN)' };
  }
}
