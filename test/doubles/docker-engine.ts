/**
 * TEST DOUBLE of the Docker Engine API (no Docker engine can run on these machines): a real HTTP
 * server on a real unix socket answering GET /_ping, GET /networks and GET /networks/{id} with
 * responses written in the documented Engine API format. Used only by tests.
 */
import { createServer, type Server } from 'node:http';

export interface EngineNetwork {
  Name: string;
  Id: string;
  Driver: string;
  Scope?: string;
  Internal?: boolean;
  EnableIPv6?: boolean;
  IPAM: { Driver: string; Config: { Subnet: string; Gateway?: string; IPRange?: string }[]; Options?: Record<string, string> | null };
  Containers?: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
}

export interface DockerEngineDouble {
  socketPath: string;
  requests: string[];
  close(): Promise<void>;
}

/** Start the double; `GET /networks` omits Containers as the real API does since v1.28. */
export async function startDockerEngineDouble(socketPath: string, networks: EngineNetwork[]): Promise<DockerEngineDouble> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Api-Version': '1.45', Server: 'Docker/26.1.0 (linux)' });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://docker');
    const path = url.pathname.replace(/^\/v1\.\d+/, '');
    if (req.method !== 'GET') return send(405, { message: 'method not allowed' });
    if (path === '/_ping') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      return res.end('OK');
    }
    if (path === '/networks') return send(200, networks.map(({ Containers: _c, ...n }) => ({ ...n, Containers: {} })));
    const m = /^\/networks\/([^/]+)$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1]);
      const n = networks.find((x) => x.Id === id || x.Name === id || x.Id.startsWith(id));
      return n ? send(200, n) : send(404, { message: `network ${id} not found` });
    }
    return send(404, { message: 'page not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return { socketPath, requests, close: () => new Promise((r) => server.close(() => r())) };
}
