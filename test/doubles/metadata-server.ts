/**
 * TEST DOUBLE of a cloud metadata service on loopback (127.0.0.1, random port): AWS IMDSv2
 * (PUT /latest/api/token, then X-aws-ec2-metadata-token; 401 without it) or Alibaba Cloud's
 * hardened mode (X-aliyun-ecs-metadata-token). Paths answer from a plain map.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MetadataDouble {
  base: string;
  requests: string[];
  close(): Promise<void>;
}

export async function startMetadataDouble(provider: 'aws' | 'alibaba', paths: Record<string, string>, opts: { requireToken?: boolean } = {}): Promise<MetadataDouble> {
  const requests: string[] = [];
  const token = 'tok-' + Math.random().toString(36).slice(2);
  const tokenHeader = provider === 'aws' ? 'x-aws-ec2-metadata-token' : 'x-aliyun-ecs-metadata-token';
  const ttlHeader = provider === 'aws' ? 'x-aws-ec2-metadata-token-ttl-seconds' : 'x-aliyun-ecs-metadata-token-ttl-seconds';
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers[ttlHeader]) {
        res.writeHead(400);
        return res.end();
      }
      res.writeHead(200);
      return res.end(token);
    }
    if (opts.requireToken && req.headers[tokenHeader] !== token) {
      res.writeHead(401);
      return res.end();
    }
    const p = (req.url ?? '').replace(/^\/latest\/meta-data\//, '');
    if (p in paths) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      return res.end(paths[p]);
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(() => r())) };
}
