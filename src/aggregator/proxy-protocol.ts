/**
 * The PROXY protocol (HAProxy's spec, versions 1 and 2): a TCP load balancer in front of
 * `hostcheck serve` (HAProxy `send-proxy-v2`, nginx stream `proxy_protocol on`) starts each
 * connection with a header naming the client's own address. With `serve --proxy-protocol` the
 * TCP listener reads that header first and the connection then carries the client's address as
 * its `remoteAddress`: the per-address limits, the logs, the fleet's view of an agent and the
 * API's loopback rule all see the agent, not the balancer.
 *
 * Every connection to such a listener must start with a header (as HAProxy's `accept-proxy` and
 * nginx's `proxy_protocol` listeners require); one that does not, a malformed or oversized one,
 * or none within the timeout closes that connection only. With trusted proxies named, a
 * connection from any other address is closed before its header is read.
 */
import { Server as NetServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket, type SecureContextOptions } from 'node:tls';

/** Version 2's twelve-byte signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Version 1's longest line, CRLF included (the spec's 107 bytes). */
const V1_MAX = 107;
/** Version 2's address block and TLVs, at most (the spec allows 65,535; a balancer sends far less). */
const V2_MAX_PAYLOAD = 4096;

export interface ProxyAddress {
  /** The client's address, or undefined when the header names none (v1 UNKNOWN, v2 LOCAL, a unix or unspecified family). */
  address?: string;
  port?: number;
}

export type ProxyHeader =
  | { state: 'more' }
  | { state: 'done'; length: number; source: ProxyAddress }
  | { state: 'invalid'; reason: string };

/** Reads a PROXY header from the first bytes of a connection; never throws. */
export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return { state: 'more' };
  const sigPart = Math.min(buf.length, V2_SIGNATURE.length);
  if (buf.subarray(0, sigPart).equals(V2_SIGNATURE.subarray(0, sigPart))) return parseV2(buf);
  const v1Part = Math.min(buf.length, 6);
  if (buf.subarray(0, v1Part).toString('latin1') === 'PROXY '.slice(0, v1Part)) return parseV1(buf);
  return { state: 'invalid', reason: 'the connection does not start with a PROXY protocol header' };
}

function parseV1(buf: Buffer): ProxyHeader {
  const end = buf.subarray(0, V1_MAX).indexOf('\r\n');
  if (end < 0) return buf.length >= V1_MAX ? { state: 'invalid', reason: `PROXY v1 line longer than ${V1_MAX} bytes` } : { state: 'more' };
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { state: 'done', length, source: {} };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return { state: 'invalid', reason: 'PROXY v1 line is not "PROXY TCP4|TCP6 SRC DST SPORT DPORT"' };
  const address = parts[1] === 'TCP4' ? ipv4(parts[2]) : ipv6(parts[2]);
  const port = portOf(parts[4]);
  if (address === undefined || port === undefined || portOf(parts[5]) === undefined) return { state: 'invalid', reason: 'PROXY v1 line with a malformed address or port' };
  return { state: 'done', length, source: { address, port } };
}

function parseV2(buf: Buffer): ProxyHeader {
  if (buf.length < 16) return { state: 'more' };
  const verCmd = buf[12];
  if (verCmd >> 4 !== 2) return { state: 'invalid', reason: `PROXY v2 header with version ${verCmd >> 4}` };
  const command = verCmd & 0x0f;
  if (command > 1) return { state: 'invalid', reason: `PROXY v2 header with command ${command}` };
  const len = buf.readUInt16BE(14);
  if (len > V2_MAX_PAYLOAD) return { state: 'invalid', reason: `PROXY v2 header of ${len} bytes (at most ${V2_MAX_PAYLOAD})` };
  if (buf.length < 16 + len) return { state: 'more' };
  const length = 16 + len;
  // LOCAL: the balancer's own connection (a health check); the socket's address stays.
  if (command === 0) return { state: 'done', length, source: {} };
  const family = buf[13] >> 4;
  const body = buf.subarray(16, length);
  if (family === 1) {
    if (len < 12) return { state: 'invalid', reason: 'PROXY v2 IPv4 address block shorter than 12 bytes' };
    return { state: 'done', length, source: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) } };
  }
  if (family === 2) {
    if (len < 36) return { state: 'invalid', reason: 'PROXY v2 IPv6 address block shorter than 36 bytes' };
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
    return { state: 'done', length, source: { address: ipv6(groups.join(':')), port: body.readUInt16BE(32) } };
  }
  // AF_UNSPEC or AF_UNIX: nothing to name.
  return { state: 'done', length, source: {} };
}

function ipv4(s: string | undefined): string | undefined {
  const m = s === undefined ? null : /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return m && m.slice(1).every((o) => Number(o) <= 255 && (o === '0' || !o.startsWith('0'))) ? s : undefined;
}

