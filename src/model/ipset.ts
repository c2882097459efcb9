/** `ipset save` / `ipset list` sets and their members (parsers/ipset.ts makes them). */
import type { Origin } from './records.js';

/** One dimension of a member: `10.0.0.0/24`, `tcp:80`, `80-90`, `eth0`, `02:42:ac:11:00:02`, `0x10`. */
export type IpsetPart =
  | { kind: 'ip' | 'net'; value: string }
  | { kind: 'port'; proto?: string; port: string }
  | { kind: 'iface'; value: string; physdev: boolean }
  | { kind: 'mac' | 'mark' | 'set'; value: string };

export interface IpsetMember {
  /** The member as printed (`10.96.0.10,udp:53`). */
  text: string;
  /** Split along the set type's dimensions; absent when a part does not read. */
  parts?: IpsetPart[];
  /** `nomatch` and other flags are `true`; `timeout 300` is "300". */
  options?: Record<string, string | true>;
  lineNumber: number;
}

export interface IpsetSet {
  name: string;
  /** hash:ip, hash:net, hash:ip,port, bitmap:port, list:set ... */
  type: string;
  /** inet / inet6 for sets of addresses (inet when the set does not say). */
  family?: 'inet' | 'inet6';
  /** Creation options: `hashsize` → "1024", `counters` → true ... */
  options: Record<string, string | true>;
  members: IpsetMember[];
  /** From `ipset list`: revision, references, number of entries as printed. */
  revision?: number;
  references?: number;
  origin: Origin;
}
