// The dashboard's calls to the aggregator's HTTP API (docs/api.md). Same origin: the viewer
// cookie (set by the ?token= login) or loopback access authenticates them.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

async function answer(res) {
  let body;
  try {
    body = await res.json();
  } catch {
    body = {};
  }
  if (!res.ok) throw new ApiError(res.status, `${res.status}: ${body.error ?? res.statusText}`);
  return body;
}

export async function getJson(path) {
  return answer(await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } }));
}

export async function sendJson(method, path, body) {
  return answer(await fetch(path, {
    method, credentials: 'same-origin',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  }));
}

let sourcesPromise;
/** Source name → the command it came from (served by the dashboard as /sources.json). */
export function sources() {
  sourcesPromise ??= getJson('/sources.json').catch(() => ({}));
  return sourcesPromise;
}

/**
 * Subscribe to /api/events (server-sent events); `onChange(event)` per change, `onState('live' | 'down')`.
 * EventSource reconnects by itself after the server's retry delay.
 */
export function subscribe(onChange, onState) {
  const es = new EventSource('/api/events');
  es.addEventListener('open', () => onState('live'));
  es.addEventListener('error', () => onState('down'));
  es.addEventListener('change', (e) => {
    try {
      onChange(JSON.parse(e.data));
    } catch {
      // A malformed event is skipped; the next one refreshes the view anyway.
    }
  });
  return es;
}
