export * from './bundle.js';
export * from './collect.js';
export * from './errors.js';
export * from './snapshot.js';
export * from './sources.js';

import { loadBundle, type CollectOptions } from './collect.js';
import { buildSnapshot } from './snapshot.js';
import type { HostSnapshot } from '../model/snapshot.js';

export async function loadSnapshot(opts: CollectOptions & { bundle?: string; host?: string }): Promise<HostSnapshot> {
  return buildSnapshot(await loadBundle(opts));
}
