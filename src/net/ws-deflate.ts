/**
 * ws's permessage-deflate state, shared by both ends of the agent protocol: the agent
 * (src/agent/connection.ts) and the aggregator (src/aggregator/ws-server.ts) free a connection's
 * zlib streams between messages and keep its parameters compact (docs/agent.md and
 * docs/benchmarks.md, "Memory"). These are private fields of ws 8, read defensively: a field
 * that is missing leaves the connection as ws made it.
 */
import type { WebSocket } from 'ws';

interface DeflateState { params?: Record<string, unknown>; _deflate?: { close(): void } | null; _inflate?: { close(): void } | null }
interface WsInternals { _extensions?: Record<string, DeflateState | undefined>; _sender?: { _state?: unknown } }

function deflateOf(ws: WebSocket): DeflateState | undefined {
  return (ws as unknown as WsInternals)._extensions?.['permessage-deflate'];
}

/**
 * Drop the zlib stream that inflated the message just read (ws makes a new one for the next
 * compressed message), when the peer compresses each message on its own: `peerNoTakeover` is
 * the parameter naming the peer's side. Call it from the 'message' listener: ws emits it from the
 * stream's flush callback, when the stream is idle, and closes it there itself on an error.
 */
export function dropInflate(ws: WebSocket, peerNoTakeover: 'client_no_context_takeover' | 'server_no_context_takeover'): void {
  const pmd = deflateOf(ws);
  if (!pmd?.params?.[peerNoTakeover] || !pmd._inflate) return;
  pmd._inflate.close();
  pmd._inflate = null;
}

/**
 * Drop the deflate stream (~280 KB of zlib state) while ws's sender is not compressing (its
 * state 0: nothing queued or in flight); a fresh stream is always a valid compressor, whatever
 * was negotiated.
 */
export function dropDeflate(ws: WebSocket): void {
  const pmd = deflateOf(ws);
  if (!pmd?._deflate || (ws as unknown as WsInternals)._sender?._state !== 0) return;
  pmd._deflate.close();
  pmd._deflate = null;
}

/**
 * The negotiated parameters as an ordinary object: ws keeps the offer it parsed, made with a
 * null prototype, which V8 holds as a dictionary (about 140 bytes more for each of thousands of
 * idle connections). ws only reads its keys; the values stay the same.
 */
export function compactDeflateParams(ws: WebSocket): void {
  const pmd = deflateOf(ws);
  if (pmd?.params) pmd.params = { ...pmd.params };
}
