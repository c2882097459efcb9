/** How the trace checks name addresses and the destination in their findings, and the findings' common frame. */
import { findingKey, type Finding } from '../model/finding.js';
import type { TraceContext } from './types.js';

/** `10.100.1.18 (the private address of VPN gateway vpn-x)`, or the bare address. */
export function named(ctx: TraceContext, address: string): string {
  const what = ctx.names(address);
  return what ? `${address} (${what})` : address;
}

/** The destination as findings name it. */
export function destinationOf(ctx: TraceContext): string {
  return ctx.path.destination ?? 'the destination';
}

/** A trace finding: about the destination (its subject and peer), from the trace's source (its host). */
export function traceFinding(ctx: TraceContext, check: string, severity: Finding['severity'], words: Pick<Finding, 'summary' | 'evidence' | 'why' | 'fix'>): Finding {
  const dst = destinationOf(ctx);
  return {
    check, severity, host: ctx.host, subject: dst, key: findingKey(check, ctx.host, dst), ...words,
    ...(ctx.path.destination !== undefined && { peers: [ctx.path.destination] }),
  };
}