/** An IPv6 address in its compressed form (as Node names sockets), or undefined. */
function ipv6(s: string | undefined): string | undefined {
  if (s === undefined || !/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return undefined;
  try {
    const host = new URL(`http://[${s}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return undefined;
  }
}

function portOf(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,5}$/.test(s) || (s.length > 1 && s.startsWith('0'))) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

export interface ProxyListenerOptions {
  /** Addresses allowed to connect and send a header; empty or undefined: any. */
  trusted?: ReadonlySet<string>;
  /** Milliseconds to wait for the whole header (default 5,000). */
  timeoutMs?: number;
  /** Called once per connection closed for its header (for the log and metrics). */
  onRefused?: (peer: string | undefined, reason: string) => void;
}

/** Gives a socket the client's address the header named (its own address stays when the header names none). */
function takeAddress(socket: Duplex, source: ProxyAddress): void {
  if (source.address === undefined) return;
  Object.defineProperty(socket, 'remoteAddress', { value: source.address, configurable: true });
  Object.defineProperty(socket, 'remotePort', { value: source.port, configurable: true });
  Object.defineProperty(socket, 'remoteFamily', { value: source.address.includes(':') ? 'IPv6' : 'IPv4', configurable: true });
}

/**
 * A stream over `socket` that first gives `rest` (bytes read past the header): TLS reads a
 * socket's handle directly and would miss bytes put back with unshift, so a TLS listener
 * terminates TLS on this instead.
 */
function detached(socket: Socket, rest: Buffer): Duplex {
  const d = new Duplex({
    read() { socket.resume(); },
    write(chunk: Buffer, encoding, cb) { socket.write(chunk, encoding, cb); },
    final(cb) { socket.end(cb); },
    destroy(err, cb) { socket.destroy(err ?? undefined); cb(err); },
  });
  Object.assign(d, {
    remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, remoteFamily: socket.remoteFamily, localAddress: socket.localAddress, localPort: socket.localPort,
    setTimeout: (ms: number, cb?: () => void) => { socket.setTimeout(ms, cb); return d; },
    setNoDelay: (v?: boolean) => { socket.setNoDelay(v); return d; },
    setKeepAlive: (enable?: boolean, ms?: number) => { socket.setKeepAlive(enable, ms); return d; },
  });
  socket.on('timeout', () => d.emit('timeout'));
  if (rest.length > 0) d.push(rest);
  socket.on('data', (c: Buffer) => { if (!d.push(c)) socket.pause(); });
  socket.on('end', () => d.push(null));
  socket.on('close', () => d.destroy());
  socket.on('error', (e) => d.destroy(e));
  socket.resume();
  return d;
}

/**
 * A TCP server that reads each connection's PROXY header, gives the connection the client's
 * address and hands it to `target` as its own connection: an http server directly; with
 * `tls`, over TLS terminated here (an https server would read the socket's handle and miss the
 * bytes that came with the header).
 */
export function proxyProtocolListener(target: NetServer, tls: SecureContextOptions | undefined, options: ProxyListenerOptions = {}): NetServer {
  const timeoutMs = options.timeoutMs ?? 5000;
  const context = tls ? createSecureContext(tls) : undefined;
  const pending = new Set<Socket>();
  const server = new NetServer((socket) => {
    const peer = socket.remoteAddress?.replace(/^::ffff:/, '');
    const refuse = (reason: string): void => {
      options.onRefused?.(peer, reason);
      socket.destroy();
    };
    if (options.trusted && options.trusted.size > 0 && (peer === undefined || !options.trusted.has(peer))) {
      refuse(`${peer ?? 'a peer'} is not a trusted proxy`);
      return;
    }
    pending.add(socket);
    let buf: Buffer = Buffer.alloc(0);
    const finish = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      pending.delete(socket);
    };
    const timer = setTimeout(() => { finish(); refuse(`no PROXY header within ${timeoutMs} ms`); }, timeoutMs);
    const onError = (): void => { finish(); socket.destroy(); };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const h = parseProxyHeader(buf);
      if (h.state === 'more') return;
      finish();
      if (h.state === 'invalid') {
        refuse(h.reason);
        return;
      }
      socket.pause();
      const rest = buf.subarray(h.length);
      if (context) {
        const secure = new TLSSocket(detached(socket, rest), { isServer: true, secureContext: context });
        secure.on('error', () => secure.destroy());
        takeAddress(secure, h.source.address === undefined ? { address: peer, port: socket.remotePort } : h.source);
        target.emit('connection', secure);
        return;
      }
      takeAddress(socket, h.source);
      if (rest.length > 0) socket.unshift(rest);
      target.emit('connection', socket);
      socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', onError);
  });
  server.on('close', () => {
    for (const s of pending) s.destroy();
    pending.clear();
  });
  return server;
}
