/**
 * The raw bundle: one file per source exactly as the command printed it, plus meta.json.
 * `hostcheck capture --out DIR` writes it; `--bundle DIR` reads it anywhere.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceStatus } from '../model/snapshot.js';
import { UsageError } from './errors.js';

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
  let metaText: string;
  try {
    metaText = await readFile(join(dir, 'meta.json'), 'utf8');
  } catch (err) {
    throw new UsageError(`${dir} is not a hostcheck bundle: no readable meta.json (write one with "hostcheck capture --out DIR")`, { cause: err });
  }
  let meta: BundleMeta;
  try {
    meta = JSON.parse(metaText) as BundleMeta;
  } catch (err) {
    throw new UsageError(`${dir}/meta.json is not valid JSON`, { cause: err });
  }
  if (!meta || !Array.isArray(meta.sources)) throw new UsageError(`${dir}/meta.json has no sources list`);
  const files = new Map<string, string>();
  await Promise.all(
    meta.sources.map(async (s) => {
      try {
        files.set(s.name, (await readFile(join(dir, s.file))).toString('utf8'));
      } catch {
        // A source that was not collected has no file; its meta says why.
      }
    }),
  );
  return { meta, files };
}
