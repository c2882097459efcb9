/**
 * The config file shared by the one-shot and the agent (/etc/hostcheck/config.json by default),
 * validated strictly; errors name the field and the problem (`peers[1].address: not an IPv4 or
 * IPv6 address`). Written without zod: the resident agent reads it, and zod alone costs it ~7 MB
 * of RSS (docs/agent.md, "Memory"). The address and CIDR checks are shared with the topology
 * file's schema (topology.ts).
 */
import { formatPrefix, maskV4, parseAddress, parsePrefix } from '../net/address.js';

export interface Peer {
  address: string;
  name?: string;
  /** The largest packet the path to this peer carries beyond this host (config `pathMtu`). */
  pathMtu?: number;
  /** The MTU of the peer's device holding this address, as the peer reported it to the fleet (never from the config file). */
  reportedMtu?: { mtu: number; dev: string };
}

export interface HostcheckConfig {
  /** Hosts this host must reach and be reached by. */
  peers: Peer[];
  /** Remote networks (other VPCs, the IDC) whose traffic must not be captured locally. */
  remotes: string[];
  /** The path MTU toward a remote network, by CIDR (a remote given as `{ cidr, pathMtu }`). */
  remotePathMtu?: Record<string, number>;
  /** Ports peers use, checked against the firewall. */
  ports: string[];
  /** Networks this host routes for (a NAT gateway's private subnets) when it cannot tell by itself. */
  routeFor?: string[];
  /** Warn when the conntrack table is within this many percent of nf_conntrack_max (1–99, default 20). */
  conntrackMargin?: number;
  /** Findings to ignore: CHECK or CHECK:SUBJECT. */
  ignore: string[];
  /** Agent: the aggregator's URL (ws://, wss://, ws+unix:///path), or several (replicas: the agent starts at a random one and moves on when it fails). */
  server?: string | string[];
  /** Agent: the name this host goes by in the fleet (default: hostname plus machine id). */
  name?: string;
  /** Agent: where the per-host token is (read, or written after enrolment). */
  tokenFile?: string;
  /** Agent: an enrolment token, exchanged on first contact for a per-host token. */
  enrolTokenFile?: string;
  /** Agent: CA certificate (PEM) that signed the aggregator's certificate, for wss://. */
  ca?: string;
  /** Agent: client certificate and key (PEM) when the aggregator asks for one. */
  clientCert?: string;
  clientKey?: string;
  /** Agent: seconds between full checks (changes are checked at once). */
  interval?: number;
  /** Agent: where sequence numbers persist across restarts. */
  stateDir?: string;
  /** Agent: count skb:kfree_skb drop reasons between checks (tracefs, docs/kernel.md). */
  dropReasons?: boolean;
  /** Serve: the store, a SQLite file or a postgres:// URL that replicas share (`serve --db`). */
  db?: string;
}

/**
 * What an analysis is about, as the config declares it: the peers, remote networks and ports,
 * and the settings the checks read. A host check's context and the analysis options are this
 * plus their own fields, so a new field is declared here once.
 */
export type WhatMatters = Pick<HostcheckConfig, 'peers' | 'remotes' | 'remotePathMtu' | 'ports' | 'routeFor' | 'conntrackMargin'>;

/** Why a string is not an IP address, or undefined. */
export function addressProblem(s: string): string | undefined {
  return parseAddress(s) === null ? 'not an IPv4 or IPv6 address' : undefined;
}

/** Why a string is not a CIDR as people type it (ADDRESS/LEN, no host bits), or undefined. */
export function cidrProblem(s: string): string | undefined {
  const slash = s.indexOf('/');
  const loose = slash > 0 && /^\d{1,3}$/.test(s.slice(slash + 1)) ? parsePrefix(s, s.includes(':') ? 6 : 4, true) : null;
  if (!loose) return `"${s}" is not a CIDR (e.g. 10.16.0.0/16)`;
  if (parsePrefix(s, loose.family) !== null) return undefined;
  const fixed = loose.family === 4 ? formatPrefix({ ...loose, value: (loose.value & maskV4(loose.len)) >>> 0 }) : undefined;
  return `"${s}" has host bits set${fixed ? `; did you mean ${fixed}?` : ''}`;
}

