/** The agent ⇄ aggregator protocol version (kept apart from the zod schemas so --version stays cheap). */
export const PROTOCOL_VERSION = 1;

/** Above this many routes a report carries the fleet's parts of the snapshot plus a digest. */
export const FULL_SNAPSHOT_MAX_ROUTES = 50_000;
