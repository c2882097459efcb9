/**
 * Building a hostcheck Bundle from another collector's files (a sosreport, calicoctl node diags):
 * for every source the snapshot reads, either the file that provided it, or why this kind of
 * bundle lacks it. Sources the snapshot never reads (the JSON forms) are left out.
 */
import { BUNDLE_FORMAT_VERSION, type Bundle, type BundleLayout, type SourceMeta } from './bundle.js';
import { REDACTED_SOURCES, redactSecrets } from './redact.js';
import { SOURCES, sourceByName } from './sources.js';

/** The sources a foreign bundle accounts for, in the order of a hostcheck bundle. */
export const READ_SOURCES = SOURCES.filter((s) => s.format !== undefined).map((s) => s.name);

export interface CollectedFrom {
  /** The command that printed it (as the collector ran it), or the path of a copied file. */
  argv?: string[];
  path?: string;
  exitCode?: number;
  /** What to know about it (e.g. "main table only"). */
  message?: string;
  /** The parser to read it with when not the source's own (`iptables-list`). */
  format?: string;
}

export interface ForeignIdentity {
  hostname: string;
  name: string;
  machineId?: string;
  os?: string;
  kernel?: string;
  startedAt: string;
}

/** Collects one host's sources; `bundle()` fills every source not accounted for as lacking. */
export class ForeignBundleBuilder {
  private readonly sources = new Map<string, SourceMeta>();
  private readonly files = new Map<string, string>();

  constructor(readonly layout: BundleLayout, private readonly lackingByDefault: (source: string) => string) {}

  private base(name: string) {
    const spec = sourceByName(name)!;
    return { name, kind: spec.kind, required: spec.required, durationMs: 0 };
  }

  has(name: string): boolean {
    return this.sources.has(name);
  }

  /** The file a source was read from ('' when none). */
  fileOf(name: string): string {
    return this.sources.get(name)?.file ?? '';
  }

  /** The text a source was read into (undefined when none). */
  textOf(name: string): string | undefined {
    return this.files.get(name);
  }

  /** `text` came from `file`; a command that exited non-zero makes the source failed. */
  collected(name: string, file: string, text: string | undefined, from: CollectedFrom = {}): void {
    const failed = from.exitCode !== undefined && from.exitCode !== 0;
    const meta: SourceMeta = { ...this.base(name), file, ...(from.argv && { argv: from.argv }), ...(from.path && { path: from.path }), status: failed ? 'failed' : 'collected' };
    if (from.exitCode !== undefined) meta.exitCode = from.exitCode;
    if (from.format !== undefined) meta.format = from.format;
    if (failed) meta.message = `${from.argv?.join(' ') ?? file}: exit code ${from.exitCode}: ${(text ?? '').trim().split('\n')[0] || 'no output'} (${file})`;
    else if (from.message) meta.message = from.message;
    if (text !== undefined && !failed) {
      if (REDACTED_SOURCES.has(name)) {
        const r = redactSecrets(text);
        if (r.count) meta.redacted = r.count;
        this.files.set(name, r.text);
      } else this.files.set(name, text);
    }
    this.sources.set(name, meta);
  }

  /** Known absent on the host (a fact, like hostcheck's own `unavailable`). */
  absent(name: string, message: string): void {
    this.sources.set(name, { ...this.base(name), file: '', status: 'unavailable', message });
  }

  /** This kind of bundle does not carry the source: nothing is known. */
  lacking(name: string, message: string): void {
    this.sources.set(name, { ...this.base(name), file: '', status: 'unavailable', lacking: true, message });
  }

  /** Take another host's source as it is (the same network stack seen twice). */
  adopt(from: ForeignBundleBuilder, name: string): void {
    const meta = from.sources.get(name);
    if (!meta) return;
    this.sources.set(name, meta);
    const text = from.files.get(name);
    if (text !== undefined) this.files.set(name, text);
    else this.files.delete(name);
  }

  /** The parser a source's file is read with when not its own (undefined: its own). */
  formatOf(name: string): string | undefined {
    return this.sources.get(name)?.format;
  }

  isLacking(name: string): boolean {
    const meta = this.sources.get(name);
    return meta === undefined || meta.lacking === true;
  }

  bundle(id: ForeignIdentity, notes: string[]): Bundle {
    for (const name of READ_SOURCES) if (!this.sources.has(name)) this.lacking(name, this.lackingByDefault(name));
    const order = [...READ_SOURCES, ...[...this.sources.keys()].filter((n) => !READ_SOURCES.includes(n))];
    return {
      meta: {
        bundleFormat: BUNDLE_FORMAT_VERSION,
        hostcheckVersion: '',
        argv: [],
        ...id,
        durationMs: 0,
        toolVersions: {},
        sources: order.map((n) => this.sources.get(n)!),
        layout: { ...this.layout },
        notes,
      },
      files: new Map(this.files),
    };
  }
}
