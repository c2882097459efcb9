/**
 * Reports sent but not yet acknowledged, kept across reconnections and resent in order (and on
 * disk, src/agent/state.ts OutboxFiles, across restarts). Bounded: when full, the oldest is
 * dropped and counted (a newer report supersedes it anyway).
 */
import type { SectionKind } from '../model/protocol.js';

export interface OutboxEntry {
  seq: number;
  /** The serialized message, so a resend sends the same bytes. */
  text: string;
  /** The sections the report names, sent before it unless the server has them. */
  sections: { kind: SectionKind; digest: string }[];
}

export class Outbox {
  private entries: OutboxEntry[] = [];
  /** Reports dropped unacknowledged because the outbox was full. */
  dropped = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`outbox capacity must be a positive integer, got ${capacity}`);
  }

  /** Queue a report; returns the entries dropped to make room (oldest first). */
  push(entry: OutboxEntry): OutboxEntry[] {
    this.entries.push(entry);
    const over = this.entries.length - this.capacity;
    if (over <= 0) return [];
    this.dropped += over;
    return this.entries.splice(0, over);
  }

  /** Acks are cumulative: the server commits a host's reports in order. Returns the seqs acked. */
  ack(seq: number): number[] {
    const acked = this.entries.filter((e) => e.seq <= seq).map((e) => e.seq);
    if (acked.length) this.entries = this.entries.filter((e) => e.seq > seq);
    return acked;
  }

  /** Remove one entry (a report the server could never accept). */
  remove(seq: number): void {
    this.entries = this.entries.filter((e) => e.seq !== seq);
  }

  pending(): readonly OutboxEntry[] {
    return this.entries;
  }

  get size(): number {
    return this.entries.length;
  }
}
