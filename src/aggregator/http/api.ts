/**
 * The HTTP API on the agents' port (docs/api.md): hosts, findings, pairs, acks, health and
 * metrics. JSON in and out, errors as `{ "error": "..." }`. Viewer tokens (Bearer) are
 * required off loopback, always; on loopback only when viewer tokens are configured. Every
 * request must name this server in its Host, and a state-changing one must be JSON from no
 * other origin (guard.ts: DNS rebinding and cross-site requests).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { formatZodErrors } from '../../model/zod-errors.js';
import { PathQueryError } from '../../simulate/path-types.js';
import { isLoopbackAddress } from '../auth.js';
import type { Aggregator } from '../aggregator.js';
import { brokenPairs, pairFacts, pairVerdict } from '../pairs.js';
import type { FindingFilter } from '../store.js';
import { serveDashboard, type DashboardOptions } from './dashboard.js';
import { serveEvents } from './events.js';
import { hostSummary, openFindingCounts } from './host-summary.js';
import { fleetPath } from './path.js';
import { crossSiteRefusal, hostRefusal } from './guard.js';
import { viewerCookie } from './viewer-cookie.js';

const MAX_BODY = 64 * 1024;

const ackBodySchema = z.object({
  state: z.enum(['acknowledged', 'silenced']).default('acknowledged'),
  who: z.string().min(1).max(128),
  why: z.string().min(1).max(2048),
  until: z.string().refine((s) => !Number.isNaN(Date.parse(s)), { message: 'not an ISO time' }).optional(),
}).strict();

const findingQuerySchema = z.object({
  severity: z.enum(['error', 'warning', 'info']).optional(),
  check: z.string().max(64).optional(),
  host: z.string().max(253).optional(),
  state: z.enum(['open', 'resolved', 'acknowledged', 'silenced']).optional(),
  limit: z.coerce.number().int().positive().max(100_000).optional(),
});

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `body larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch (err) {
    throw new HttpError(400, `body is not valid JSON: ${(err as Error).message}`);
  }
}

/** The viewer token: `Authorization: Bearer`, else the dashboard's login cookie. */
function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m ? m[1] : viewerCookie(req);
}

/** A path segment percent-decoded; a malformed escape is the client's error (400), not the server's. */
function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, `malformed percent-encoding in ${JSON.stringify(part.slice(0, 200))}`);
  }
}

export interface HttpOptions extends DashboardOptions {
  /** Names besides loopback ones and IP addresses this server answers to (`serve --public-name`). */
  publicNames?: readonly string[];
}

/** A request handler for node:http, bound to one aggregator. */
export function apiHandler(agg: Aggregator, options: HttpOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const publicNames = new Set((options.publicNames ?? []).map((n) => n.toLowerCase().replace(/\.$/, '')));
  return (req, res) => {
    const refused = hostRefusal(req, publicNames);
    if (refused) {
      agg.metrics.httpRefused.inc({ reason: refused.reason });
      return json(res, refused.status, { error: refused.detail });
    }
    route(agg, req, res, options).catch((err: unknown) => {
      if (err instanceof HttpError) json(res, err.status, { error: err.message });
      else json(res, 500, { error: (err as Error).message });
    });
  };
}

