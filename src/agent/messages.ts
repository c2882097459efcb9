/**
 * What the agent takes from the server: data only. A server message is parsed and validated
 * (src/model/server-messages.ts); anything else (bad JSON, an unknown type, a field the schema does
 * not know) is ignored and logged. There is no message that runs anything.
 */
import type { AnalyzeOptions } from '../checks/analyze.js';
import { peerOfContext } from '../checks/fleet-context.js';
import type { HostcheckConfig, Peer } from '../model/config.js';
import { validateServerMessage, type FleetContext, type ServerMessage } from '../model/server-messages.js';
import { parseAddress, parsePrefix } from '../net/address.js';

export type ParsedServerMessage = { ok: true; message: ServerMessage } | { ok: false; type?: string; reason: string };

const KNOWN_TYPES = new Set(['welcome', 'ack', 'context', 'heartbeat', 'error']);

export function parseServerMessage(data: string): ParsedServerMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const type = raw && typeof raw === 'object' && typeof (raw as { type?: unknown }).type === 'string' ? String((raw as { type: string }).type).slice(0, 64) : undefined;
  if (!type || !KNOWN_TYPES.has(type)) return { ok: false, type, reason: type ? `unknown message type "${type}"` : 'no message type' };
  const r = validateServerMessage(raw);
  return r.ok ? r : { ok: false, type, reason: r.reason };
}

export const EMPTY_CONTEXT: FleetContext = { peers: [], remotes: [], ports: [] };

/** Whether two contexts say the same (order included: the server sends them sorted). */
export function sameContext(a: FleetContext, b: FleetContext): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Analysis options: the config's peers, remotes and ports plus the fleet's, without this host
 * itself. Addresses and CIDRs from the server are checked before a check sees them.
 */
export function analysisOptions(config: HostcheckConfig, context: FleetContext, self: { name: string; addresses: Set<string> }): AnalyzeOptions & { rejected: string[] } {
  const rejected: string[] = [];
  const peers = new Map<string, Peer>();
  for (const p of context.peers) {
    if (p.name === self.name) continue;
    for (const address of p.addresses) {
      if (self.addresses.has(address)) continue;
      if (parseAddress(address) === null) rejected.push(`peer ${p.name} address ${address}`);
      else peers.set(address, peerOfContext(p, address));
    }
  }
  // The config file is this host's own word: it wins over the fleet's name for an address.
  for (const p of config.peers) peers.set(p.address, { ...peers.get(p.address), ...p });
  const remotes = new Set(config.remotes);
  for (const c of context.remotes) {
    if (parsePrefix(c, c.includes(':') ? 6 : 4) === null) rejected.push(`remote ${c}`);
    else remotes.add(c);
  }
  return {
    peers: [...peers.values()],
    remotes: [...remotes],
    ...(config.remotePathMtu && { remotePathMtu: config.remotePathMtu }),
    ports: [...new Set([...config.ports, ...context.ports])],
    routeFor: config.routeFor ?? [],
    ...(config.conntrackMargin !== undefined && { conntrackMargin: config.conntrackMargin }),
    ignore: config.ignore,
    rejected,
  };
}
