/**
 * The agent ⇄ aggregator protocol (version 2; the server still accepts version 1), validated
 * with zod at both ends. Documented with an example of each message in docs/protocol.md.
 *
 * agent → server: hello, section (version 2), report, heartbeat
 * server → agent: welcome, ack, context, heartbeat, error
 * Nothing the server sends makes an agent run anything: the agent takes data only (fleet
 * context and acks).
 */
import { z } from 'zod';

export { PROTOCOL_VERSION, SUPPORTED_PROTOCOLS } from './protocol-version.js';

/** Above this many routes a report carries the fleet's parts of the snapshot plus a digest. */
export const FULL_SNAPSHOT_MAX_ROUTES = 50_000;

const name = z.string().min(1).max(253);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 in hex');

/**
 * The parts of a snapshot that grow with the host (routes, iptables rules, nft, ipsets): a
 * version 2 agent sends a big one as a section, content-addressed by its sha256, in `section`
 * chunks, and the report names it instead of carrying it (src/collect/sections.ts).
 */
export const SECTION_KINDS = ['routes', 'netfilter', 'nft', 'ipsets'] as const;
export type SectionKind = (typeof SECTION_KINDS)[number];
export const sectionKindSchema = z.enum(SECTION_KINDS);
const ip = z.string().min(2).max(45);
const cidr = z.string().min(3).max(49);

export const peerContextSchema = z.object({
  name,
  addresses: z.array(ip).max(64),
  vpc: z.string().max(128).optional(),
});

/** What the fleet tells an agent so its own findings name its peers. */
export const fleetContextSchema = z.object({
  peers: z.array(peerContextSchema).max(100_000),
  remotes: z.array(cidr).max(10_000),
  ports: z.array(z.string().regex(/^(tcp|udp)\/\d{1,5}$/)).max(1000),
});
export type FleetContext = z.infer<typeof fleetContextSchema>;

export const credentialSchema = z.discriminatedUnion('kind', [
  /** A per-host agent token. */
  z.object({ kind: z.literal('token'), token: z.string().min(16).max(512) }),
  /** An enrolment token, exchanged on first contact for a per-host token. */
  z.object({ kind: z.literal('enrol'), token: z.string().min(16).max(512) }),
]);

export const helloSchema = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  agentVersion: z.string().max(64),
  name,
  identity: z.object({
    hostname: z.string().max(253),
    machineId: z.string().max(128).optional(),
    instanceId: z.string().max(128).optional(),
  }),
  credential: credentialSchema,
  /** The last sequence number the agent has; the server's welcome says which it has. */
  lastSeq: z.number().int().nonnegative(),
});

export const welcomeSchema = z.object({
  type: z.literal('welcome'),
  protocol: z.number().int(),
  host: name,
  /** Set when an enrolment token was exchanged: the agent stores it and uses it from now on. */
  issuedToken: z.string().optional(),
  /** The highest sequence number the server has committed for this host. */
  ackedSeq: z.number().int().nonnegative(),
  context: fleetContextSchema,
  maxPayload: z.number().int().positive(),
  heartbeatSeconds: z.number().positive(),
  /** Version 2: digests of the sections the server holds for this host (no need to upload them again). */
  sections: z.array(sha256).max(64).optional(),
});

const evidenceSchema = z.object({ source: z.string(), lineNumber: z.number().int(), text: z.string() });

export const findingSchema = z.object({
  check: z.string().min(1).max(64),
  severity: z.enum(['error', 'warning', 'info']),
  host: name,
  subject: z.string().max(512),
  key: z.string().max(1024),
  summary: z.string().max(4096),
  evidence: z.array(evidenceSchema).max(100),
  why: z.string().max(8192),
  fix: z.array(z.string().max(4096)).max(50),
  peers: z.array(z.string()).optional(),
});

type FieldType = 'string' | 'number';
interface RecordShape {
  fields: Record<string, FieldType>;
  /** A field holding an array of records of another shape. */
  list?: { key: string; shape: RecordShape };
}

/** What zod names a value it did not expect ("received ..."), for the same messages. */
function received(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return typeof v;
}

