/**
 * The config file shared by the one-shot and the agent (/etc/hostcheck/config.json by default),
 * validated with zod; errors name the field and the problem.
 */
import { z } from 'zod';
import IPCIDR from 'ip-cidr';
import { formatPrefix, maskV4, parseAddress, parsePrefix } from '../net/address.js';

export const addressSchema = z.string().refine((s) => parseAddress(s) !== null, { message: 'not an IPv4 or IPv6 address' });
const address = addressSchema;
/** A CIDR as people type it (ip-cidr), with zero host bits (our parser); shared with topology files. */
export const cidrSchema = z.string().superRefine((s, ctx) => {
  if (!IPCIDR.isValidCIDR(s)) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a CIDR (e.g. 10.16.0.0/16)` });
    return;
  }
  if (parsePrefix(s) === null) {
    const loose = parsePrefix(s, 4, true);
    const fixed = loose?.family === 4 ? formatPrefix({ ...loose, value: (loose.value & maskV4(loose.len)) >>> 0 }) : undefined;
    ctx.addIssue({ code: 'custom', message: `"${s}" has host bits set${fixed ? `; did you mean ${fixed}?` : ''}` });
  }
});
const cidr = cidrSchema;
const port = z.string().regex(/^(tcp|udp)\/\d{1,5}$/, { message: 'must be tcp/N or udp/N' }).refine((s) => Number(s.split('/')[1]) <= 65535, { message: 'port above 65535' });

// ws://host:port/path, wss://…, ws+unix:///run/hostcheck.sock (ws's form; a path after ':' optional).
const serverUrl = z.string().refine((s) => /^(wss?:\/\/[^/\s]+|ws\+unix:\/\/\/\S+)/.test(s), { message: 'must be a ws://, wss:// or ws+unix:/// URL' });
const filePath = z.string().min(1).refine((s) => s.startsWith('/') || s.startsWith('.'), { message: 'must be a path (absolute, or starting with ./)' });

export const peerSchema = z.object({ address, name: z.string().min(1).optional() }).strict();

export const configSchema = z
  .object({
    /** Hosts this host must reach and be reached by. */
    peers: z.array(peerSchema).default([]),
    /** Remote networks (other VPCs, the IDC) whose traffic must not be captured locally. */
    remotes: z.array(cidr).default([]),
    /** Ports peers use, checked against the firewall. */
    ports: z.array(port).default([]),
    /** Networks this host routes for (a NAT gateway's private subnets) when it cannot tell by itself. */
    routeFor: z.array(cidr).optional(),
    /** Findings to ignore: CHECK or CHECK:SUBJECT. */
    ignore: z.array(z.string().min(1)).default([]),
    /** Agent: the aggregator's URL (ws://, wss://, ws+unix:///path). */
    server: serverUrl.optional(),
    /** Agent: the name this host goes by in the fleet (default: hostname plus machine id). */
    name: z.string().min(1).max(253).optional(),
    /** Agent: where the per-host token is (read, or written after enrolment). */
    tokenFile: filePath.optional(),
    /** Agent: an enrolment token, exchanged on first contact for a per-host token. */
    enrolTokenFile: filePath.optional(),
    /** Agent: CA certificate (PEM) that signed the aggregator's certificate, for wss://. */
    ca: filePath.optional(),
    /** Agent: client certificate and key (PEM) when the aggregator asks for one. */
    clientCert: filePath.optional(),
    clientKey: filePath.optional(),
    /** Agent: seconds between full checks (changes are checked at once). */
    interval: z.number().min(0.1, { message: 'must be at least 0.1 seconds' }).max(86_400, { message: 'must be at most 86400 seconds (a day)' }).optional(),
    /** Agent: where sequence numbers persist across restarts. */
    stateDir: filePath.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!!c.clientCert !== !!c.clientKey) ctx.addIssue({ code: 'custom', path: [c.clientCert ? 'clientKey' : 'clientCert'], message: 'clientCert and clientKey go together' });
  });

export type HostcheckConfig = z.infer<typeof configSchema>;
export type Peer = z.infer<typeof peerSchema>;

/** Turn zod issues into lines like `peers[1].address: not an IPv4 or IPv6 address`. */
export function formatConfigErrors(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const path = i.path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
    return `${path || '(top level)'}: ${i.message}`;
  });
}

export function parseConfig(raw: unknown): { config?: HostcheckConfig; errors: string[] } {
  const r = configSchema.safeParse(raw);
  return r.success ? { config: r.data, errors: [] } : { errors: formatConfigErrors(r.error) };
}

/** `--peer IP[=NAME]` */
export function parsePeerFlag(s: string): Peer | undefined {
  const eq = s.indexOf('=');
  const addr = eq >= 0 ? s.slice(0, eq) : s;
  const name = eq >= 0 ? s.slice(eq + 1) : undefined;
  if (parseAddress(addr) === null) return undefined;
  return name ? { address: addr, name } : { address: addr };
}
