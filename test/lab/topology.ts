/**
 * The lab's topology description and the plan that turns it into commands.
 * Pure: no processes. `planLab` validates a Topology and returns, per host, the `ip -batch`
 * lines, sysctl writes and iptables-restore texts that lab.ts runs phase by phase.
 */

/** A lab network: hosts (one network namespace each) and the veth links between them. */
export interface Topology {
  hosts: Record<string, HostSpec>;
  links?: VethLink[];
}

/** One host: its own bridges and devices, and the state described as raw `ip` argument strings. */
export interface HostSpec {
  /** Enables IPv4 and IPv6 forwarding (all other hosts have it off). */
  router?: boolean;
  bridges?: BridgeSpec[];
  /** vxlan, macvlan, tun/tap, veth pairs inside the host, ... (created after veths and bridges). */
  devices?: DeviceSpec[];
  /** Raw `ip address add` arguments for addresses on no described link, e.g. '10.9.0.1/32 dev lo'. */
  addresses?: string[];
  /** Raw `ip route add` arguments, any table, e.g. 'default via 172.31.15.253' or '10.0.0.0/8 dev eth0 table 100'. */
  routes?: string[];
  /** Raw `ip rule add` arguments, e.g. 'from 10.0.0.0/8 lookup 100 pref 1000'. */
  rules?: string[];
  /** sysctl keys (dots or slashes) to values; per-interface keys are written after the interfaces exist. */
  sysctls?: Record<string, string | number>;
  /** iptables-restore input (nft backend on this kernel). */
  iptables?: string;
  /** ip6tables-restore input. */
  ip6tables?: string;
  /** Raw `ip xfrm policy add` arguments. */
  xfrmPolicies?: string[];
  /** Shell command lines run last, one `sh -c` each: the escape hatch for anything not described above. */
  setup?: string[];
}

/** A Linux bridge inside a host; with no port it is NO-CARRIER and its routes show `linkdown`. */
export interface BridgeSpec {
  name: string;
  /** CIDR addresses, e.g. '172.17.0.1/16'. */
  addresses?: string[];
  /** Default true. */
  up?: boolean;
  /** Default: a stable 02:42:.. address derived from host and name (as Docker sets one explicitly). */
  mac?: string;
}

/** One end of a veth link. */
export interface Endpoint {
  host: string;
  /** The interface's name inside the host, e.g. 'eth0' (at most 15 characters). */
  iface: string;
  addresses?: string[];
  /** Makes this end a port of the named bridge of the same host. */
  bridge?: string;
  /** Default true. */
  up?: boolean;
  mtu?: number;
  /** Default: a stable locally administered address derived from host and iface. */
  mac?: string;
}

/** A veth pair; both ends may be in the same host (e.g. a container-like port of a bridge). */
export interface VethLink {
  a: Endpoint;
  b: Endpoint;
}

/** A device created inside one host with `ip link add <name> <link>` or `ip tuntap add`. */
export interface DeviceSpec {
  name: string;
  /** Arguments after `ip link add <name>`, e.g. 'type vxlan id 42 dstport 4789 dev eth0'. */
  link?: string;
  /** Instead of `link`: a tun or tap device (NO-CARRIER while no process holds it). */
  tuntap?: 'tun' | 'tap';
  addresses?: string[];
  bridge?: string;
  /** Default true. */
  up?: boolean;
}

/** One `ip -batch` line and where in the topology it came from (for error messages). */
export interface PlannedLine {
  line: string;
  from: string;
}

/** A sysctl write; `optional` ones are skipped where the key does not exist on this kernel. */
export interface SysctlWrite {
  key: string;
  value: string;
  optional: boolean;
}

