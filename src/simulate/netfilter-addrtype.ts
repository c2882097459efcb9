/**
 * Address types for `-m addrtype`, as the kernel's local routing table answers them: LOCAL for
 * the host's addresses (and 127.0.0.0/8), BROADCAST for 0.0.0.0/8, 255.255.255.255 and each
 * primary prefix's last address (prefixes shorter than /31), MULTICAST for 224.0.0.0/4, else
 * UNICAST. With a device (`--limit-iface-in/out`) a local entry of another device is UNICAST.
 */
import { memo, memoKey } from '../model/memo.js';
import { formatIPv4, formatIPv6, maskV4, parseIPv4, parseIPv6 } from '../net/address.js';
import { ADDRESS_TYPES } from './netfilter-names.js';
import type { EvaluateOptions, LocalAddress, PacketState } from './netfilter-types.js';

type Lookup = PacketState['addressType'];

interface LocalTable {
  /** IPv4 /32 entries: address → [type, device]. */
  host4: Map<number, [number, string | undefined]>;
  host6: Map<bigint, string | undefined>;
}

const LOCAL_TABLE = memoKey<LocalAddress[], LocalTable>('netfilter: addrtype local table');

const unknown: Lookup = () => undefined;

/** The lookup `opts` allow: the caller's function, the local table from `localAddresses`, or none. */
export function addressTypeLookup(opts: EvaluateOptions): Lookup {
  const custom = opts.addressType;
  if (custom !== undefined) {
    return (p, dst, dev) => {
      const text = p.family === 4 ? formatIPv4(dst ? p.dst4 : p.src4) : formatIPv6(dst ? p.dst6 : p.src6);
      const name = custom(text, p.family, dev);
      return name === undefined ? undefined : ADDRESS_TYPES[name.toUpperCase()];
    };
  }
  const locals = opts.localAddresses;
  if (locals === undefined) return unknown;
  const t = memo(locals, LOCAL_TABLE, buildLocalTable);
  return (p, dst, dev) => (p.family === 4 ? type4(t, dst ? p.dst4 : p.src4, dev) : type6(t, dst ? p.dst6 : p.src6, dev));
}

function buildLocalTable(locals: LocalAddress[]): LocalTable {
  const host4 = new Map<number, [number, string | undefined]>();
  const host6 = new Map<bigint, string | undefined>();
  const broadcasts: [number, string | undefined][] = [];
  for (const entry of [...locals, { cidr: '127.0.0.1/8', dev: 'lo' }, { cidr: '::1/128', dev: 'lo' }]) {
    const cidr = typeof entry === 'string' ? entry : entry.cidr;
    const dev = typeof entry === 'string' ? undefined : entry.dev;
    const slash = cidr.indexOf('/');
    const addrText = slash >= 0 ? cidr.slice(0, slash) : cidr;
    const len = slash >= 0 ? Number(cidr.slice(slash + 1)) : undefined;
    if (addrText.indexOf(':') >= 0) {
      const v = parseIPv6(addrText);
      if (v !== null && !host6.has(v)) host6.set(v, dev);
      continue;
    }
    const v = parseIPv4(addrText);
    if (v === null) continue;
    if (!host4.has(v)) host4.set(v, [ADDRESS_TYPES.LOCAL, dev]);
    if (len !== undefined && len < 31) broadcasts.push([(v | ~maskV4(len)) >>> 0, dev]);
  }
  // A broadcast entry never hides a local address.
  for (const [b, dev] of broadcasts) if (!host4.has(b)) host4.set(b, [ADDRESS_TYPES.BROADCAST, dev]);
  return { host4, host6 };
}

function type4(t: LocalTable, a: number, dev: string | undefined): number | undefined {
  if (a >>> 24 === 0 || a === 0xffffffff) return ADDRESS_TYPES.BROADCAST;
  if (a >>> 28 === 0xe) return ADDRESS_TYPES.MULTICAST;
  let hit = t.host4.get(a);
  // `local 127.0.0.0/8 dev lo` covers the whole loopback block.
  if (hit === undefined && a >>> 24 === 127) hit = [ADDRESS_TYPES.LOCAL, 'lo'];
  if (hit === undefined) return ADDRESS_TYPES.UNICAST;
  if (dev !== undefined && hit[1] !== undefined && hit[1] !== dev) return ADDRESS_TYPES.UNICAST;
  if (dev !== undefined && hit[1] === undefined) return undefined;
  return hit[0];
}

function type6(t: LocalTable, a: bigint, dev: string | undefined): number | undefined {
  if (!t.host6.has(a)) return ADDRESS_TYPES.UNICAST;
  if (dev !== undefined) return undefined;
  return ADDRESS_TYPES.LOCAL;
}
