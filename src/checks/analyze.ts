/** The host family: snapshot + what matters (peers, remotes, ports) → sorted findings. Pure. */
import type { WhatMatters } from '../model/config.js';
import { sortFindings, type Finding } from '../model/finding.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { checksOf } from './index.js';
import { undecidedNotes } from './needs.js';
import type { HostContext } from './types.js';

export interface AnalyzeOptions extends WhatMatters {
  /** CHECK or CHECK:SUBJECT */
  ignore: string[];
}

export interface Analysis {
  findings: Finding[];
  ignored: string[];
  notes: string[];
}

function isIgnored(f: Finding, ignore: string[]): boolean {
  return ignore.some((rule) => {
    const colon = rule.indexOf(':');
    if (colon < 0) return rule === f.check;
    return rule.slice(0, colon) === f.check && rule.slice(colon + 1) === f.subject;
  });
}

export function analyzeSnapshot(snapshot: HostSnapshot, opts: AnalyzeOptions): Analysis {
  const ctx: HostContext = { host: snapshot.identity.name, snapshot, peers: opts.peers, remotes: opts.remotes, ports: opts.ports, routeFor: opts.routeFor ?? [], ...(opts.remotePathMtu && { remotePathMtu: opts.remotePathMtu }), ...(opts.conntrackMargin !== undefined && { conntrackMargin: opts.conntrackMargin }) };
  const all: Finding[] = [];
  const notes: string[] = [];
  for (const check of checksOf('host')) {
    try {
      all.push(...check.families.host!(ctx));
    } catch (err) {
      // A bug in one check must not hide the others' findings; say so plainly.
      notes.push(`check ${check.id} failed: ${(err as Error).message}`);
    }
  }
  notes.push(...undecidedNotes(snapshot, checksOf('host').map((c) => c.id)));
  if (opts.peers.length === 0 && opts.remotes.length === 0) {
    notes.push('no peers or remote networks given (--peer, --remote, config, fleet): only local address-space findings were possible');
  }
  const kept: Finding[] = [];
  const ignored: string[] = [];
  for (const f of all) {
    if (isIgnored(f, opts.ignore)) ignored.push(f.key);
    else kept.push(f);
  }
  return { findings: sortFindings(kept), ignored: ignored.sort(), notes };
}
