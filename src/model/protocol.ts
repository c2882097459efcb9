/**
 * The agent ⇄ aggregator protocol (version 3; the server still accepts versions 1 and 2): what agents
 * send, validated with zod by the aggregator; what the server sends is typed and validated in
 * server-messages.ts (no zod there, so the resident agent does not load it).
 * Documented with an example of each message in docs/protocol.md.
 *
 * agent → server: hello, section (version 2), report, heartbeat
 * server → agent: welcome, ack, context, heartbeat, error
 * Nothing the server sends makes an agent run anything: the agent takes data only (fleet
 * context and acks).
 */
import { z } from 'zod';
import { CHANGE_ACTIONS, CHANGE_KINDS, OWNER_TYPES } from './changes.js';
import type { DropReasons, KernelSignal, NetfilterRuleRef } from './kernel.js';
import { MAX_REPORT_CHANGES, SECTION_KINDS } from './protocol-version.js';

const SIGNAL_KINDS = new Set<unknown>(['counter', 'device', 'rule', 'reason']);

export { FULL_SNAPSHOT_MAX_ROUTES, PROTOCOL_VERSION, SECTION_KINDS, SUPPORTED_PROTOCOLS, type SectionKind } from './protocol-version.js';
export type { Ack, ContextMessage, ErrorMessage, FleetContext, PeerContext, PeerMtu, ServerMessage, Welcome } from './server-messages.js';

const name = z.string().min(1).max(253);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 in hex');
export const sectionKindSchema = z.enum(SECTION_KINDS);

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

const evidenceSchema = z.object({ source: z.string(), lineNumber: z.number().int(), text: z.string() });
const routeQuerySchema = z.object({ dst: z.string().max(64), src: z.string().max(64).optional(), iif: z.string().max(64).optional(), mark: z.number().int().nonnegative().optional() });
const routeAnswerSchema = z.union([
  z.object({ kind: z.literal('route'), type: z.string().max(32), nexthops: z.array(z.object({ dev: z.string().max(64).optional(), via: z.string().max(64).optional() })).max(64) }),
  z.object({ kind: z.literal('error'), error: z.string().max(256) }),
]);

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
  /** The route questions it rests on and the simulator's answers (docs/kernel.md). */
  queries: z.array(z.object({ query: routeQuerySchema, expect: routeAnswerSchema })).max(64).optional(),
  /** The kernel counters and drop reasons its cause moves. */
  signals: z.array(z.custom<KernelSignal>((v) => typeof v === 'object' && v !== null && SIGNAL_KINDS.has((v as { kind?: unknown }).kind))).max(32).optional(),
  /** What the agent's kernel said about it. */
  kernel: z.object({ status: z.enum(['confirmed', 'not-seen', 'contradicted', 'unavailable']), evidence: z.array(z.string().max(1024)).max(50) }).optional(),
});

/** The drop counters (and drop reasons) that moved since the agent's previous check (docs/kernel.md). */
export const kernelWindowSchema = z.object({
  seconds: z.number().nonnegative(),
  counters: z.array(z.object({ name: z.string().max(1024), delta: z.number(), device: z.string().max(64).optional(), rule: z.custom<NetfilterRuleRef>((v) => typeof v === 'object' && v !== null).optional() })).max(500),
  missing: z.array(z.string().max(1024)).max(20),
  drops: z.custom<DropReasons>((v) => typeof v === 'object' && v !== null && Array.isArray((v as { drops?: unknown }).drops) && (v as { drops: unknown[] }).drops.length <= 500).optional(),
});

const isoTime = z.string().max(64).refine((t) => !Number.isNaN(Date.parse(t)), { message: 'not an ISO time' });

/** One entry of the host's change log (version 3; src/model/changes.ts). */
export const hostChangeSchema = z.object({
  at: isoTime,
  lastAt: isoTime.optional(),
  count: z.number().int().positive(),
  kind: z.enum(CHANGE_KINDS),
  action: z.enum(CHANGE_ACTIONS),
  subject: z.string().min(1).max(1024),
  before: z.string().max(4096).optional(),
  after: z.string().max(4096).optional(),
  owner: z.object({ type: z.enum(OWNER_TYPES), name: z.string().max(128).optional(), guess: z.boolean().optional() }),
  /** Found at the agent's start: happened while it was stopped (optional: servers before it drop the key). */
  between: z.object({ from: isoTime, until: isoTime }).optional(),
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
  /** Live agents: what the kernel's drop counters did since the previous check. */
  kernel: kernelWindowSchema.optional(),
  /** Version 3: what changed on the host since the previous report (docs/timeline.md). */
  changes: z.array(hostChangeSchema).max(MAX_REPORT_CHANGES).optional(),
});

export const heartbeatSchema = z.object({ type: z.literal('heartbeat'), at: z.string(), seq: z.number().int().nonnegative().optional() });

export const agentMessageSchema = z.discriminatedUnion('type', [helloSchema, sectionSchema, reportSchema, heartbeatSchema]);

export type Hello = z.infer<typeof helloSchema>;
/** A hello once accepted: what the server keeps of it for the connection's life (the credential is not kept). */
export type AcceptedHello = Omit<Hello, 'credential'>;
export type ReportMessage = z.infer<typeof reportSchema>;
export type SectionMessage = z.infer<typeof sectionSchema>;
export type AgentMessage = z.infer<typeof agentMessageSchema>;