/** What a value is, in the words of the errors (`received number`). */
function received(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

type Check<T> = (v: unknown, path: string, errors: string[]) => T | undefined;

const fail = (errors: string[], path: string, message: string): undefined => {
  errors.push(`${path || '(top level)'}: ${message}`);
  return undefined;
};

function string(refine?: (s: string) => string | undefined): Check<string> {
  return (v, path, errors) => {
    if (typeof v !== 'string') return fail(errors, path, `Invalid input: expected string, received ${received(v)}`);
    const problem = refine?.(v);
    return problem ? fail(errors, path, problem) : v;
  };
}

function array<T>(item: Check<T>): Check<T[]> {
  return (v, path, errors) => {
    if (!Array.isArray(v)) return fail(errors, path, `Invalid input: expected array, received ${received(v)}`);
    const before = errors.length;
    const out = v.map((x, i) => item(x, `${path}[${i}]`, errors));
    return errors.length === before ? (out as T[]) : undefined;
  };
}

const nonEmpty = (s: string) => (s.length === 0 ? 'Too small: expected string to have >=1 characters' : undefined);
const port = (s: string) => (!/^(tcp|udp)\/\d{1,5}$/.test(s) ? 'must be tcp/N or udp/N' : Number(s.split('/')[1]) > 65535 ? 'port above 65535' : undefined);
// ws://host:port/path, wss://…, ws+unix:///run/hostcheck.sock (ws's form; a path after ':' optional).
const serverUrl = (s: string) => (/^(wss?:\/\/[^/\s]+|ws\+unix:\/\/\/\S+)/.test(s) ? undefined : 'must be a ws://, wss:// or ws+unix:/// URL');
const dbSpec = (s: string) => nonEmpty(s) ?? (/^postgres(ql)?:\/\/\S+$/i.test(s) || s.startsWith('/') || s.startsWith('.') ? undefined : 'must be a postgres:// URL or a path (absolute, or starting with ./)');
const filePath = (s: string) => nonEmpty(s) ?? (s.startsWith('/') || s.startsWith('.') ? undefined : 'must be a path (absolute, or starting with ./)');

/** A path MTU: IPv4's minimum (68) to the largest device MTU Linux takes (65535). */
const pathMtu: Check<number> = (v, path, errors) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) return fail(errors, path, `Invalid input: expected integer, received ${received(v)}`);
  return v < 68 || v > 65535 ? fail(errors, path, 'must be between 68 and 65535') : v;
};

const peer: Check<Peer> = (v, path, errors) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(errors, path, `Invalid input: expected object, received ${received(v)}`);
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => k !== 'address' && k !== 'name' && k !== 'pathMtu');
  if (extra.length) fail(errors, path, unrecognized(extra));
  const address = string(addressProblem)(o.address, `${path}.address`, errors);
  const name = o.name === undefined ? undefined : string(nonEmpty)(o.name, `${path}.name`, errors);
  const mtu = o.pathMtu === undefined ? undefined : pathMtu(o.pathMtu, `${path}.pathMtu`, errors);
  if (address === undefined || extra.length || (o.pathMtu !== undefined && mtu === undefined)) return undefined;
  return { address, ...(name !== undefined && { name }), ...(mtu !== undefined && { pathMtu: mtu }) };
};

/** A remote: a CIDR, or `{ "cidr": CIDR, "pathMtu": N }`. */
const remote: Check<{ cidr: string; pathMtu?: number }> = (v, path, errors) => {
  if (typeof v === 'string') {
    const cidr = string(cidrProblem)(v, path, errors);
    return cidr === undefined ? undefined : { cidr };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(errors, path, `Invalid input: expected CIDR or object, received ${received(v)}`);
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => k !== 'cidr' && k !== 'pathMtu');
  if (extra.length) fail(errors, path, unrecognized(extra));
  const cidr = string(cidrProblem)(o.cidr, `${path}.cidr`, errors);
  const mtu = o.pathMtu === undefined ? undefined : pathMtu(o.pathMtu, `${path}.pathMtu`, errors);
  if (cidr === undefined || extra.length || (o.pathMtu !== undefined && mtu === undefined)) return undefined;
  return mtu === undefined ? { cidr } : { cidr, pathMtu: mtu };
};

