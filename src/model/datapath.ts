/**
 * What can change a packet's fate outside netfilter and routing, as hostcheck reads it: tc
 * filters on a device's ingress or egress (BPF programs of Cilium or Calico eBPF, u32 or flower
 * with drop and redirect actions) and IPVS virtual services (kube-proxy in ipvs mode). XDP
 * programs are on the link records (records.ts). hostcheck detects these; it does not evaluate them.
 */
import type { Origin } from './records.js';

/** One tc filter (`tc filter show dev DEV ingress|egress`). */
export interface TcFilterRecord {
  dev: string;
  direction: 'ingress' | 'egress';
  /** Classifier: bpf, u32, flower, matchall, ... */
  kind: string;
  protocol?: string;
  pref?: number;
  /** bpf: the program's name and id as tc prints them (`tc_drop.o:[tc] ... id 105 name prog`). */
  program?: { object?: string; name?: string; id?: number; tag?: string; directAction: boolean };
  /** Actions named on the filter's lines: drop, redirect, mirred, pass, ... */
  actions: string[];
  origin: Origin;
}

/** One IPVS virtual service (/proc/net/ip_vs) and its real servers. */
export interface IpvsServiceRecord {
  protocol: 'TCP' | 'UDP' | 'SCTP' | 'FWM';
  /** Virtual address and port; a firewall-mark service has `mark` instead. */
  address?: string;
  port?: number;
  mark?: number;
  scheduler: string;
  reals: { address: string; port: number; forward: string; weight: number }[];
  origin: Origin;
}
