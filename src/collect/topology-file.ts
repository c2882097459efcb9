/**
 * Reading a topology file: YAML or JSON text into the model's validated Topology, with errors that
 * name the field and, for YAML, the line (the schema itself lives in src/model/topology.ts).
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { parseTopology, type Topology } from '../model/topology-schema.js';

/** The topology file could not be read or is invalid; `problems` holds one line per field. */
export class TopologyFileError extends Error {
  override name = 'TopologyFileError';
  constructor(readonly path: string, readonly problems: string[], options?: { cause?: unknown }) {
    super(`topology ${path} is invalid:\n  ${problems.join('\n  ')}`, options);
  }
}

/** Read a topology file (YAML or JSON by content); errors name the field and, for YAML, the line. */
export async function loadTopology(path: string): Promise<Topology> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new TopologyFileError(path, [`cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], { cause: err });
  }
  return topologyFromText(text, path);
}

/** Parse topology text (JSON is YAML too); `path` only labels the errors. */
export function topologyFromText(text: string, path = '(topology)'): Topology {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new TopologyFileError(path, [`line ${lineCounter.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`], { cause: e });
  }
  const { topology, errors } = parseTopology(doc.toJS());
  if (topology) return topology;
  // Point at the line of the offending field where YAML knows it.
  const withLines = errors.map((line) => {
    const field = line.slice(0, line.indexOf(':'));
    const keys = field.split(/[.[\]]+/).filter(Boolean).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
    const node = doc.getIn(keys, true) as { range?: [number, number, number] } | undefined;
    return node?.range ? `line ${lineCounter.linePos(node.range[0]).line}: ${line}` : line;
  });
  throw new TopologyFileError(path, withLines);
}
