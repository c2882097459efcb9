/**
 * Who most likely made a change: Docker (a network the Docker API names, or a name like docker0),
 * a CNI plugin, libvirt, a VPN, DHCP or router advertisements (`proto dhcp` / `proto ra`, dynamic
 * addresses), a routing daemon (`proto bird`, `bgp`, `zebra`, …), the kernel, or unknown. An owner
 * read from a name alone says it is a guess.
 */
import type { ChangeOwner } from '../model/changes.js';
import type { AddressRecord, RouteRecord } from '../model/records.js';
import type { HostSnapshot, InterfaceModel } from '../model/snapshot.js';

const ROUTING_DAEMONS = new Set(['bird', 'bgp', 'zebra', 'ospf', 'isis', 'babel', 'rip', 'ripng', 'eigrp', 'openr', 'gated', 'mrouted', 'xorp', 'ntk', 'dnrouted']);

/** The owner of each interface of a snapshot, by name. */
export function interfaceOwners(s: HostSnapshot): Map<string, ChangeOwner> {
  const docker = new Map<string, string>();
  for (const n of s.docker?.networks ?? []) if (n.bridgeName) docker.set(n.bridgeName, n.name);
  const out = new Map<string, ChangeOwner>();
  for (const i of s.interfaces) out.set(i.name, interfaceOwner(i, docker));
  return out;
}

function interfaceOwner(i: InterfaceModel, docker: Map<string, string>): ChangeOwner {
  const network = docker.get(i.name);
  if (network !== undefined) return { type: 'docker', name: network };
  const o = i.owner;
  if (!o || o.type === 'unknown') return { type: 'unknown' };
  // Without Docker's word the snapshot read the owner from the interface's name.
  return { type: o.type, ...(o.name ? { name: o.name } : {}), guess: true };
}

/** An address's owner: a dynamic one came from DHCP (IPv4) or router advertisements (IPv6), a link-local one from the kernel. */
export function addressOwner(a: AddressRecord, device: ChangeOwner | undefined): ChangeOwner {
  if (a.flags.includes('dynamic')) return { type: a.family === 6 ? 'ra' : 'dhcp' };
  if (a.family === 6 && /^fe80:/i.test(a.cidr)) return { type: 'kernel' };
  return device ?? { type: 'unknown' };
}

/** A route's owner: its protocol when that says who (dhcp, ra, a routing daemon), else its device's, else the kernel's for `proto kernel`. */
export function routeOwner(r: Pick<RouteRecord, 'proto' | 'dev' | 'nexthops'>, owners: ReadonlyMap<string, ChangeOwner>): ChangeOwner {
  const proto = r.proto;
  if (proto === 'dhcp') return { type: 'dhcp' };
  if (proto === 'ra') return { type: 'ra' };
  if (proto !== undefined && ROUTING_DAEMONS.has(proto)) return { type: 'routing-daemon', name: proto };
  const dev = r.dev ?? r.nexthops.find((n) => n.dev)?.dev;
  const device = dev === undefined ? undefined : owners.get(dev);
  if (device && device.type !== 'unknown') return device;
  if (proto === 'kernel') return { type: 'kernel' };
  return { type: 'unknown' };
}

const OWNER_WORDS: Record<ChangeOwner['type'], string> = {
  docker: 'Docker', cni: 'a CNI plugin', kubernetes: 'Kubernetes', libvirt: 'libvirt', vpn: 'a VPN', dhcp: 'DHCP', ra: 'a router advertisement',
  'routing-daemon': 'a routing daemon', kernel: 'the kernel', unknown: 'unknown',
};

/** The owner in words: `Docker network "bridge"`, `a routing daemon (bird)`, `a CNI plugin, guessed from the name`. */
export function ownerText(o: ChangeOwner): string {
  let words = o.type === 'docker' && o.name ? `Docker network "${o.name}"` : OWNER_WORDS[o.type];
  if (o.type === 'routing-daemon' && o.name) words += ` (${o.name})`;
  return o.guess ? `${words}, guessed from the name` : words;
}
