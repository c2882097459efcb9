/** Kernel settings (`sysctl -a`, /proc/sys/net) as key, value and the line they came from. */
import type { Origin } from './records.js';

export interface SysctlRecord {
  /** Key as `sysctl -a` prints it: dot-separated, dots inside an interface name shown as `/`. */
  key: string;
  /** Value text (netconf words mapped to the sysctl numbers: strict=1, loose=2, on=1, off=0). */
  value: string;
  /** 4 for net.ipv4.*, 6 for net.ipv6.*. */
  family?: 4 | 6;
  /** `conf` (per-device settings) or `neigh` (per-device neighbour settings). */
  section?: 'conf' | 'neigh';
  /** Interface name for net.{ipv4,ipv6,mpls}.{conf,neigh}.X.*: a real name, `all` or `default`. */
  device?: string;
  /** Setting name inside the device section (`rp_filter`, `forwarding`, ...). */
  name?: string;
  origin: Origin;
}
