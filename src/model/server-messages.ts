/**
 * What the aggregator sends an agent (protocol version 1, docs/protocol.md): welcome, ack,
 * context, heartbeat, error — their types and their validation, written without zod so the
 * resident agent does not carry it (zod costs it ~7 MB of RSS, docs/agent.md "Memory").
 * Validation keeps only the fields it knows, as zod's objects do; anything else is a reason.
 */

/** One fleet peer as the server tells it. */
export interface PeerContext {
  name: string;
  addresses: string[];
  vpc?: string;
  /** The MTU of the device holding each address on the peer, as the peer reported it (path MTU toward it). */
  mtus?: PeerMtu[];
}

/** One of a peer's addresses and the MTU of the device it is on. */
export interface PeerMtu {
  address: string;
  dev: string;
  mtu: number;
}

/** What the fleet tells an agent so its own findings name its peers. */
export interface FleetContext {
  peers: PeerContext[];
  remotes: string[];
  ports: string[];
}

export interface Welcome {
  type: 'welcome';
  protocol: number;
  host: string;
  /** Set when an enrolment token was exchanged: the agent stores it and uses it from now on. */
  issuedToken?: string;
  /** The highest sequence number the server has committed for this host. */
  ackedSeq: number;
  context: FleetContext;
  maxPayload: number;
  heartbeatSeconds: number;
  /** Version 2: digests of the sections the server holds for this host (no need to upload them again). */
  sections?: string[];
}

export interface Ack { type: 'ack'; seq: number }
export interface ContextMessage { type: 'context'; context: FleetContext }
export interface Heartbeat { type: 'heartbeat'; at: string; seq?: number }
export interface ErrorMessage { type: 'error'; reason: string }

export type ServerMessage = Welcome | Ack | ContextMessage | Heartbeat | ErrorMessage;

/** A value at a path was not what the protocol says. */
class Invalid extends Error {}

type Obj = Record<string, unknown>;

function fail(path: string, expected: string): never {
  throw new Invalid(`${path}: expected ${expected}`);
}

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'object');
  return v as Obj;
}

function str(v: unknown, path: string, min = 0, max = Infinity): string {
  if (typeof v !== 'string') fail(path, 'string');
  if (v.length < min || v.length > max) fail(path, `a string of ${min} to ${max} characters`);
  return v;
}

function int(v: unknown, path: string, min = -Infinity): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(path, 'integer');
  if (v < min) fail(path, `integer >= ${min}`);
  return v;
}

function positive(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(path, 'positive number');
  return v;
}

function list<T>(v: unknown, path: string, max: number, item: (x: unknown, p: string) => T): T[] {
  if (!Array.isArray(v)) fail(path, 'array');
  if (v.length > max) fail(path, `at most ${max} items`);
  return v.map((x, i) => item(x, `${path}.${i}`));
}

const PORT = /^(tcp|udp)\/\d{1,5}$/;
const SHA256 = /^[0-9a-f]{64}$/;

export function fleetContextOf(v: unknown, path = 'context'): FleetContext {
  const o = obj(v, path);
  return {
    peers: list(o.peers, `${path}.peers`, 100_000, (x, p) => {
      const peer = obj(x, p);
      const out: PeerContext = { name: str(peer.name, `${p}.name`, 1, 253), addresses: list(peer.addresses, `${p}.addresses`, 64, (a, q) => str(a, q, 2, 45)) };
      if (peer.vpc !== undefined) out.vpc = str(peer.vpc, `${p}.vpc`, 0, 128);
      if (peer.mtus !== undefined) {
        out.mtus = list(peer.mtus, `${p}.mtus`, 64, (m, q) => {
          const o = obj(m, q);
          const mtu = int(o.mtu, `${q}.mtu`, 68);
          if (mtu > 65535) fail(`${q}.mtu`, 'integer <= 65535');
          return { address: str(o.address, `${q}.address`, 2, 45), dev: str(o.dev, `${q}.dev`, 1, 64), mtu };
        });
      }
      return out;
    }),
    remotes: list(o.remotes, `${path}.remotes`, 10_000, (x, p) => str(x, p, 3, 49)),
    ports: list(o.ports, `${path}.ports`, 1000, (x, p) => {
      const s = str(x, p);
      if (!PORT.test(s)) fail(p, 'tcp/N or udp/N');
      return s;
    }),
  };
}

function messageOf(o: Obj): ServerMessage {
  switch (o.type) {
    case 'welcome': {
      const w: Welcome = {
        type: 'welcome', protocol: int(o.protocol, 'protocol'), host: str(o.host, 'host', 1, 253),
        ackedSeq: int(o.ackedSeq, 'ackedSeq', 0), context: fleetContextOf(o.context), maxPayload: int(o.maxPayload, 'maxPayload', 1), heartbeatSeconds: positive(o.heartbeatSeconds, 'heartbeatSeconds'),
      };
      if (o.issuedToken !== undefined) w.issuedToken = str(o.issuedToken, 'issuedToken');
      if (o.sections !== undefined) {
        w.sections = list(o.sections, 'sections', 64, (x, p) => {
          const d = str(x, p);
          if (!SHA256.test(d)) fail(p, 'a sha256 in hex');
          return d;
        });
      }
      return w;
    }
    case 'ack':
      return { type: 'ack', seq: int(o.seq, 'seq', 1) };
    case 'context':
      return { type: 'context', context: fleetContextOf(o.context) };
    case 'heartbeat': {
      const h: Heartbeat = { type: 'heartbeat', at: str(o.at, 'at') };
      if (o.seq !== undefined) h.seq = int(o.seq, 'seq', 0);
      return h;
    }
    case 'error':
      return { type: 'error', reason: str(o.reason, 'reason', 0, 1024) };
    default:
      return fail('type', 'welcome, ack, context, heartbeat or error');
  }
}

/** A server message as the protocol allows it, or the first thing wrong with it. */
export function validateServerMessage(raw: unknown): { ok: true; message: ServerMessage } | { ok: false; reason: string } {
  try {
    return { ok: true, message: messageOf(obj(raw, '(top)')) };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, reason: err.message };
    throw err;
  }
}
