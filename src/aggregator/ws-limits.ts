/**
 * The message limit of one ws connection, raised after its hello is accepted. ws takes one
 * `maxPayload` per server, for the frame reader and for permessage-deflate's inflater alike; the
 * server is built with the small pre-authentication limit and each authenticated connection gets
 * the full one here. ws keeps both in private fields (`_receiver._maxPayload`, the extension's
 * `_maxPayload`): test/aggregator/aggregator-preauth.test.ts fails if a ws upgrade moves them.
 */
import type { WebSocket } from 'ws';

interface WsInternals {
  _receiver?: { _maxPayload?: number };
  _extensions?: Record<string, { _maxPayload?: number } | undefined>;
}

/** Let `ws` take messages (and inflated messages) up to `bytes`; throws if ws no longer has the fields. */
export function raiseMessageLimit(ws: WebSocket, bytes: number): void {
  const w = ws as unknown as WsInternals;
  if (typeof w._receiver?._maxPayload !== 'number') throw new Error('ws internals changed: no _receiver._maxPayload to raise');
  w._receiver._maxPayload = bytes;
  const deflate = w._extensions?.['permessage-deflate'];
  if (deflate) {
    if (typeof deflate._maxPayload !== 'number') throw new Error('ws internals changed: no permessage-deflate _maxPayload to raise');
    deflate._maxPayload = bytes;
  }
}
