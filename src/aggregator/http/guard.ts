/**
 * Requests a browser can be made to send against the operator's wishes (docs/api.md, "Browsers"):
 *
 * - DNS rebinding: a page on `evil.example`, whose name then resolves to this server, reads the
 *   API as its own origin. The `Host` a request names must be a loopback name, an IP address, or
 *   a name the server was told it serves (`serve --public-name`).
 * - Cross-site requests: a page elsewhere (another site, or another port of this host, which is
 *   still "same-site" for a SameSite cookie) posts to the API. A state-changing request must
 *   carry `Content-Type: application/json` (which a form or a no-cors fetch cannot send, and a
 *   CORS fetch cannot send without a preflight this server never answers), and, when it carries
 *   an `Origin`, that origin must be this server's own. A client without `Origin` (curl, a
 *   script) still needs its viewer token as before.
 *
 * The unix socket is out of a browser's reach: its requests are not checked.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/** Why a request is refused, in words for its `{ "error" }` and a reason for the metric. */
export interface Refusal {
  status: 403 | 415;
  reason: 'host' | 'origin' | 'content_type';
  detail: string;
}

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost', 'ip6-loopback']);

/** The host part of a Host header or an origin's host ("[::1]:7480" → "::1"), lower case. */
function hostname(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') < 0 ? undefined : h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/** Whether a Host header names this server: an IP address (no DNS to rebind), a loopback name, or a public name. */
export function hostAllowed(host: string | undefined, publicNames: ReadonlySet<string>): boolean {
  // HTTP/1.0 clients may leave it out; every browser sends it.
  if (host === undefined) return true;
  const name = hostname(host).replace(/\.$/, '');
  return isIP(name) !== 0 || LOOPBACK_NAMES.has(name) || name.endsWith('.localhost') || publicNames.has(name);
}

const fromUnixSocket = (req: IncomingMessage): boolean => req.socket.remoteAddress === undefined;

/** A request whose Host this server does not answer to (DNS rebinding), or undefined. */
export function hostRefusal(req: IncomingMessage, publicNames: ReadonlySet<string>): Refusal | undefined {
  if (fromUnixSocket(req) || hostAllowed(req.headers.host, publicNames)) return undefined;
  return {
    status: 403, reason: 'host',
    detail: `this server does not answer to the name "${String(req.headers.host).slice(0, 200)}": use its address or a loopback name, or give serve --public-name NAME`,
  };
}

/** A state-changing request a browser may have been made to send from elsewhere, or undefined. */
export function crossSiteRefusal(req: IncomingMessage, hasBody: boolean): Refusal | undefined {
  if (fromUnixSocket(req)) return undefined;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let own = false;
    try {
      const o = new URL(origin);
      const scheme = 'encrypted' in req.socket && (req.socket as { encrypted?: boolean }).encrypted ? 'https:' : 'http:';
      own = o.protocol === scheme && req.headers.host !== undefined && o.host === new URL(`${scheme}//${req.headers.host}`).host;
    } catch {
      own = false;
    }
    if (!own) return { status: 403, reason: 'origin', detail: `a request from ${String(origin).slice(0, 200)} may not change anything here (only pages of this server may)` };
  }
  const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (hasBody && type !== 'application/json') {
    return { status: 415, reason: 'content_type', detail: `send the body as Content-Type: application/json${type ? `, not ${type.slice(0, 100)}` : ''}` };
  }
  return undefined;
}
