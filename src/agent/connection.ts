/**
 * The agent's side of the WebSocket: URL schemes (ws://, wss:// with a CA file and an optional
 * client certificate, ws+unix:///path), permessage-deflate, and reconnect backoff with jitter.
 */
import { readFile } from 'node:fs/promises';
import WebSocket from 'ws';

/** A configuration problem the agent cannot run with (bad URL, unreadable CA file). */
export class ConnectionConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectionConfigError';
  }
}

export interface TlsFiles {
  ca?: string;
  clientCert?: string;
  clientKey?: string;
}

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

const SCHEMES = new Set(['ws:', 'wss:', 'ws+unix:']);

/** Check the server URL; ws+unix:///run/hostcheck.sock[:/path] is ws's own unix-socket form. */
export function checkServerUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new ConnectionConfigError(`server URL "${url}" is not a URL`, { cause: err });
  }
  if (!SCHEMES.has(parsed.protocol)) throw new ConnectionConfigError(`server URL "${url}": scheme must be ws://, wss:// or ws+unix:///path`);
  if (parsed.protocol === 'ws+unix:' && parsed.pathname.length < 2) throw new ConnectionConfigError(`server URL "${url}": ws+unix:// needs a socket path, e.g. ws+unix:///run/hostcheck.sock`);
  if (parsed.username || parsed.password) throw new ConnectionConfigError(`server URL "${redactUrl(url)}": put credentials in the token file, not the URL`);
  return parsed;
}

/** The URL for logs: no user info, no query (where a token could hide). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

async function readPem(path: string | undefined, what: string): Promise<Buffer | undefined> {
  if (!path) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    throw new ConnectionConfigError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

export async function loadTls(files: TlsFiles): Promise<TlsMaterial> {
  if (!!files.clientCert !== !!files.clientKey) throw new ConnectionConfigError('a client certificate needs its key, and a key its certificate');
  const [ca, cert, key] = await Promise.all([readPem(files.ca, 'CA file'), readPem(files.clientCert, 'client certificate'), readPem(files.clientKey, 'client key')]);
  return { ca, cert, key };
}

export interface OpenOptions {
  tls: TlsMaterial;
  handshakeTimeoutMs?: number;
  /** The largest message the agent accepts from the server (welcome with a big fleet). */
  maxPayload?: number;
}

/** Open one connection; the caller wires events. Compression: permessage-deflate. */
export function openSocket(url: string, opts: OpenOptions): WebSocket {
  return new WebSocket(url, {
    perMessageDeflate: true,
    handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
    maxPayload: opts.maxPayload ?? 64 * 1024 * 1024,
    ca: opts.tls.ca,
    cert: opts.tls.cert,
    key: opts.tls.key,
  });
}

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, maxMs: 60_000 };

/**
 * Delay before reconnect attempt `attempt` (0 = first): exponential, capped, with "equal jitter"
 * (half fixed, half random) so a fleet that lost the server does not return in one wave.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
