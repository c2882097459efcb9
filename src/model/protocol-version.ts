/** The agent ⇄ aggregator protocol version (kept apart from the zod schemas so --version stays cheap). */
export const PROTOCOL_VERSION = 2;

/** Versions the aggregator accepts: version 1 agents (whole snapshots inline) keep working. */
export const SUPPORTED_PROTOCOLS: readonly number[] = [1, 2];
