/**
 * HostSnapshot: everything hostcheck knows about one host, vendor- and distro-free.
 * Built once from a bundle (live or captured); every stage after it is a pure function of it.
 */
import type { DockerDaemonConfig, DockerNetworkRecord } from './docker.js';
import type { IpsecConnectionRecord } from './ipsec.js';
import type { IpsetSet } from './ipset.js';
import type { ConntrackStatsRecord } from './conntrack.js';
import type { IptablesNotice, IptablesTable } from './netfilter.js';
import type { NftTable } from './nft.js';
import type { IpvsServiceRecord, TcFilterRecord } from './datapath.js';
import type { AddressRecord, LinkKind, NeighbourRecord, Origin, RouteRecord, RuleRecord, XdpAttachment } from './records.js';
import type { SysctlRecord } from './sysctl.js';
import type { XfrmPolicyRecord } from './xfrm.js';
import { RouteList } from './route-list.js';

export const SNAPSHOT_SCHEMA_VERSION = 1;

export type SourceStatus = 'collected' | 'unavailable' | 'failed';

/** How one source (one command, file or API call) went. */
export interface SourceReport {
  name: string;
  status: SourceStatus;
  /** What a person should do or know, e.g. "permission denied — run as root, or grant CAP_NET_ADMIN and CAP_NET_RAW". */
  message?: string;
  /** Whether a failure of this source makes the collection incomplete. */
  required: boolean;
  /** Lines the parser could not read. */
  warnings: number;
  /** In a bundle hostcheck did not write (a sosreport, calicoctl diags): the file it was read from. */
  file?: string;
  /** That kind of bundle does not carry this source, so nothing is known of it (never a fact about the host). */
  lacking?: boolean;
  /** Lines whose secret values were replaced by `<redacted>`. */
  redacted?: number;
}

export interface CloudIdentity {
  provider: 'alibaba' | 'aws';
  instanceId?: string;
  region?: string;
  zone?: string;
  vpcId?: string;
  vpcCidrs: string[];
  subnetId?: string;
  subnetCidrs: string[];
  /** Private IPv4 addresses per NIC MAC. */
  privateIps: { mac: string; ips: string[] }[];
}

export interface HostIdentity {
  /** The name the fleet knows this host by (--name, else hostname plus machine id). */
  name: string;
  hostname: string;
  machineId?: string;
  os?: string;
  kernel?: string;
  cloud?: CloudIdentity;
}

/** Who made an interface: Docker (with the network name), a CNI, libvirt, a VPN. */
export interface InterfaceOwner {
  type: 'docker' | 'cni' | 'libvirt' | 'vpn' | 'kubernetes' | 'unknown';
  name?: string;
}

export interface InterfaceModel {
  name: string;
  ifindex?: number;
  kind: LinkKind;
  kindText?: string;
  state?: string;
  flags: string[];
  mtu?: number;
  master?: string;
  mac?: string;
  /** True for NO-CARRIER (e.g. a bridge with no ports). */
  noCarrier: boolean;
  /** The host's way out (eth*, ens*, the default route's device): not a bridge or tunnel. */
  uplink: boolean;
  owner?: InterfaceOwner;
  addresses: AddressRecord[];
  /** An XDP program attached to it. */
  xdp?: XdpAttachment;
  /** `ip -d` details of its kind: a vxlan's id, local, remote, dev, dstport ... */
  details?: Record<string, string>;
  origin: Origin;
}

/** A parser warning, with the source it came from. */
export interface SnapshotWarning extends Origin {
  source: string;
  reason: string;
}

export interface HostSnapshot {
  schemaVersion: number;
  identity: HostIdentity;
  collectedAt: string;
  interfaces: InterfaceModel[];
  /**
   * Every route of every table, IPv4 and IPv6, in the order the kernel printed them; records made
   * on demand (src/model/route-list.ts). JSON has the array of records.
   */
  routes: RouteList;
  rules: RuleRecord[];
  /** iptables-save / ip6tables-save tables (with iptables-legacy-save's beside them, `backend: 'legacy'`), and the dumps' file-level notices. */
  netfilter: { v4: IptablesTable[]; v6: IptablesTable[]; notices: IptablesNotice[] };
  /**
   * `nft -j list ruleset` tables. Of the tables iptables-nft made only the base chains, without
   * rules: those rules are `netfilter`'s (nft's view of them marks `nftHidden` there).
   */
  nft: NftTable[];
  ipsets: IpsetSet[];
  xfrmPolicies: XfrmPolicyRecord[];
  /** `ip neigh show`: absent in bundles from before hostcheck read it. */
  neighbours?: NeighbourRecord[];
  /** IPsec connections configured in swanctl.conf and ipsec.conf. */
  ipsecConnections?: IpsecConnectionRecord[];
  sysctls: SysctlRecord[];
  /** Connection tracking's per-CPU statistics (/proc/net/stat/nf_conntrack, `conntrack -S`); absent where neither was read. */
  conntrack?: { stats: ConntrackStatsRecord[] };
  /** tc filters on devices' ingress and egress, and IPVS virtual services: detected, not evaluated (absent in older snapshots). */
  tcFilters?: TcFilterRecord[];
  ipvs?: IpvsServiceRecord[];
  docker: { daemon?: DockerDaemonConfig; networks: DockerNetworkRecord[] };
  /** Per source: collected / unavailable / failed. */
  sources: SourceReport[];
  /** True when every required source was collected and none failed. */
  complete: boolean;
  warnings: SnapshotWarning[];
}

/**
 * A snapshot read back from JSON (a report, the aggregator's store, a file): its routes, an array
 * there, become a RouteList. A snapshot that already has one is returned as it is.
 */
export function snapshotFromJson(value: unknown): HostSnapshot {
  const s = value as HostSnapshot;
  if (s.routes instanceof RouteList) return s;
  return { ...s, routes: RouteList.of((s.routes ?? []) as readonly RouteRecord[]) };
}

/** Routes grouped by table name, in order. */
export function routesByTable(snapshot: HostSnapshot): Map<string, RouteRecord[]> {
  const tables = new Map<string, RouteRecord[]>();
  for (const r of snapshot.routes) {
    const key = `${r.family === 6 ? 'inet6' : 'inet'} ${r.table}`;
    let list = tables.get(key);
    if (!list) tables.set(key, (list = []));
    list.push(r);
  }
  return tables;
}
