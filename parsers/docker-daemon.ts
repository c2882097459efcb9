/**
 * Docker's daemon configuration, /etc/docker/daemon.json: the settings that decide which address
 * space Docker's bridges take.
 *
 *   { "bip": "192.168.200.1/24", "default-address-pools": [{ "base": "10.201.0.0/16", "size": 24 }] }
 *
 * One record: bip, fixed-cidr, default-address-pools, bridge and iptables settings.
 */
import { parsePrefix } from '../src/net/address.js';
import { guarded, type ParseResult, type ParseWarning, type Parser } from './types.js';
import type { DockerDaemonConfig } from '../src/model/docker.js';

/** Line number (1-based) of the first occurrence of a JSON key, for evidence quoting. */
function lineOf(text: string, key: string): { lineNumber: number; text: string } {
  const idx = text.indexOf(`"${key}"`);
  if (idx < 0) return { lineNumber: 1, text: text.split('\n')[0] ?? '' };
  const lineNumber = text.slice(0, idx).split('\n').length;
  return { lineNumber, text: text.split('\n')[lineNumber - 1] ?? '' };
}

export function parse(text: string): ParseResult<DockerDaemonConfig> {
  return guarded(text, (input) => {
    const warnings: ParseWarning[] = [];
    if (input.trim() === '') return { records: [], warnings };
    let raw: unknown;
    try {
      raw = JSON.parse(input);
    } catch (err) {
      return { records: [], warnings: [{ lineNumber: 1, text: input.split('\n')[0] ?? '', reason: `invalid JSON: ${(err as Error).message}` }] };
    }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
      return { records: [], warnings: [{ lineNumber: 1, text: input.split('\n')[0] ?? '', reason: 'daemon.json must be a JSON object' }] };
    }
    const o = raw as Record<string, unknown>;
    const cfg: DockerDaemonConfig = { defaultAddressPools: [], lines: {}, origin: lineOf(input, 'bip') };
    for (const key of ['bip', 'fixed-cidr', 'default-address-pools', 'bridge']) if (key in o) cfg.lines[key] = lineOf(input, key);
    if (typeof o.bip === 'string') {
      if (o.bip.includes('/') && parsePrefix(o.bip, 4, true)) cfg.bip = o.bip;
      else warnings.push({ ...lineOf(input, 'bip'), reason: `bip is not an address with prefix length: ${o.bip}` });
    }
    if (typeof o['fixed-cidr'] === 'string') cfg.fixedCidr = o['fixed-cidr'];
    if (typeof o.bridge === 'string') cfg.bridge = o.bridge;
    if (typeof o.iptables === 'boolean') cfg.iptables = o.iptables;
    if (typeof o['ip-forward'] === 'boolean') cfg.ipForward = o['ip-forward'];
    const pools = o['default-address-pools'];
    if (pools !== undefined) {
      const where = lineOf(input, 'default-address-pools');
      if (!Array.isArray(pools)) warnings.push({ ...where, reason: 'default-address-pools must be an array' });
      else
        for (const p of pools) {
          const base = (p as { base?: unknown })?.base;
          const size = (p as { size?: unknown })?.size;
          if (typeof base === 'string' && parsePrefix(base) && typeof size === 'number') cfg.defaultAddressPools.push({ base, size });
          else warnings.push({ ...where, reason: `default-address-pools entry needs base (a CIDR) and size: ${JSON.stringify(p)}` });
        }
    }
    if (cfg.bip === undefined && !('bip' in o)) cfg.origin = cfg.defaultAddressPools.length ? lineOf(input, 'default-address-pools') : { lineNumber: 1, text: input.split('\n')[0] ?? '' };
    return { records: [cfg], warnings };
  });
}

export const parser: Parser<DockerDaemonConfig> = {
  name: 'docker-daemon',
  description: "Docker's /etc/docker/daemon.json (bip, default-address-pools)",
  parse,
};
