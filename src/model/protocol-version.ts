/** The agent ⇄ aggregator protocol's constants (kept apart from the zod schemas so --version and the agent stay cheap). */
export const PROTOCOL_VERSION = 3;

/** Versions the aggregator accepts: version 1 (whole snapshots inline) and 2 (no change log) agents keep working. */
export const SUPPORTED_PROTOCOLS: readonly number[] = [1, 2, 3];

/**
 * The parts of a snapshot that grow with the host (routes, iptables rules, nft, ipsets): a
 * version 2 agent sends a big one as a section, content-addressed by its sha256, in `section`
 * chunks, and the report names it instead of carrying it (src/collect/sections.ts). Here, not
 * with the zod schemas, so the agent can name them without loading zod.
 */
export const SECTION_KINDS = ['routes', 'netfilter', 'nft', 'ipsets'] as const;
export type SectionKind = (typeof SECTION_KINDS)[number];

/** Above this many routes a report carries the fleet's parts of the snapshot plus a digest. */
export const FULL_SNAPSHOT_MAX_ROUTES = 50_000;

/** Change-log entries one report may carry (version 3; the agent sends at most 500 a check). */
export const MAX_REPORT_CHANGES = 2000;
