/** Docker's daemon.json and its networks (`docker network inspect`, the Engine API). */
import type { Origin } from './records.js';

export interface DockerDaemonConfig {
  /** docker0's address with prefix length, e.g. "192.168.200.1/24"; Docker's default is 172.17.0.1/16. */
  bip?: string;
  fixedCidr?: string;
  defaultAddressPools: { base: string; size: number }[];
  bridge?: string;
  iptables?: boolean;
  ipForward?: boolean;
  /** The line of each setting ("bip", "default-address-pools", ...), for evidence. */
  lines: Record<string, Origin>;
  origin: Origin;
}

export interface DockerIpamConfig {
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  auxAddresses?: Record<string, string>;
}

export interface DockerNetworkContainer {
  /** Key of the Containers map: a container id, or an endpoint sandbox such as `ingress-sbox`. */
  id: string;
  name?: string;
  endpointId?: string;
  /** With prefix length, as Docker prints it: "172.17.0.2/16". */
  ipv4Address?: string;
  ipv6Address?: string;
  macAddress?: string;
}

export interface DockerNetworkRecord {
  name: string;
  id: string;
  driver?: string;
  scope?: string;
  /**
   * Linux bridge device: Options["com.docker.network.bridge.name"], else `docker0` for the
   * default network "bridge", else `br-` + the first 12 characters of the id (bridge driver only).
   */
  bridgeName?: string;
  internal: boolean;
  enableIPv6: boolean;
  attachable?: boolean;
  ingress?: boolean;
  created?: string;
  ipam: { driver?: string; config: DockerIpamConfig[]; options?: Record<string, string> };
  containers: DockerNetworkContainer[];
  options: Record<string, string>;
  labels: Record<string, string>;
  origin: Origin;
}
