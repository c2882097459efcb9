/**
 * Sections arriving on one agent connection (docs/protocol.md, "Sections"): pieces put together
 * in order, the whole checked against its digest, read with the snapshot's own parsers and
 * stored, then held for the report that names it. Bounded: the characters of sections being put
 * together on a connection, and the sections held.
 */
import { decodeSection, sectionDigest, SectionError, type DecodedSection, type SectionLimits } from '../collect/sections.js';
import type { SectionKind, SectionMessage } from '../model/protocol.js';
import { ReportRejectedError } from './errors.js';
import type { SectionStore } from './store.js';

interface Partial {
  kind: SectionKind;
  count: number;
  parts: string[];
}

/** Sections held for their report at most (one of each kind, twice over for a resend). */
const MAX_HELD = 8;

export class SectionUploads {
  private readonly partial = new Map<string, Partial>();
  private readonly held = new Map<string, DecodedSection>();
  private chars = 0;

  constructor(private readonly opts: { maxChars: number; limits: SectionLimits; store: SectionStore; now: () => string; received?: (kind: SectionKind, chars: number) => void }) {}

  /** Take one piece; throws ReportRejectedError for a piece out of order, too much data, a wrong digest or content. */
  async add(m: SectionMessage): Promise<void> {
    let p = this.partial.get(m.digest);
    if (!p) {
      if (m.index !== 0) throw new ReportRejectedError('schema', `section ${m.digest.slice(0, 12)}: piece ${m.index} arrived before piece 0`);
      if (this.partial.size >= MAX_HELD) throw new ReportRejectedError('schema', `more than ${MAX_HELD} sections in progress at once`);
      p = { kind: m.kind, count: m.count, parts: [] };
      this.partial.set(m.digest, p);
    }
    if (m.kind !== p.kind || m.count !== p.count || m.index !== p.parts.length) {
      throw new ReportRejectedError('schema', `section ${m.digest.slice(0, 12)}: piece ${m.index} of ${m.count} (${m.kind}) does not follow piece ${p.parts.length - 1} of ${p.count} (${p.kind})`);
    }
    this.chars += m.data.length;
    if (this.chars > this.opts.maxChars) throw new ReportRejectedError('section_too_large', `sections on this connection passed ${this.opts.maxChars} characters`);
    p.parts.push(m.data);
    if (p.parts.length < p.count) return;
    this.partial.delete(m.digest);
    const content = p.parts.join('');
    this.chars -= content.length;
    if (sectionDigest(content) !== m.digest) throw new ReportRejectedError('schema', `section ${m.kind}: its content does not have the digest ${m.digest}`);
    let decoded: DecodedSection;
    try {
      decoded = decodeSection(m.kind, content, this.opts.limits);
    } catch (err) {
      if (err instanceof SectionError) throw new ReportRejectedError(err.reason, err.message, { cause: err });
      throw err;
    }
    await this.opts.store.putSection(m.digest, m.kind, content, this.opts.now());
    this.opts.received?.(m.kind, content.length);
    if (this.held.size >= MAX_HELD) this.held.delete(this.held.keys().next().value!);
    this.held.set(m.digest, decoded);
  }

  /** The section uploaded on this connection under `digest`, if any (it stays held for a resend). */
  get(digest: string): DecodedSection | undefined {
    return this.held.get(digest);
  }

  /** Drop what is held (the report that named it was committed). */
  release(digests: readonly string[]): void {
    for (const d of digests) this.held.delete(d);
  }
}
