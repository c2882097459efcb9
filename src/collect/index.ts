export * from './bundle.js';
export * from './collect.js';
export * from './errors.js';
export * from './snapshot.js';
export * from './sources.js';

import { readBundle, type Bundle } from './bundle.js';
import { collectBundle, type CollectOptions } from './collect.js';
import { buildSnapshot } from './snapshot.js';
import type { HostSnapshot } from '../model/snapshot.js';

/** The bundle of `--bundle DIR`, or of the live host. */
export async function loadBundle(opts: CollectOptions & { bundle?: string }): Promise<Bundle> {
  const bundle = opts.bundle ? await readBundle(opts.bundle) : await collectBundle(opts);
  if (opts.bundle && opts.name) bundle.meta.name = opts.name;
  return bundle;
}

export async function loadSnapshot(opts: CollectOptions & { bundle?: string }): Promise<HostSnapshot> {
  return buildSnapshot(await loadBundle(opts));
}
