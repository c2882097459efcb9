/**
 * Docker networks as JSON: Docker Engine API `GET /networks` (array) and `GET /networks/{id}`
 * (one object), `docker network inspect NAME...` (array), and one object per line
 * (`docker network inspect --format '{{json .}}'`). Old API 1.24 shapes (nulls, no Created) too.
 *
 *     [{"Name": "bridge", "Id": "f2de39df4171...", "Driver": "bridge", "Scope": "local",
 *       "IPAM": {"Driver": "default", "Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]},
 *       "Containers": {"39b6...": {"Name": "web", "IPv4Address": "172.17.0.2/16", ...}},
 *       "Options": {"com.docker.network.bridge.name": "docker0"}}]
 *
 * One record per network; `origin.lineNumber` is the element's index + 1 (its line for the
 * one-object-per-line form) and `origin.text` a short JSON form naming the network.
 */
import type { ParseResult, ParseWarning, Parser } from './types.js';
import type { Origin } from '../src/model/records.js';
import { guarded, splitLines } from './types.js';
import type { DockerIpamConfig, DockerNetworkContainer, DockerNetworkRecord } from '../src/model/docker.js';

const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** A string map (Options, Labels); non-string values are kept as their JSON text. */
function stringMap(v: Json | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(v)) return out;
  for (const k of Object.keys(v)) {
    const x = v[k];
    out[k] = typeof x === 'string' ? x : JSON.stringify(x);
  }
  return out;
}

