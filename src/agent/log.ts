/** The agent's structured log: pino JSON lines to stdout (or a stream tests read). */
import { destination, pino, type Logger } from 'pino';
import { isoTime } from '../model/iso-time.js';

export type AgentLogger = Logger;

export interface LogOptions {
  level?: string;
  /** Where lines go; stdout by default. Tests pass a stream they read. */
  destination?: { write(chunk: string): boolean };
  /** Fields on every line, e.g. { host }. */
  base?: Record<string, unknown>;
}

export function createAgentLogger(opts: LogOptions = {}): AgentLogger {
  return pino(
    { level: opts.level ?? 'info', base: { component: 'agent', ...opts.base }, timestamp: () => `,"time":"${isoTime()}"` },
    // Synchronous stdout so the last line before exit (SIGTERM) is never lost.
    opts.destination ?? destination({ dest: 1, sync: true }),
  );
}