/** Everything to run in one host, in phase order. Empty arrays are skipped. */
export interface HostPlan {
  host: string;
  namespace: string;
  earlySysctls: SysctlWrite[];
  /** Phase 1: bridges and the veths whose `a` end is here (peers are placed into their host). */
  create: PlannedLine[];
  /** Phase 2: devices (they may refer to veths created by other hosts in phase 1). */
  devices: PlannedLine[];
  interfaceSysctls: SysctlWrite[];
  /** Phase 3: MACs, MTUs, masters, addresses, links up, empty bridges to NO-CARRIER. */
  configure: PlannedLine[];
  /** Phase 4: routes, rules, xfrm policies. */
  routing: PlannedLine[];
  iptables?: string;
  ip6tables?: string;
  setup: string[];
}

/** Link kinds this kernel lacks; named here so the error says so instead of a bare netlink error. */
export const UNSUPPORTED_LINK_KINDS = ['gre', 'gretap', 'ip6gre', 'ipip', 'sit', 'dummy', 'vlan', 'bond', 'wireguard', 'vrf'];

/** Thrown for a topology that cannot be built; a programmer error in the test, not a lab failure. */
export class TopologyError extends Error {
  override name = 'TopologyError';
}

const HOST_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/i;
const IFACE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
/** Transient veth used to drop an empty bridge's carrier, as a real idle docker0 has none. */
const CARRIER_PROBE = 'hcnc0';

