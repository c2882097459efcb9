/** What a host check receives and returns. Checks never see text: only the model and the simulator. */
import type { Peer } from '../model/config.js';
import type { Finding, Severity } from '../model/finding.js';
import type { HostSnapshot } from '../model/snapshot.js';

export interface CheckContext {
  /** The host's name in findings. */
  host: string;
  snapshot: HostSnapshot;
  /** Hosts this host must reach and be reached by (config, flags, fleet context). */
  peers: Peer[];
  /** Remote networks that must not be captured locally. */
  remotes: string[];
  /** tcp/N and udp/N that peers use. */
  ports: string[];
  /** Networks this host routes for, beyond what it shows by itself (--route-for, config routeFor). */
  routeFor?: string[];
}

export interface Check {
  /** Equal to the file name. */
  id: string;
  title: string;
  /** The highest severity it reports. */
  severity: Severity;
  /** What it looks for and how to fix it (`hostcheck explain ID`). */
  explain: string;
  run(ctx: CheckContext): Finding[];
}
