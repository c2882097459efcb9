/**
 * `GET /api/events`: server-sent events for the dashboard. Each aggregator change (a committed
 * report with the fleet findings it found or resolved, hosts gone stale, an agent connecting or
 * leaving, the topology file re-read) is one `change` event; the page re-reads what it shows. A comment every 15 s keeps
 * proxies from closing an idle stream.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FleetEvent } from '../aggregator.js';

/** Open streams are bounded: a browser tab holds one; more than this is a misbehaving client. */
const MAX_STREAMS = 256;
const KEEPALIVE_MS = 15_000;
let open = 0;

export function serveEvents(events: EventEmitter, req: IncomingMessage, res: ServerResponse): void {
  if (open >= MAX_STREAMS) {
    res.writeHead(503, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ error: `more than ${MAX_STREAMS} event streams are open` }));
    return;
  }
  open++;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'keep-alive' });
  res.write('retry: 2000\n: hostcheck events\n\n');
  const onChange = (e: FleetEvent): void => {
    res.write(`event: change\ndata: ${JSON.stringify(e)}\n\n`);
  };
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  keepalive.unref();
  events.on('change', onChange);
  const done = (): void => {
    clearInterval(keepalive);
    events.off('change', onChange);
    open--;
  };
  req.once('close', done);
}
