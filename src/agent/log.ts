/**
 * The agent's structured log: JSON lines to stdout (or a stream tests read), in pino's format —
 * `{"level":30,"time":"…","component":"agent",…base,…fields,"msg":"…"}`, levels numbered as
 * pino numbers them. Written here rather than with pino: pino brought worker threads, its
 * transports and their helpers into the resident agent for lines it writes a few times an hour
 * (docs/agent.md, "Memory").
 */
import { writeSync } from 'node:fs';
import { isoTime } from '../model/iso-time.js';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type LogLevel = keyof typeof LEVELS;

/** `log.info({ field }, 'message')`, `log.info('message')` or `log.info({ field })`. */
export interface LogMethod {
  (fields: object, msg?: string): void;
  (msg: string): void;
}

export interface AgentLogger {
  readonly level: LogLevel | 'silent';
  trace: LogMethod;
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  fatal: LogMethod;
}

export interface LogOptions {
  level?: string;
  /** Where lines go; stdout by default. Tests pass a stream they read. */
  destination?: { write(chunk: string): boolean };
  /** Fields on every line, e.g. { host }. */
  base?: Record<string, unknown>;
}

/** An Error as pino's serializer writes it; anything else as it is. */
function replacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? { type: value.name, message: value.message, stack: value.stack } : value;
}

/** The fields of an object as JSON without its braces ('' for none). */
function fieldsJson(fields: object): string {
  let json: string;
  try {
    json = JSON.stringify(fields, replacer);
  } catch (err) {
    // A cycle or a BigInt: the line says so rather than being lost.
    json = JSON.stringify({ logFieldsUnwritable: (err as Error).message });
  }
  return json.length > 2 ? json.slice(1, -1) : '';
}

/** Synchronous stdout, so the last line before exit (SIGTERM) is never lost; retried while a non-blocking pipe is full. */
const stdoutSync = {
  write(chunk: string): boolean {
    let buf = Buffer.from(chunk);
    for (let tries = 0; buf.length > 0; ) {
      try {
        buf = buf.subarray(writeSync(1, buf));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++tries > 1000) throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      }
    }
    return true;
  },
};

export function createAgentLogger(opts: LogOptions = {}): AgentLogger {
  const level = (opts.level ?? 'info') as LogLevel | 'silent';
  if (level !== 'silent' && !(level in LEVELS)) throw new Error(`unknown log level "${level}" (one of ${Object.keys(LEVELS).join(', ')}, silent)`);
  const least = level === 'silent' ? Infinity : LEVELS[level];
  const base = fieldsJson({ component: 'agent', ...opts.base });
  const out = opts.destination ?? stdoutSync;
  const method = (n: number): LogMethod => (first: object | string, msg?: string): void => {
    if (n < least) return;
    const fields = typeof first === 'string' ? '' : fieldsJson(first);
    const text = typeof first === 'string' ? first : msg;
    out.write(`{"level":${n},"time":"${isoTime()}"${base ? `,${base}` : ''}${fields ? `,${fields}` : ''}${text === undefined ? '' : `,"msg":${JSON.stringify(text)}`}}\n`);
  };
  return {
    level,
    trace: method(LEVELS.trace),
    debug: method(LEVELS.debug),
    info: method(LEVELS.info),
    warn: method(LEVELS.warn),
    error: method(LEVELS.error),
    fatal: method(LEVELS.fatal),
  };
}
