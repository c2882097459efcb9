/**
 * The raw bundle: one file per source exactly as the command printed it, plus meta.json.
 * `hostcheck capture --out DIR` writes it; `--bundle DIR` reads it anywhere.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceStatus } from '../model/snapshot.js';
import { safeEntryPath } from './archive-tar.js';
import { DirectoryTree, type BundleTree } from './bundle-tree.js';
import { UsageError } from './errors.js';
import { REDACTED_SOURCES, redactSecrets } from './redact.js';

export const BUNDLE_FORMAT_VERSION = 1;

/** What happened when one source was collected. */
export interface SourceMeta {
  name: string;
  file: string;
  kind: string;
  argv?: string[];
  path?: string;
  status: SourceStatus;
  exitCode?: number;
  stderr?: string;
  message?: string;
  durationMs: number;
  required: boolean;
  /** Lines whose secret values were replaced by `<redacted>` (copied configuration files). */
  redacted?: number;
  /** A bundle hostcheck did not write lacks this source: nothing is known of it. */
  lacking?: boolean;
  /** The parser the file is read with when it is not the source's own (a sosreport's `iptables -nvL` listing: `iptables-list`). */
  format?: string;
}

/** Where a bundle hostcheck did not write came from (absent for hostcheck's own bundles). */
export interface BundleLayout {
  kind: 'sosreport' | 'calicoctl-node-diags';
  /** The collector's version, when the bundle says (sos 4.0, 3.9.1). */
  version?: string;
  /** For a sosreport: the network namespace this host is, when it is one. */
  netns?: string;
}

export interface BundleMeta {
  bundleFormat: number;
  hostcheckVersion: string;
  argv: string[];
  hostname: string;
  /** The name given with --name, if any. */
  name?: string;
  machineId?: string;
  os?: string;
  kernel?: string;
  startedAt: string;
  durationMs: number;
  toolVersions: Record<string, string>;
  cloud?: unknown;
  sources: SourceMeta[];
  layout?: BundleLayout;
  /** What reading the bundle found worth saying (a report lists them with its notes). */
  notes?: string[];
}

/** A bundle in memory: source name → exact text, plus meta. */
export interface Bundle {
  meta: BundleMeta;
  files: Map<string, string>;
}

export async function writeBundle(dir: string, bundle: Bundle): Promise<void> {
  await mkdir(dir, { recursive: true });
  await Promise.all(
    bundle.meta.sources
      .filter((s) => bundle.files.has(s.name))
      .map((s) => writeFile(join(dir, s.file), bundle.files.get(s.name)!)),
  );
  await writeFile(join(dir, 'meta.json'), JSON.stringify(bundle.meta, null, 2) + '\n');
}

/** Read a bundle written by writeBundle or by hostcheck-capture.sh. */
export async function readBundle(dir: string): Promise<Bundle> {
  return hostcheckBundleFromTree(new DirectoryTree(dir));
}

/**
 * A hostcheck bundle from a tree (a directory, or an archive read in memory). Each source's file
 * is read only inside the tree, whatever meta.json names; copied configuration files are redacted
 * again, in case an older hostcheck wrote them.
 */
export function hostcheckBundleFromTree(tree: BundleTree): Bundle {
  const dir = tree.origin;
  const metaText = tree.text('meta.json');
  if (metaText === undefined) throw new UsageError(`${dir} is not a hostcheck bundle: no readable meta.json (write one with "hostcheck capture --out DIR")`);
  let meta: BundleMeta;
  try {
    meta = JSON.parse(metaText) as BundleMeta;
  } catch (err) {
    throw new UsageError(`${dir}/meta.json is not valid JSON`, { cause: err });
  }
  if (!meta || typeof meta !== 'object' || !Array.isArray(meta.sources)) throw new UsageError(`${dir}/meta.json has no sources list`);
  const files = new Map<string, string>();
  for (const s of meta.sources) {
    if (!s || typeof s.name !== 'string' || typeof s.file !== 'string') throw new UsageError(`${dir}/meta.json: a source without a name or file`);
    // A source that was not collected has no file; its meta says why.
    const text = tree.text(safeEntryPath(s.file, `${dir}/meta.json: source ${s.name}'s file`));
    if (text === undefined) continue;
    files.set(s.name, REDACTED_SOURCES.has(s.name) ? redactSecrets(text).text : text);
  }
  return { meta, files };
}