function shortForm(el: Json): string {
  if (isObject(el)) {
    const short: JsonObject = {};
    for (const k of ['Name', 'Id', 'Driver']) if (el[k] !== undefined) short[k] = el[k];
    return JSON.stringify(short);
  }
  const text = JSON.stringify(el) ?? String(el);
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function bridgeNameOf(name: string, id: string, driver: string | undefined, options: Record<string, string>): string | undefined {
  const opt = options[BRIDGE_NAME_OPTION];
  if (opt) return opt;
  if (driver !== 'bridge') return undefined;
  if (name === 'bridge') return 'docker0';
  return `br-${id.slice(0, 12)}`;
}

/** One network object → record, or a reason it is not one. */
function toRecord(el: Json, origin: Origin): DockerNetworkRecord | string {
  if (!isObject(el)) return 'not a network object';
  const name = el.Name;
  const id = el.Id ?? el.ID;
  if (typeof name !== 'string' || typeof id !== 'string') return 'network without Name and Id';
  const driver = str(el.Driver);
  const options = stringMap(el.Options);
  const scope = str(el.Scope);
  const bridgeName = bridgeNameOf(name, id, driver, options);
  const created = str(el.Created);
  // Built in one literal so every record lists its fields in the same order.
  const rec: DockerNetworkRecord = {
    name,
    id,
    ...(driver !== undefined && { driver }),
    ...(scope !== undefined && { scope }),
    ...(bridgeName !== undefined && { bridgeName }),
    internal: el.Internal === true,
    enableIPv6: el.EnableIPv6 === true,
    ...(typeof el.Attachable === 'boolean' && { attachable: el.Attachable }),
    ...(typeof el.Ingress === 'boolean' && { ingress: el.Ingress }),
    ...(created !== undefined && { created }),
    ipam: { config: [] },
    containers: [],
    options,
    labels: stringMap(el.Labels),
    origin,
  };
  const ipam = el.IPAM;
  if (isObject(ipam)) {
    const d = str(ipam.Driver);
    if (d !== undefined) rec.ipam = { driver: d, config: rec.ipam.config };
    if (Array.isArray(ipam.Config)) {
      for (const c of ipam.Config) {
        if (!isObject(c)) continue;
        const cfg: DockerIpamConfig = {};
        const subnet = str(c.Subnet);
        const gateway = str(c.Gateway);
        const ipRange = str(c.IPRange);
        if (subnet !== undefined) cfg.subnet = subnet;
        if (gateway !== undefined) cfg.gateway = gateway;
        if (ipRange !== undefined) cfg.ipRange = ipRange;
        if (isObject(c.AuxiliaryAddresses)) cfg.auxAddresses = stringMap(c.AuxiliaryAddresses);
        rec.ipam.config.push(cfg);
      }
    }
    if (isObject(ipam.Options) && Object.keys(ipam.Options).length > 0) rec.ipam.options = stringMap(ipam.Options);
  }
  if (isObject(el.Containers)) {
    for (const cid of Object.keys(el.Containers)) {
      const c = el.Containers[cid];
      const ct: DockerNetworkContainer = { id: cid };
      if (isObject(c)) {
        const n = str(c.Name);
        const ep = str(c.EndpointID);
        const v4 = str(c.IPv4Address);
        const v6 = str(c.IPv6Address);
        const mac = str(c.MacAddress);
        if (n !== undefined) ct.name = n;
        if (ep !== undefined) ct.endpointId = ep;
        if (v4 !== undefined) ct.ipv4Address = v4;
        if (v6 !== undefined) ct.ipv6Address = v6;
        if (mac !== undefined) ct.macAddress = mac;
      }
      rec.containers.push(ct);
    }
  }
  return rec;
}

/** Line (1-based) and its text for a character offset, for JSON syntax errors. */
function lineAt(text: string, position: number): { lineNumber: number; text: string } {
  const lines = splitLines(text);
  let offset = 0;
  for (let i = 0; i < lines.length; i++) {
    const end = offset + lines[i].length + 1;
    if (position < end) return { lineNumber: i + 1, text: lines[i] };
    offset = end;
  }
  const last = lines.length;
  return { lineNumber: Math.max(last, 1), text: last > 0 ? lines[last - 1] : '' };
}

function syntaxWarning(text: string, err: unknown): ParseWarning {
  const message = err instanceof Error ? err.message : String(err);
  const m = /position (\d+)/.exec(message);
  const at = lineAt(text, m ? Number(m[1]) : text.length);
  return { lineNumber: at.lineNumber, text: at.text, reason: `invalid JSON: ${message}` };
}

function addElements(elements: Json[], lineNumbers: number[] | null, records: DockerNetworkRecord[], warnings: ParseWarning[]): void {
  for (let i = 0; i < elements.length; i++) {
    const el = elements[i];
    const origin = { lineNumber: lineNumbers ? lineNumbers[i] : i + 1, text: shortForm(el) };
    const rec = toRecord(el, origin);
    if (typeof rec === 'string') warnings.push({ ...origin, reason: `element ${i}: ${rec}` });
    else records.push(rec);
  }
}

function parseText(text: string): ParseResult<DockerNetworkRecord> {
  const records: DockerNetworkRecord[] = [];
  const warnings: ParseWarning[] = [];
  if (text.trim().length === 0) return { records, warnings, form: 'json' };
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch (err) {
    // One object per line (`--format '{{json .}}'`)? Only when the first line stands alone.
    const lines = splitLines(text);
    const firstIndex = lines.findIndex((l) => l.trim().length > 0);
    let firstAlone = false;
    try {
      firstAlone = lines.length > 1 && isObject(JSON.parse(lines[firstIndex]));
    } catch {
      firstAlone = false;
    }
    if (!firstAlone) return { records, warnings: [syntaxWarning(text, err)], form: 'json' };
    const elements: Json[] = [];
    const numbers: number[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim().length === 0) continue;
      try {
        elements.push(JSON.parse(lines[i]) as Json);
        numbers.push(i + 1);
      } catch (lineErr) {
        warnings.push({ lineNumber: i + 1, text: lines[i], reason: `invalid JSON: ${(lineErr as Error).message}` });
      }
    }
    addElements(elements, numbers, records, warnings);
    return { records, warnings, form: 'json-lines' };
  }
  addElements(Array.isArray(doc) ? doc : [doc], null, records, warnings);
  return { records, warnings, form: 'json' };
}

/** Parse Docker network JSON (API list, API inspect, CLI inspect, JSON lines). */
export function parse(text: string): ParseResult<DockerNetworkRecord> {
  return guarded(text, parseText);
}

export const parser: Parser<DockerNetworkRecord> = {
  name: 'docker-network',
  description: 'Docker networks (Engine API /networks, docker network inspect): bridges, subnets, containers',
  parse,
};
