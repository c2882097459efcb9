/**
 * A host's change log (docs/timeline.md): each route, rule, link, address, xfrm policy and
 * watched sysctl change the agent saw, with the lines before and after and who likely made it;
 * and a finding's trigger, the change that most likely opened (or resolved) it.
 */

export const CHANGE_KINDS = ['link', 'address', 'route', 'rule', 'xfrm-policy', 'sysctl'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/**
 * added / removed / changed: the record's line before and after differ. rewritten: the kernel
 * announced it (`count` times) but the line is the same before and after (churn); transient: it
 * came and went between two looks (neither look has it).
 */
export const CHANGE_ACTIONS = ['added', 'removed', 'changed', 'rewritten', 'transient'] as const;
export type ChangeAction = (typeof CHANGE_ACTIONS)[number];

export const OWNER_TYPES = ['docker', 'cni', 'kubernetes', 'libvirt', 'vpn', 'dhcp', 'ra', 'routing-daemon', 'kernel', 'unknown'] as const;
export type ChangeOwnerType = (typeof OWNER_TYPES)[number];

/** Who most likely made the change. */
export interface ChangeOwner {
  type: ChangeOwnerType;
  /** The Docker network, the routing daemon's protocol (bird, bgp, zebra), the device of a guess. */
  name?: string;
  /** True when the owner was guessed from a name alone (docker0, cali*, virbr*, tun*). */
  guess?: boolean;
}

/** One entry of a host's change log, as the agent sends it (protocol 3, `report.changes`). */
export interface HostChange {
  /** When the agent first saw it (the agent's clock, ISO). */
  at: string;
  /** When it saw it last, for an entry that folds several (churn). */
  lastAt?: string;
  /** How many kernel announcements (or looks) this entry folds; 1 for a single change. */
  count: number;
  kind: ChangeKind;
  action: ChangeAction;
  /** What changed, in words: "docker0 172.17.0.1/16", "route 172.17.0.0/16 dev docker0". */
  subject: string;
  /** The line as `ip` (or sysctl) printed it before the change; absent for an addition. */
  before?: string;
  /** The line after; absent for a removal. */
  after?: string;
  owner: ChangeOwner;
  /**
   * Set when the agent found the change at its start, comparing the host with the state it saved
   * at its last check before it stopped: the change happened some time in this range (agent's
   * clock), `at` being the start's look. Absent for a change seen while running.
   */
  between?: ChangeWindow;
}

/** When a change found at the agent's start happened at the earliest and the latest (ISO, agent clock). */
export interface ChangeWindow {
  /** The agent's last check before it stopped. */
  from: string;
  /** The look at its start that found the change. */
  until: string;
}

/** A change as the aggregator keeps it: the host's entry plus where and when it arrived. */
export interface StoredChange extends HostChange {
  id: number;
  host: string;
  /** When the aggregator received the report that carried it (the aggregator's clock). */
  receivedAt: string;
  /** `at` on the aggregator's clock: receivedAt minus how long before sending the agent saw it. */
  serverAt: string;
  /** The sequence number of the report that carried it (of the first, for a folded entry). */
  seq: number;
}

/** The change that most likely opened (or resolved) a finding. */
export interface FindingTrigger {
  /** The change's time (the agent's clock). */
  at: string;
  host: string;
  change: HostChange;
  /** Seconds from the change to the finding opening (or resolving), on the aggregator's clock. */
  seconds?: number;
  /** False when no change before it named anything the finding names: then it is only the last change. */
  related: boolean;
  /** "opened 1 s after docker0 172.17.0.1/16 appeared (Docker network "bridge")". */
  text: string;
}
