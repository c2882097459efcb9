/** Hosts from several `--bundle PATH`s for the commands that look across hosts (path, trace, fleet). */
import { openBundles } from '../collect/bundle-open.js';
import type { Bundle } from '../collect/bundle.js';
import { UsageError } from '../collect/errors.js';
import { buildSnapshot } from '../collect/snapshot.js';
import type { HostSnapshot } from '../model/snapshot.js';

/** Every host of every bundle (a sosreport gives one per network namespace); two hosts may not share a name. */
export async function bundlesOf(paths: string[]): Promise<Bundle[]> {
  const out: Bundle[] = [];
  for (const p of paths) out.push(...(await openBundles(p)));
  const names = out.map((b) => b.meta.name ?? b.meta.hostname);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new UsageError(`two bundles are both named "${dup}": capture with --name to tell them apart`);
  return out;
}

export async function snapshotsOf(paths: string[]): Promise<HostSnapshot[]> {
  return (await bundlesOf(paths)).map(buildSnapshot);
}
