/**
 * `--bundle PATH`, whatever PATH holds: a hostcheck bundle (hostcheck capture, or
 * hostcheck-capture.sh), a sosreport (directory or archive, sos 3.x and 4.x) or a calicoctl node
 * diags archive. Archives are read in memory by archive.ts; every layout reads through a
 * BundleTree, which never leaves the bundle. A sosreport gives one host per network namespace.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ArchiveLimits } from './archive-tar.js';
import { readArchive } from './archive.js';
import { hostcheckBundleFromTree, readBundle, type Bundle } from './bundle.js';
import { CALICO_WANTED, calicoDiagsBundle, isCalicoDiags } from './bundle-calico.js';
import { isSosreport, SOS_WANTED, sosreportBundles } from './bundle-sos.js';
import { ArchiveTree, DirectoryTree, singleTopDirectory, type BundleTree } from './bundle-tree.js';
import { UsageError } from './errors.js';

const WANTED = [/^[^/]+$/, ...SOS_WANTED, ...CALICO_WANTED];

/** Files of an archive any layout reads: matched below the archive's root and below its top directory. */
export function wantedInArchive(path: string): boolean {
  const slash = path.indexOf('/');
  const below = slash < 0 ? undefined : path.slice(slash + 1);
  return WANTED.some((re) => re.test(path) || (below !== undefined && re.test(below)));
}

/** The hosts of a tree, by its layout. */
export function bundlesOfTree(tree: BundleTree): Bundle[] {
  if (tree.text('meta.json') !== undefined) return [hostcheckBundleFromTree(tree)];
  if (isSosreport(tree)) return sosreportBundles(tree);
  if (isCalicoDiags(tree)) return [calicoDiagsBundle(tree)];
  throw new UsageError(
    `${tree.origin} is no bundle layout hostcheck knows: expected meta.json (hostcheck capture, hostcheck-capture.sh), sos_commands/ (a sosreport) or ipv4_route, ipv4_tables and hostname (calicoctl node diags)`,
  );
}

/** Every host of the bundle at `path` (a sosreport: the stack sos ran in first, then its namespaces). */
export async function openBundles(path: string, limits: Partial<ArchiveLimits> = {}): Promise<Bundle[]> {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new UsageError(`cannot read bundle ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (st.isDirectory()) {
    if (existsSync(join(path, 'meta.json'))) return [await readBundle(path)];
    return bundlesOfTree(singleTopDirectory(new DirectoryTree(path)));
  }
  if (!st.isFile()) throw new UsageError(`${path} is neither a directory nor an archive`);
  const contents = await readArchive(path, wantedInArchive, limits);
  return bundlesOfTree(singleTopDirectory(new ArchiveTree(path, contents)));
}

export const bundleHostName = (b: Bundle): string => b.meta.name ?? b.meta.hostname;

/**
 * One host of the bundle at `path`: `host` (its name, or a sosreport's namespace), else the first
 * (for a sosreport, the stack sos ran in), with a note naming the others.
 */
export async function openBundle(path: string, host?: string): Promise<Bundle> {
  const hosts = await openBundles(path);
  const names = hosts.map(bundleHostName);
  const listed = names.length > 12 ? `${names.slice(0, 12).join(', ')} and ${names.length - 12} more` : names.join(', ');
  if (host !== undefined) {
    const found = hosts.find((b) => bundleHostName(b) === host || b.meta.layout?.netns === host);
    if (!found) throw new UsageError(`${path} holds no host "${host}"; its hosts: ${listed}`);
    return found;
  }
  const first = hosts[0];
  if (hosts.length > 1) {
    first.meta.notes = [...(first.meta.notes ?? []), `${path} holds ${hosts.length} hosts (one per network namespace): ${listed}; --host NAME analyses another, "hostcheck fleet --bundle ${path}" all of them together`];
  }
  return first;
}
