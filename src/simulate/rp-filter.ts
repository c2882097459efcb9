/** The kernel's per-device IPv4 settings as it applies them: conf.all combined with conf.<dev>. */
import type { SysctlRecord } from '../model/sysctl.js';

/** Last value of net.ipv4.conf.<device>.<name> in the records, as a number, or undefined. */
export function ipv4ConfValue(records: readonly SysctlRecord[], device: string, name: string): number | undefined {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    if (r.family === 4 && r.section === 'conf' && r.device === device && r.name === name) {
      const v = Number(r.value.trim());
      return Number.isInteger(v) ? v : undefined;
    }
  }
  return undefined;
}

/**
 * The rp_filter mode the kernel applies on `dev`: max(conf.all, conf.<dev>) (0 off, 1 strict,
 * 2 loose). With only one of the two known, that one; undefined when neither is.
 */
export function effectiveRpFilter(records: readonly SysctlRecord[], dev: string): number | undefined {
  const all = ipv4ConfValue(records, 'all', 'rp_filter');
  const own = ipv4ConfValue(records, dev, 'rp_filter');
  if (all === undefined) return own;
  if (own === undefined) return all;
  return Math.max(all, own);
}