function unrecognized(keys: string[]): string {
  return `Unrecognized key${keys.length === 1 ? '' : 's'}: ${keys.map((k) => JSON.stringify(k)).join(', ')}`;
}

const LISTS = { peers: array(peer), remotes: array(remote), ports: array(string(port)), ignore: array(string(nonEmpty)) };
const OPTIONAL: Record<string, Check<unknown>> = {
  routeFor: array(string(cidrProblem)),
  server: (v, path, errors) => {
    if (!Array.isArray(v)) return string(serverUrl)(v, path, errors);
    if (v.length === 0) return fail(errors, path, 'Too small: expected array to have >=1 items');
    const urls = v.map((x, i) => string(serverUrl)(x, `${path}[${i}]`, errors));
    return urls.every((u) => u !== undefined) ? urls : undefined;
  },
  db: string(dbSpec),
  name: string((s) => nonEmpty(s) ?? (s.length > 253 ? 'Too big: expected string to have <=253 characters' : undefined)),
  tokenFile: string(filePath),
  enrolTokenFile: string(filePath),
  ca: string(filePath),
  clientCert: string(filePath),
  clientKey: string(filePath),
  stateDir: string(filePath),
  interval: (v, path, errors) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(errors, path, `Invalid input: expected number, received ${received(v)}`);
    if (v < 0.1) return fail(errors, path, 'must be at least 0.1 seconds');
    if (v > 86_400) return fail(errors, path, 'must be at most 86400 seconds (a day)');
    return v;
  },
  conntrackMargin: (v, path, errors) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(errors, path, `Invalid input: expected number, received ${received(v)}`);
    if (v < 1 || v > 99) return fail(errors, path, 'must be a percentage from 1 to 99');
    return v;
  },
  dropReasons: (v, path, errors) => (typeof v === 'boolean' ? v : fail(errors, path, `Invalid input: expected boolean, received ${received(v)}`)),
};

/** Validate a parsed config file (or flags given as one); errors read `field.path: problem`. */
export function parseConfig(raw: unknown): { config?: HostcheckConfig; errors: string[] } {
  const errors: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { errors: [`(top level): Invalid input: expected object, received ${received(raw)}`] };
  const o = raw as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !(k in LISTS) && !(k in OPTIONAL));
  if (extra.length) fail(errors, '', unrecognized(extra));
  const config: HostcheckConfig = { peers: [], remotes: [], ports: [], ignore: [] };
  for (const [key, check] of Object.entries(LISTS)) {
    if (o[key] === undefined) continue;
    const v = check(o[key], key, errors);
    if (v !== undefined) (config as unknown as Record<string, unknown>)[key] = v;
  }
  // Remotes stay CIDRs; the path MTUs some of them carry are kept beside them.
  const remotes = config.remotes as unknown as { cidr: string; pathMtu?: number }[];
  config.remotes = remotes.map((r) => r.cidr);
  for (const r of remotes) if (r.pathMtu !== undefined) config.remotePathMtu = { ...config.remotePathMtu, [r.cidr]: r.pathMtu };
  for (const [key, check] of Object.entries(OPTIONAL)) {
    if (o[key] === undefined) continue;
    const v = check(o[key], key, errors);
    if (v !== undefined) (config as unknown as Record<string, unknown>)[key] = v;
  }
  if (!!o.clientCert !== !!o.clientKey) fail(errors, o.clientCert ? 'clientKey' : 'clientCert', 'clientCert and clientKey go together');
  return errors.length ? { errors } : { config, errors };
}

/** `--peer IP[=NAME]` */
export function parsePeerFlag(s: string): Peer | undefined {
  const eq = s.indexOf('=');
  const addr = eq >= 0 ? s.slice(0, eq) : s;
  const name = eq >= 0 ? s.slice(eq + 1) : undefined;
  if (parseAddress(addr) === null) return undefined;
  return name ? { address: addr, name } : { address: addr };
}