/** Validates `topology` and returns one plan per host, in the order the hosts were described. */
export function planLab(topology: Topology, namespaceOf: (host: string) => string): HostPlan[] {
  const hostNames = Object.keys(topology.hosts);
  if (hostNames.length === 0) throw new TopologyError('a topology needs at least one host');
  const plans = new Map<string, HostPlan>();
  const ifaces = new Map<string, Set<string>>();
  const bridgePorts = new Map<string, number>();
  for (const host of hostNames) {
    if (!HOST_NAME.test(host)) throw new TopologyError(`host name ${JSON.stringify(host)}: use letters, digits, '-' and '_' (at most 32)`);
    plans.set(host, emptyPlan(host, namespaceOf(host)));
    ifaces.set(host, new Set(['lo']));
  }
  const claim = (host: string, iface: string, from: string): HostPlan => {
    const plan = plans.get(host);
    if (!plan) throw new TopologyError(`${from}: unknown host ${JSON.stringify(host)}`);
    if (!IFACE_NAME.test(iface)) throw new TopologyError(`${from}: interface name ${JSON.stringify(iface)} is not valid (at most 15 characters, no spaces or '/')`);
    const names = ifaces.get(host)!;
    if (names.has(iface)) throw new TopologyError(`${from}: host ${host} already has an interface ${iface}`);
    names.add(iface);
    return plan;
  };

  for (const host of hostNames) {
    const spec = topology.hosts[host];
    const plan = plans.get(host)!;
    plan.earlySysctls.push(...baseSysctls(spec.router === true));
    for (const [key, value] of Object.entries(spec.sysctls ?? {})) {
      const write = { key, value: String(value), optional: false };
      (isInterfaceSysctl(key) ? plan.interfaceSysctls : plan.earlySysctls).push(write);
    }
    for (const bridge of spec.bridges ?? []) {
      const from = `${host}.bridges[${bridge.name}]`;
      claim(host, bridge.name, from);
      const mac = bridge.mac ?? stableMac('02:42', `${host}/${bridge.name}`);
      plan.create.push({ line: `link add ${bridge.name} address ${mac} type bridge`, from });
      bridgePorts.set(`${host}/${bridge.name}`, 0);
    }
  }

  (topology.links ?? []).forEach((link, i) => {
    const from = `links[${i}]`;
    const a = claim(link.a.host, link.a.iface, `${from}.a`);
    claim(link.b.host, link.b.iface, `${from}.b`);
    const peerNetns = link.a.host === link.b.host ? '' : ` netns ${namespaceOf(link.b.host)}`;
    a.create.push({ line: `link add ${link.a.iface} type veth peer name ${link.b.iface}${peerNetns}`, from });
  });

  for (const host of hostNames) {
    const plan = plans.get(host)!;
    for (const device of topology.hosts[host].devices ?? []) {
      const from = `${host}.devices[${device.name}]`;
      claim(host, device.name, from);
      plan.devices.push({ line: deviceLine(device, from), from });
    }
  }

  // Configure each host's own interfaces: veth ends, devices, bridges (ports before the carrier check).
  const endpoints = (topology.links ?? []).flatMap((link, i) => [
    { end: link.a, from: `links[${i}].a` },
    { end: link.b, from: `links[${i}].b` },
  ]);
  for (const { end, from } of endpoints) {
    const plan = plans.get(end.host)!;
    const lines = plan.configure;
    lines.push({ line: `link set ${end.iface} address ${end.mac ?? stableMac('02:00', `${end.host}/${end.iface}`)}`, from });
    if (end.mtu !== undefined) lines.push({ line: `link set ${end.iface} mtu ${end.mtu}`, from });
    if (end.bridge) attachToBridge(end.host, end.iface, end.bridge, from, lines, bridgePorts);
    lines.push(...addressLines(end.addresses, end.iface, from));
    if (end.up !== false) lines.push({ line: `link set ${end.iface} up`, from });
  }
  for (const host of hostNames) {
    const spec = topology.hosts[host];
    const plan = plans.get(host)!;
    for (const device of spec.devices ?? []) {
      const from = `${host}.devices[${device.name}]`;
      if (device.bridge) attachToBridge(host, device.name, device.bridge, from, plan.configure, bridgePorts);
      plan.configure.push(...addressLines(device.addresses, device.name, from));
      if (device.up !== false) plan.configure.push({ line: `link set ${device.name} up`, from });
    }
    for (const bridge of spec.bridges ?? []) {
      const from = `${host}.bridges[${bridge.name}]`;
      plan.configure.push(...addressLines(bridge.addresses, bridge.name, from));
      if (bridge.up === false) continue;
      plan.configure.push({ line: `link set ${bridge.name} up`, from });
      if (bridgePorts.get(`${host}/${bridge.name}`) === 0) {
        // A new bridge on this kernel keeps carrier until its first port leaves; make that happen.
        plan.configure.push(
          { line: `link add ${CARRIER_PROBE} type veth peer name ${CARRIER_PROBE}p`, from },
          { line: `link set ${CARRIER_PROBE} master ${bridge.name}`, from },
          { line: `link del ${CARRIER_PROBE}`, from },
        );
      }
    }
    spec.addresses?.forEach((args, i) => plan.configure.push({ line: `address add ${rawArgs(args, `${host}.addresses[${i}]`)}`, from: `${host}.addresses[${i}]` }));
    spec.routes?.forEach((args, i) => plan.routing.push({ line: `route add ${rawArgs(args, `${host}.routes[${i}]`)}`, from: `${host}.routes[${i}]` }));
    spec.rules?.forEach((args, i) => plan.routing.push({ line: `rule add ${rawArgs(args, `${host}.rules[${i}]`)}`, from: `${host}.rules[${i}]` }));
    spec.xfrmPolicies?.forEach((args, i) =>
      plan.routing.push({ line: `xfrm policy add ${rawArgs(args, `${host}.xfrmPolicies[${i}]`)}`, from: `${host}.xfrmPolicies[${i}]` }),
    );
    plan.iptables = spec.iptables;
    plan.ip6tables = spec.ip6tables;
    plan.setup = [...(spec.setup ?? [])];
  }
  return hostNames.map((h) => plans.get(h)!);
}

function emptyPlan(host: string, namespace: string): HostPlan {
  return {
    host,
    namespace,
    earlySysctls: [],
    create: [{ line: 'link set lo up', from: `${host} (lab base)` }],
    devices: [],
    interfaceSysctls: [],
    configure: [],
    routing: [],
    setup: [],
  };
}

