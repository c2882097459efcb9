/**
 * The check registry: keys are check ids, equal to the file names in this folder.
 * A test asserts keys = files = fixture folders = docs entries.
 */
import { dockerPoolConflict } from './docker-pool-conflict.js';
import { multiNicRouting } from './multi-nic-routing.js';
import type { Check } from './types.js';

export const hostChecks: Record<string, Check> = {
  'docker-pool-conflict': dockerPoolConflict,
  'multi-nic-routing': multiNicRouting,
};
