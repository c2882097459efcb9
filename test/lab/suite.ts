/**
 * Vitest glue for lab suites: `describeLab` runs the suite where the lab can run, reports a
 * plain skip with the reason where it cannot, and fails instead of skipping when CI=true.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { Lab, type LabOptions } from './lab.js';
import { labPrerequisites } from './prerequisites.js';
import type { Topology } from './topology.js';

/** `describe` for suites that build labs; see docs/lab.md "Prerequisites". */
export function describeLab(title: string, body: () => void): void {
  const prerequisites = labPrerequisites();
  if (prerequisites.ok) {
    describe(title, body);
    return;
  }
  const reason = prerequisites.reason ?? 'unknown reason';
  if (process.env.CI === 'true') {
    describe(title, () => {
      it(`lab prerequisites missing: ${reason}`, () => {
        throw new Error(`lab prerequisites missing (CI=true makes this a failure, not a skip): ${reason}`);
      });
    });
    return;
  }
  console.warn(`[lab] skipping "${title}": ${reason}`);
  describe.skipIf(true)(`${title} (skipped: ${reason})`, () => {
    it(`skipped: ${reason}`, () => {});
    body();
  });
}

/**
 * Builds `topology` in beforeAll and destroys it in afterAll; returns a getter for the tests.
 * Call inside a describeLab body.
 */
export function useLab(topology: Topology, options?: LabOptions): () => Lab {
  let lab: Lab | undefined;
  beforeAll(async () => {
    lab = await Lab.create(topology, options);
  });
  afterAll(async () => {
    await lab?.destroy();
  });
  return () => {
    if (!lab) throw new Error('the lab is built in beforeAll; use it inside tests, not while collecting them');
    return lab;
  };
}
