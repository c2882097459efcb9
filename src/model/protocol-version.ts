/** The agent ⇄ aggregator protocol version (kept apart from the zod schemas so --version stays cheap). */
export const PROTOCOL_VERSION = 1;
