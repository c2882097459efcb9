/**
 * Docker's networks from the Engine API over its unix socket (node:http socketPath): `GET /networks`,
 * then `GET /networks/{id}` for each, because only inspect lists the containers.
 */
import { existsSync } from 'node:fs';

export interface DockerApiOutcome {
  status: 'collected' | 'unavailable' | 'failed';
  /** JSON array of network inspect objects, as the API sent them. */
  text?: string;
  message?: string;
  durationMs: number;
}

async function getJson(socketPath: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  // node:http loads only when there is a socket to talk to (most hosts run no Docker).
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', headers: { Host: 'docker', Accept: 'application/json' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function collectDockerNetworks(socketPath: string, timeoutMs: number): Promise<DockerApiOutcome> {
  const started = performance.now();
  const done = (o: Omit<DockerApiOutcome, 'durationMs'>): DockerApiOutcome => ({ ...o, durationMs: Math.round(performance.now() - started) });
  let list: { status: number; body: string };
  if (!existsSync(socketPath)) return done({ status: 'unavailable', message: `docker: no socket at ${socketPath} (Docker not installed or not running)` });
  try {
    list = await getJson(socketPath, '/networks', timeoutMs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return done({ status: 'unavailable', message: `docker: no socket at ${socketPath} (Docker not installed or not running)` });
    if (code === 'ECONNREFUSED') return done({ status: 'unavailable', message: `docker: nothing listens on ${socketPath} (Docker not running)` });
    if (code === 'EACCES') return done({ status: 'failed', message: `docker: permission denied on ${socketPath} — run as root or add the user to the docker group (root-equivalent)` });
    return done({ status: 'failed', message: `docker: ${(err as Error).message}` });
  }
  if (list.status !== 200) return done({ status: 'failed', message: `docker: GET /networks answered HTTP ${list.status}: ${list.body.slice(0, 200)}` });
  let networks: { Id?: string; Name?: string }[];
  try {
    networks = JSON.parse(list.body);
    if (!Array.isArray(networks)) throw new Error('not an array');
  } catch (err) {
    return done({ status: 'failed', message: `docker: GET /networks did not return a JSON array (${(err as Error).message})` });
  }
  // Inspect each network for its containers; fall back to the list entry when inspect fails.
  const inspected = await Promise.all(
    networks.map(async (n) => {
      if (!n || typeof n.Id !== 'string') return n;
      try {
        const r = await getJson(socketPath, `/networks/${encodeURIComponent(n.Id)}`, timeoutMs);
        return r.status === 200 ? JSON.parse(r.body) : n;
      } catch {
        return n;
      }
    }),
  );
  return done({ status: 'collected', text: JSON.stringify(inspected, null, 2) + '\n' });
}
