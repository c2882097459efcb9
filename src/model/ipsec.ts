/** IPsec connections as swanctl.conf and ipsec.conf configure them (parsers/swanctl-conf.ts, ipsec-conf.ts). */
import type { Origin } from './records.js';

/** One IPsec connection's selectors, from swanctl.conf (per child) or ipsec.conf (per conn). */
export interface IpsecConnectionRecord {
  format: 'swanctl-conf' | 'ipsec-conf';
  connection: string;
  /** swanctl child name; absent for ipsec.conf. */
  child?: string;
  /** local_addrs / left; `%any`, `%defaultroute` and names kept as written. */
  localAddrs: string[];
  remoteAddrs: string[];
  /**
   * local_ts / leftsubnet: canonical CIDRs ("10.16.0.0/16"); `dynamic` (the tunnel's own
   * address, the default), ranges and `[proto/port]` forms kept as written.
   */
  localTs: string[];
  remoteTs: string[];
  /** The lines that set the selectors (absent when the default applies). */
  localTsOrigin?: Origin;
  remoteTsOrigin?: Origin;
  /** start_action / auto (e.g. "start", "trap", "ignore"). */
  start?: string;
  /** ipsec.conf names the sides left/right: which is local is decided by the daemon at load time. */
  sidesByConvention: boolean;
  origin: Origin;
}