function checkRecords(v: unknown, shape: RecordShape, path: (string | number)[], ctx: z.RefinementCtx): void {
  const bad = (expected: string, value: unknown, at: (string | number)[]): void =>
    ctx.addIssue({ code: 'custom', path: at, message: `Invalid input: expected ${expected}, received ${received(value)}` });
  if (!Array.isArray(v)) return bad('array', v, path);
  for (let i = 0; i < v.length; i++) {
    const r: unknown = v[i];
    if (typeof r !== 'object' || r === null || Array.isArray(r)) {
      bad('object', r, [...path, i]);
      continue;
    }
    const rec = r as Record<string, unknown>;
    for (const key in shape.fields) {
      const x = rec[key];
      if (shape.fields[key] === 'string' ? typeof x !== 'string' : typeof x !== 'number' || !Number.isFinite(x)) bad(shape.fields[key], x, [...path, i, key]);
    }
    if (shape.list) checkRecords(rec[shape.list.key], shape.list.shape, [...path, i, shape.list.key], ctx);
  }
}

/**
 * An array of records checked by hand for the fields the server reads, other fields kept as they
 * are: zod's passthrough objects copy every record, the main cost of a report's validation.
 * The messages are zod's ("path: Invalid input: expected string, received number").
 */
function records<T>(shape: RecordShape) {
  return z.custom<(T & Record<string, unknown>)[]>().superRefine((v, ctx) => checkRecords(v, shape, [], ctx));
}

/**
 * The snapshot as sent: the HostSnapshot itself (records are checked for shape, not field by
 * field, to keep validation cheap at a million routes), with `partial` set when the host had more
 * than FULL_SNAPSHOT_MAX_ROUTES routes and only the fleet's parts were sent.
 */
export const wireSnapshotSchema = z
  .object({
    schemaVersion: z.number().int(),
    identity: z.object({ name, hostname: z.string() }).passthrough(),
    collectedAt: z.string(),
    interfaces: records<{ name: string; addresses: ({ cidr: string } & Record<string, unknown>)[] }>({
      fields: { name: 'string' }, list: { key: 'addresses', shape: { fields: { cidr: 'string' } } },
    }),
    routes: records<{ dst: string; table: string }>({ fields: { dst: 'string', table: 'string' } }),
    rules: records<{ priority: number }>({ fields: { priority: 'number' } }),
    sources: records<{ name: string; status: string }>({ fields: { name: 'string', status: 'string' } }),
    complete: z.boolean(),
    partial: z.object({ totalRoutes: z.number().int(), sentRoutes: z.number().int(), digest: z.string() }).optional(),
  })
  .passthrough();

/** A snapshot whose sectioned parts are left out: `routes` may then be missing. */
const skeletonSnapshotSchema = wireSnapshotSchema.extend({
  routes: records<{ dst: string; table: string }>({ fields: { dst: 'string', table: 'string' } }).optional(),
});

/** One piece of a section (version 2): pieces 0 … count−1 in order, then the report that names it. */
export const sectionSchema = z.object({
  type: z.literal('section'),
  kind: sectionKindSchema,
  digest: sha256,
  index: z.number().int().nonnegative(),
  count: z.number().int().positive().max(4096),
  data: z.string(),
});

export const reportSchema = z.object({
  type: z.literal('report'),
  seq: z.number().int().positive(),
  sentAt: z.string(),
  /** sha256 of the full snapshot JSON: equal digests mean nothing changed. */
  digest: z.string().length(64),
  snapshot: skeletonSnapshotSchema,
  /** Version 2: the snapshot's parts sent as sections, by kind; each is left out of `snapshot`. */
  sections: z.partialRecord(sectionKindSchema, sha256).optional(),
  findings: z.array(findingSchema).max(10_000),
  complete: z.boolean(),
});

export const heartbeatSchema = z.object({ type: z.literal('heartbeat'), at: z.string(), seq: z.number().int().nonnegative().optional() });
export const ackSchema = z.object({ type: z.literal('ack'), seq: z.number().int().positive() });
export const contextSchema = z.object({ type: z.literal('context'), context: fleetContextSchema });
export const errorSchema = z.object({ type: z.literal('error'), reason: z.string().max(1024) });

export const agentMessageSchema = z.discriminatedUnion('type', [helloSchema, sectionSchema, reportSchema, heartbeatSchema]);
export const serverMessageSchema = z.discriminatedUnion('type', [welcomeSchema, ackSchema, contextSchema, heartbeatSchema, errorSchema]);

export type Hello = z.infer<typeof helloSchema>;
export type Welcome = z.infer<typeof welcomeSchema>;
export type ReportMessage = z.infer<typeof reportSchema>;
export type SectionMessage = z.infer<typeof sectionSchema>;
export type AgentMessage = z.infer<typeof agentMessageSchema>;
export type ServerMessage = z.infer<typeof serverMessageSchema>;
