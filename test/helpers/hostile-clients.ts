/**
 * Clients that attack the aggregator before authenticating, over real TCP on loopback (issue 22):
 * each upgrades to WebSocket by hand and starts a text frame announcing 15 MiB, then streams
 * its payload and never finishes it; when cut off it comes back, until stopped. Spread over
 * several loopback source addresses (127.0.0.2, 127.0.0.3, ...), so both the per-address and the
 * per-server caps are met. Counts what happened to them.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface HostileStats {
  /** Upgrades answered 101 (let in). */
  admitted: number;
  /** Upgrades refused (503). */
  refused: number;
  /** Connections cut by the server after they were let in. */
  cut: number;
  /** Payload bytes written, over all connections. */
  bytes: number;
}

export interface HostileOptions {
  port: number;
  clients: number;
  /** Source addresses 127.0.0.2 … 127.0.0.(1 + addresses). */
  addresses: number;
  /** The frame size each announces (default 15 MiB). */
  announce?: number;
  /** Wait before coming back after being cut or refused (default 200 ms). */
  retryMs?: number;
  /** Each client's sending rate (default: as fast as the socket takes it). */
  bytesPerSecond?: number;
}

const CHUNK = randomBytes(64 * 1024);

/** Start the clients; `stop()` ends them and returns their counts. */
export function hostileClients(o: HostileOptions): { stats: HostileStats; stop: () => Promise<HostileStats> } {
  const stats: HostileStats = { admitted: 0, refused: 0, cut: 0, bytes: 0 };
  const sockets = new Set<Socket>();
  let stopped = false;
  const announce = o.announce ?? 15 * 1024 * 1024;

  const attack = (k: number): void => {
    if (stopped) return;
    const socket = connect({ port: o.port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (k % o.addresses)}` });
    sockets.add(socket);
    let upgraded = false;
    let head = '';
    let sent = 0;
    const pump = (): void => {
      // Stream the payload (paced, or as fast as the server takes it), stopping one byte short of the frame.
      while (upgraded && !socket.destroyed && sent < announce - 1) {
        const n = Math.min(CHUNK.length, announce - 1 - sent);
        sent += n;
        stats.bytes += n;
        const more = socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
        if (o.bytesPerSecond !== undefined) {
          setTimeout(pump, (1000 * n) / o.bytesPerSecond).unref();
          return;
        }
        if (!more) return;
      }
    };
    socket.on('connect', () => {
      socket.write(`GET /agent HTTP/1.1\r\nHost: 127.0.0.1:${o.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
        + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    socket.on('data', (d: Buffer) => {
      if (upgraded) return;
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      if (!head.startsWith('HTTP/1.1 101')) {
        stats.refused++;
        socket.destroy();
        return;
      }
      upgraded = true;
      stats.admitted++;
      // FIN + text, masked, 64-bit length.
      const header = Buffer.alloc(14);
      header[0] = 0x81;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(announce), 2);
      randomBytes(4).copy(header, 10);
      socket.write(header);
      pump();
    });
    if (o.bytesPerSecond === undefined) socket.on('drain', pump);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      if (upgraded) stats.cut++;
      // Back after retryMs, give or take half of it (clients that are not in step with each other).
      if (!stopped) setTimeout(() => attack(k), (o.retryMs ?? 200) * (0.5 + Math.random())).unref();
    });
  };

  for (let k = 0; k < o.clients; k++) attack(k);
  return {
    stats,
    stop: async () => {
      stopped = true;
      for (const s of sockets) s.destroy();
      return stats;
    },
  };
}
