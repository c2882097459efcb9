/**
 * Vitest globalSetup: removes lab namespaces left by killed runs, before and after the whole run.
 * Wire it in vitest.config.ts as `globalSetup: ['test/lab/global-setup.ts']`.
 */
import { sweepStaleNamespaces } from './cleanup.js';

function sweep(when: string): void {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return;
  const removed = sweepStaleNamespaces();
  if (removed.length > 0) console.warn(`[lab] ${when}: removed ${removed.length} stale lab namespace(s): ${removed.join(', ')}`);
}

export function setup(): void {
  sweep('before the run');
}

export function teardown(): void {
  sweep('after the run');
}
