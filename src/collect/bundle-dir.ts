/**
 * A bundle from a plain folder of command outputs (hand-written fixtures, or files a user pasted):
 * every known source file present counts as collected; absent ones as unavailable.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_FORMAT_VERSION, type Bundle } from './bundle.js';
import { SOURCES } from './sources.js';

export function bundleFromFolder(dir: string, name: string): Bundle {
  const files = new Map<string, string>();
  const sources = SOURCES.map((s) => {
    const path = join(dir, s.file);
    if (existsSync(path)) {
      files.set(s.name, readFileSync(path, 'utf8'));
      return { name: s.name, file: s.file, kind: s.kind, argv: s.argv, status: 'collected' as const, durationMs: 0, required: s.required };
    }
    return { name: s.name, file: s.file, kind: s.kind, argv: s.argv, status: 'unavailable' as const, message: `${s.file} not in ${dir}`, durationMs: 0, required: false };
  });
  return {
    meta: { bundleFormat: BUNDLE_FORMAT_VERSION, hostcheckVersion: 'fixture', argv: [], hostname: name, name, startedAt: '2026-01-01T00:00:00.000Z', durationMs: 0, toolVersions: {}, sources },
    files,
  };
}
