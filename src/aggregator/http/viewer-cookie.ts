/** The browser's viewer credential: an HttpOnly SameSite=Strict cookie set by the `?token=` login. */
import type { IncomingMessage } from 'node:http';

export const VIEWER_COOKIE = 'hostcheck_viewer';

/** The viewer token from the request's cookie, if any. */
export function viewerCookie(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === VIEWER_COOKIE) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

export function viewerCookieHeader(token: string, secure: boolean): string {
  return `${VIEWER_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}
