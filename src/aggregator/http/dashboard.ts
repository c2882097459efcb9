/**
 * The dashboard's static files (src/dashboard, plain ES modules, no build step) with a
 * strict Content-Security-Policy, and the browser's viewer login: `?token=` sets an HttpOnly
 * SameSite=Strict cookie the API then accepts like `Authorization: Bearer`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SOURCES } from '../../collect/sources.js';
import { VIEWER_COOKIE, viewerCookieHeader } from './viewer-cookie.js';

/** Scripts, styles and connections only from this origin; no inline code, no framing. */
export const DASHBOARD_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

export interface DashboardOptions {
  /** Send the CSP header (default true); `serve --no-csp` turns it off for the XSS test's control run. */
  csp?: boolean;
}

/** The viewer check the API applies, passed in so this file needs no aggregator import. */
export type ViewerCheck = (token: string | undefined) => Promise<{ ok: true } | { ok: false; status: number; detail: string }>;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.json': 'application/json; charset=utf-8',
};

/**
 * Where the static files are: $HOSTCHECK_DASHBOARD_DIR, else src/dashboard under the
 * nearest folder above this module holding package.json (works from src/ and build/src/).
 * Resolved on first use, so a bundle without the files (dist/hostcheck.cjs) still loads; it
 * answers 404 naming the variable. null: not found.
 */
let staticRootCache: string | null | undefined;
export function staticRoot(): string | null {
  if (staticRootCache !== undefined) return staticRootCache;
  const fromEnv = process.env.HOSTCHECK_DASHBOARD_DIR;
  if (fromEnv) return (staticRootCache = resolve(fromEnv));
  try {
    let dir = dirname(fileURLToPath(import.meta.url));
    while (!existsSync(join(dir, 'package.json'))) {
      const up = dirname(dir);
      if (up === dir) return (staticRootCache = null);
      dir = up;
    }
    const root = join(dir, 'src', 'dashboard');
    staticRootCache = existsSync(join(root, 'index.html')) ? root : null;
  } catch {
    staticRootCache = null;
  }
  return staticRootCache;
}

/** Source name → the command or file it came from, so evidence lines can name their command. */
function sourcesJson(): string {
  return JSON.stringify(Object.fromEntries(SOURCES.map((s) => [s.name, s.argv ? s.argv.join(' ') : s.path ?? s.name])));
}

function headers(options: DashboardOptions, type: string): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY',
  };
  if (options.csp !== false) h['content-security-policy'] = DASHBOARD_CSP;
  return h;
}

function plain(res: ServerResponse, status: number, text: string, options: DashboardOptions): void {
  res.writeHead(status, headers(options, 'text/plain; charset=utf-8'));
  res.end(text + '\n');
}

/** Serve one dashboard request (anything outside /api, /metrics, /healthz). */
export async function serveDashboard(req: IncomingMessage, res: ServerResponse, url: URL, viewer: ViewerCheck, cookieToken: string | undefined, options: DashboardOptions = {}): Promise<void> {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') return plain(res, 405, `no route ${method} ${url.pathname}`, options);
  const login = url.searchParams.get('token');
  if (login !== null) {
    const ok = await viewer(login);
    if (!ok.ok) return plain(res, ok.status, ok.detail, options);
    url.searchParams.delete('token');
    const secure = 'encrypted' in req.socket && Boolean((req.socket as { encrypted?: boolean }).encrypted);
    res.writeHead(303, { location: url.pathname + url.search, 'set-cookie': viewerCookieHeader(login, secure), 'cache-control': 'no-store' });
    res.end();
    return;
  }
  const allowed = await viewer(cookieToken);
  if (!allowed.ok) return plain(res, allowed.status, `${allowed.detail} — open the dashboard once as /?token=VIEWER_TOKEN (sets the ${VIEWER_COOKIE} cookie)`, options);
  if (url.pathname === '/sources.json') {
    res.writeHead(200, headers(options, TYPES['.json']));
    res.end(method === 'HEAD' ? undefined : sourcesJson());
    return;
  }
  const root = staticRoot();
  if (!root) return plain(res, 404, 'the dashboard files are not installed here: set HOSTCHECK_DASHBOARD_DIR to a copy of src/dashboard', options);
  let rel: string;
  try {
    rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname).replace(/^\/+/, '');
  } catch {
    return plain(res, 400, `bad path ${url.pathname}`, options);
  }
  const file = normalize(join(root, rel));
  // A path that climbs out of the static folder ("..", encoded or not) is refused.
  if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) return plain(res, 404, `no file ${url.pathname}`, options);
  res.writeHead(200, headers(options, TYPES[extname(file)] ?? 'application/octet-stream'));
  res.end(method === 'HEAD' ? undefined : readFileSync(file));
}
