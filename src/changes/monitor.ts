/**
 * `ip monitor route rule link address netconf` lines → the key of the record they announce, the
 * same key src/changes/state.ts gives the record, so the change log can say when the kernel
 * announced a change and how often. Examples (iproute2 6.1):
 *
 *   2: docker0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default   → link docker0
 *   Deleted 2: docker0    inet 172.17.0.1/16 scope global docker0                   → address docker0 172.17.0.1/16
 *   local 172.17.0.1 dev docker0 table local proto kernel scope host src 172.17.0.1 → route 4 local 172.17.0.1/32
 *   100:	from 10.1.0.0/16 lookup 100                                                → rule 100
 *   inet docker0 rp_filter strict                                                  → netconf 4 docker0
 *
 * Continuation lines (indented) announce nothing of their own.
 */

export interface MonitorKey {
  kind: 'link' | 'address' | 'route' | 'rule' | 'netconf';
  /** The key a state item of the same record has (StateItem.match). */
  match: string;
  /** The record in words, as src/changes/state.ts names it. */
  subject: string;
  /** The device the line names, if any. */
  dev?: string;
  /** A route's protocol. */
  proto?: string;
  /** The line without `Deleted `. */
  line: string;
}

const ROUTE_TYPES = new Set(['unicast', 'local', 'broadcast', 'multicast', 'anycast', 'unreachable', 'blackhole', 'prohibit', 'throw', 'nat']);

export function monitorKey(raw: string): MonitorKey | undefined {
  if (raw === '' || /^\s/.test(raw)) return undefined;
  const line = raw.startsWith('Deleted ') ? raw.slice(8) : raw;
  let m = /^\d+: ([^:@\s]+)(?:@\S+)?: </.exec(line);
  if (m) return { kind: 'link', match: `link ${m[1]}`, subject: `link ${m[1]}`, dev: m[1], line };
  m = /^\d+: (\S+)\s+inet6? (\S+)/.exec(line);
  if (m) return { kind: 'address', match: `address ${m[1]} ${m[2]}`, subject: `${m[1]} ${m[2]}`, dev: m[1], line: line.replace(/^\d+: \S+\s+/, '') };
  m = /^(\d+):\s/.exec(line);
  if (m) return { kind: 'rule', match: `rule ${m[1]}`, subject: `rule ${line.replace(/\s+/g, ' ').trim()}`, line };
  m = /^(inet6?) (?:dev )?(\S+) /.exec(line);
  if (m) {
    const dev = m[2] === 'all' || m[2] === 'default' ? undefined : m[2];
    return { kind: 'netconf', match: `netconf ${m[1] === 'inet6' ? 6 : 4} ${m[2]}`, subject: `netconf ${m[2]}`, ...(dev ? { dev } : {}), line };
  }
  const words = line.trim().split(/\s+/);
  const type = ROUTE_TYPES.has(words[0]) && words[0] !== 'unicast' ? words[0] : undefined;
  if (ROUTE_TYPES.has(words[0])) words.shift();
  const dst = words[0];
  if (!dst) return undefined;
  const table = /\btable (\S+)/.exec(line)?.[1] ?? 'main';
  const dev = /\bdev (\S+)/.exec(line)?.[1];
  const family = dst.includes(':') || (dst === 'default' && /\bvia (?:inet6 )?[0-9a-f]*:|\bpref (?:low|medium|high)\b/i.test(line)) ? 6 : 4;
  const prefix = dst === 'default' ? (family === 6 ? '::/0' : '0.0.0.0/0') : dst.includes('/') ? dst : `${dst}/${family === 6 ? 128 : 32}`;
  const proto = /\bproto (\S+)/.exec(line)?.[1];
  const via = /\bvia (?:inet6? )?(\S+)/.exec(line)?.[1];
  const subject = `route ${type ? `${type} ` : ''}${dst}${via ? ` via ${via}` : ''}${dev ? ` dev ${dev}` : ''}${table === 'main' ? '' : ` table ${table}`}`;
  return { kind: 'route', match: `route ${family} ${table} ${prefix}${family === 6 ? ` ${dev ?? ''}` : ''}`, subject, ...(dev ? { dev } : {}), ...(proto ? { proto } : {}), line: line.replace(/\s+/g, ' ').trim() };
}