/** Every lab namespace: no ICMP rate limit (tests send bursts), rp_filter pinned, forwarding per role. */
function baseSysctls(router: boolean): SysctlWrite[] {
  const forwarding = router ? '1' : '0';
  return [
    { key: 'net.ipv4.icmp_ratelimit', value: '0', optional: false },
    { key: 'net.ipv6.icmp.ratelimit', value: '0', optional: true },
    // New namespaces copy these from the root namespace; pin them so the host machine cannot change results.
    { key: 'net.ipv4.conf.all.rp_filter', value: '0', optional: false },
    { key: 'net.ipv4.conf.default.rp_filter', value: '0', optional: false },
    { key: 'net.ipv4.ip_forward', value: forwarding, optional: false },
    { key: 'net.ipv6.conf.all.forwarding', value: forwarding, optional: true },
  ];
}

/** Keys under net.ipv{4,6}.{conf,neigh}.<iface> need the interface; all/default do not. */
function isInterfaceSysctl(key: string): boolean {
  const parts = key.split(key.includes('/') ? '/' : '.');
  return parts.length > 4 && parts[0] === 'net' && (parts[2] === 'conf' || parts[2] === 'neigh') && parts[3] !== 'all' && parts[3] !== 'default';
}

function deviceLine(device: DeviceSpec, from: string): string {
  if (device.tuntap && device.link) throw new TopologyError(`${from}: give either link or tuntap, not both`);
  if (device.tuntap) return `tuntap add dev ${device.name} mode ${device.tuntap}`;
  if (!device.link) throw new TopologyError(`${from}: a device needs link (ip link add arguments) or tuntap`);
  const args = rawArgs(device.link, from);
  const kind = /(?:^|\s)type\s+(\S+)/.exec(args)?.[1];
  if (kind && UNSUPPORTED_LINK_KINDS.includes(kind)) {
    throw new TopologyError(`${from}: link kind ${kind} is not supported by this kernel (supported: veth, bridge, vxlan, macvlan, tuntap)`);
  }
  return `link add ${device.name} ${args}`;
}

function attachToBridge(host: string, iface: string, bridge: string, from: string, lines: PlannedLine[], ports: Map<string, number>): void {
  const key = `${host}/${bridge}`;
  const count = ports.get(key);
  if (count === undefined) throw new TopologyError(`${from}: host ${host} has no bridge ${bridge}`);
  ports.set(key, count + 1);
  lines.push({ line: `link set ${iface} master ${bridge}`, from });
}

function addressLines(addresses: string[] | undefined, iface: string, from: string): PlannedLine[] {
  return (addresses ?? []).map((cidr) => {
    if (!/^[0-9a-fA-F.:]+\/\d{1,3}$/.test(cidr)) throw new TopologyError(`${from}: address ${JSON.stringify(cidr)} is not a CIDR like 10.0.0.1/24`);
    // IPv6 duplicate address detection would hold the address back for a second or more.
    return { line: `address add ${cidr} dev ${iface}${cidr.includes(':') ? ' nodad' : ''}`, from };
  });
}

/** One batch line must stay one line; anything else would run as a separate `ip` command. */
function rawArgs(args: string, from: string): string {
  if (/[\r\n]/.test(args) || args.trim() === '') throw new TopologyError(`${from}: arguments must be one non-empty line`);
  return args.trim();
}

/** A MAC that depends only on `seed`, so captured outputs are the same on every run. */
function stableMac(first2: string, seed: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) hash = Math.imul(hash ^ seed.charCodeAt(i), 0x01000193);
  // Final mix so seeds differing in one character (eth1, eth2) differ in every byte.
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  hash = (hash ^ (hash >>> 16)) >>> 0;
  const bytes = [hash >>> 24, (hash >>> 16) & 0xff, (hash >>> 8) & 0xff, hash & 0xff];
  return `${first2}:${bytes.map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}