async function route(agg: Aggregator, req: IncomingMessage, res: ServerResponse, dashboard: DashboardOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://aggregator');
  const path = url.pathname;
  if (path === '/healthz') return json(res, 200, { ok: true, hosts: agg.index.size, connected: agg.connectedCount });
  const loopback = isLoopbackAddress(req.socket.remoteAddress);
  if (path !== '/metrics' && path !== '/api' && !path.startsWith('/api/')) return serveDashboard(req, res, url, (t) => agg.auth.viewerAllowed(t, loopback), bearer(req), dashboard);
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    const refused = crossSiteRefusal(req, method !== 'DELETE');
    if (refused) {
      agg.metrics.httpRefused.inc({ reason: refused.reason });
      return json(res, refused.status, { error: refused.detail });
    }
  }
  const allowed = await agg.auth.viewerAllowed(bearer(req), loopback);
  if (!allowed.ok) return json(res, allowed.status, { error: allowed.detail });
  if (path === '/metrics' && method === 'GET') {
    const text = await agg.metrics.text();
    res.writeHead(200, { 'content-type': agg.metrics.registry.contentType });
    res.end(text);
    return;
  }
  if (path === '/api/hosts' && method === 'GET') {
    const counts = openFindingCounts(await agg.store.findings());
    return json(res, 200, { hosts: (await agg.store.hosts()).map((h) => ({ ...h, connected: agg.connected(h.name), ...hostSummary(agg.index.snapshot(h.name), agg.index.vpcOf(h.name), counts.get(h.name)) })) });
  }
  if (path === '/api/events' && method === 'GET') return serveEvents(agg.events, req, res);
  if (path === '/api/path' && method === 'GET') {
    try {
      return json(res, 200, fleetPath(agg.index, url.searchParams, agg.topology));
    } catch (err) {
      if (err instanceof PathQueryError) throw new HttpError(400, err.message);
      throw err;
    }
  }
  const hostMatch = /^\/api\/hosts\/([^/]+)$/.exec(path);
  if (hostMatch && method === 'GET') {
    const name = decodePart(hostMatch[1]);
    const host = await agg.store.host(name);
    if (!host) throw new HttpError(404, `no host "${name}"`);
    return json(res, 200, {
      host: { ...host, connected: agg.connected(name) }, snapshot: await agg.storedSnapshot(name),
      findings: await agg.store.findings({ host: name }), history: await agg.store.reports(name),
      kernel: agg.kernelWindow(name) ?? null,
    });
  }
  if (path === '/api/findings' && method === 'GET') {
    const q = findingQuerySchema.safeParse(Object.fromEntries(url.searchParams));
    if (!q.success) throw new HttpError(400, formatZodErrors(q.error).join('; '));
    return json(res, 200, { findings: await agg.store.findings(q.data as FindingFilter) });
  }
  const ackMatch = /^\/api\/findings\/([^/]+)\/ack$/.exec(path);
  if (ackMatch && (method === 'POST' || method === 'DELETE')) {
    const key = decodePart(ackMatch[1]);
    if (method === 'DELETE') {
      if (!(await agg.store.clearAck(key))) throw new HttpError(404, `no acknowledgement for "${key}"`);
      return json(res, 200, { finding: await agg.store.finding(key) });
    }
    const body = ackBodySchema.safeParse(await readBody(req));
    if (!body.success) throw new HttpError(400, formatZodErrors(body.error).join('; '));
    if (!(await agg.store.setAck(key, body.data))) throw new HttpError(404, `no finding "${key}"`);
    return json(res, 200, { finding: await agg.store.finding(key) });
  }
  if (path === '/api/pairs' && method === 'GET') {
    const from = url.searchParams.get('from') ?? undefined;
    const to = url.searchParams.get('to') ?? undefined;
    const known = await pairFacts(agg);
    for (const n of [from, to]) if (n !== undefined && !known.hosts.has(n)) throw new HttpError(404, `no host "${n}"`);
    if (from && to) return json(res, 200, { pairs: [pairVerdict(agg, known, from, to)] });
    if (from || to) {
      const one = (from ?? to)!;
      const others = [...known.hosts.keys()].filter((n) => n !== one).slice(0, 10_000);
      return json(res, 200, { pairs: others.map((o) => (from ? pairVerdict(agg, known, one, o) : pairVerdict(agg, known, o, one))) });
    }
    return json(res, 200, { pairs: brokenPairs(agg, known) });
  }
  throw new HttpError(method === 'GET' || method === 'POST' ? 404 : 405, `no route ${method} ${path}`);
}
