// Address arithmetic for the overview's search box: IPv4 and IPv6 as BigInt, prefixes as
// (family, network, length). Small on purpose: only what "find the host holding X" needs.

function v4(s) {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let n = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    n = (n << 8n) | BigInt(p);
  }
  return n;
}

function v6(s) {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (x) => (x === '' ? [] : x.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const last = tail.length ? tail : head;
  if (last.length && last[last.length - 1].includes('.')) {
    const n = v4(last.pop());
    if (n === null) return null;
    last.push(((n >> 16n) & 0xffffn).toString(16), (n & 0xffffn).toString(16));
  }
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  let n = 0n;
  for (const g of [...head, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...tail]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return n;
}

/** "10.0.0.1", "10.0.0.0/8", "fd00::1/64" → { family, value, length } or null. */
export function parsePrefix(text) {
  const [addr, len, extra] = text.trim().split('/');
  if (extra !== undefined) return null;
  const value = v4(addr);
  const family = value !== null ? 4 : 6;
  const n = value ?? v6(addr);
  if (n === null) return null;
  const bits = family === 4 ? 32 : 128;
  const length = len === undefined ? bits : /^\d{1,3}$/.test(len) && Number(len) <= bits ? Number(len) : null;
  if (length === null) return null;
  return { family, value: n, length, bits, explicit: len !== undefined };
}

function network(p, length) {
  const shift = BigInt(p.bits - length);
  return (p.value >> shift) << shift;
}

/** Whether prefix `outer` contains address or prefix `inner`. */
export function contains(outer, inner) {
  return outer.family === inner.family && inner.length >= outer.length && network(outer, outer.length) === network(inner, outer.length);
}

/**
 * Does a host holding `cidrs` (its addresses with prefix lengths) match the query? An address
 * matches the address itself or its subnet; a CIDR matches a host whose address lies inside it
 * or whose subnet is that CIDR.
 */
export function holds(cidrs, query) {
  for (const c of cidrs) {
    const held = parsePrefix(c);
    if (!held) continue;
    const address = { ...held, length: held.bits };
    if (query.explicit ? contains(query, address) || (held.length === query.length && contains(held, query)) : contains(address, query)) return true;
  }
  return false;
}
