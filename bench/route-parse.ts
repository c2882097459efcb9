/**
 * route-parse: parse time of N IPv4 routes printed by `ip route show table all`, against that
 * command writing the same table to a file inside a lab namespace (best of 3 each). Target:
 * parsing takes at most a quarter of the command's time and peaks under 500 MB. The `-j` form's
 * parse time is printed beside `JSON.parse` of the same bytes.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Topology } from '../test/lab/lab.js';
import {
  benchTempDir, bestOf, ipBatchIn, ipv4, measureParseMemory, MiB, removeTempDir, shIn, withLab,
  type BenchRow, type SectionOptions,
} from './netns.js';

const FULL_ROUTES = 1_000_000;
const QUICK_ROUTES = 100_000;
const PARSE_TARGET_RATIO = 0.25;
const PEAK_TARGET_MB = 500;

/** One host whose eth0 (10.0.0.1/16, a veth with its peer in the same host) carries every route. */
export const ROUTE_HOST = 'rt';
export const routeTopology: Topology = {
  hosts: { [ROUTE_HOST]: {} },
  links: [{ a: { host: ROUTE_HOST, iface: 'eth0', addresses: ['10.0.0.1/16'] }, b: { host: ROUTE_HOST, iface: 'eth1' } }],
};

/**
 * `ip -batch` lines adding `count` distinct IPv4 routes from 32.0.0.0 up: mostly /24 unicast via
 * a connected gateway, with /23s and /32s, metrics, protocols, table 100, scope link, onlink,
 * blackholes and 2-way multipath routes mixed in.
 */
export function routeBatch(count: number): string {
  const lines: string[] = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const base = (0x20000000 + i * 256) >>> 0;
    let prefix: string;
    if (i % 13 === 0) prefix = `${ipv4(base + 1)}/32`;
    else if (i % 7 === 0) prefix = `${ipv4((base & ~0x1ff) >>> 0)}/23`;
    else prefix = `${ipv4(base)}/24`;
    let route: string;
    if (i % 100 === 0) route = `${prefix} proto static nexthop via 10.0.0.2 dev eth0 weight 1 nexthop via 10.0.0.3 dev eth0 weight 2`;
    else if (i % 50 === 4) route = `blackhole ${prefix} proto static`;
    else {
      switch (i % 10) {
        case 1: route = `${prefix} via 10.0.0.2 dev eth0 table 100 proto static metric 100`; break;
        case 2: route = `${prefix} dev eth0 proto static scope link`; break;
        case 3: route = `${prefix} via 10.0.0.3 dev eth0 proto bgp metric 20`; break;
        case 5: route = `${prefix} via 10.1.0.1 dev eth0 onlink`; break;
        case 6: route = `${prefix} via 10.0.0.2 dev eth0 table 100`; break;
        default: route = `${prefix} via 10.0.0.2 dev eth0`;
      }
    }
    lines[i] = `route add ${route}`;
  }
  return `${lines.join('\n')}\n`;
}

type ParseFn = (text: string) => { records: unknown[]; warnings: Array<{ lineNumber: number; reason: string }> };
type ParseRoutesFn = (text: string) => { routes: { length: number }; warnings: Array<{ lineNumber: number; reason: string }> };

export async function benchRouteParse(options: SectionOptions): Promise<BenchRow[]> {
  const count = options.quick ? QUICK_ROUTES : FULL_ROUTES;
  const { parse, parseRoutes } = (await import('../parsers/ip-route.js')) as { parse: ParseFn; parseRoutes: ParseRoutesFn };
  const dir = benchTempDir('route');
  const textFile = join(dir, 'routes.txt');
  const jsonFile = join(dir, 'routes.json');
  try {
    return await withLab(routeTopology, async (lab) => {
      const rows: BenchRow[] = [];
      options.log(`route-parse: loading ${count.toLocaleString('en')} routes with ip -batch ...`);
      const loadSeconds = await ipBatchIn(lab, ROUTE_HOST, routeBatch(count));
      rows.push({ name: `load ${count.toLocaleString('en')} routes (ip -batch route add)`, value: round(loadSeconds), unit: 's' });

      options.log('route-parse: timing ip route show table all > file (best of 3) ...');
      const show = await bestOf(3, () => shIn(lab, ROUTE_HOST, `ip route show table all > ${textFile}`));
      const textBytes = statSync(textFile).size;
      rows.push({
        name: 'ip route show table all > file', value: round(show.best), unit: 's',
        note: `best of 3 (${show.all.map(round).join(', ')}), via ip netns exec; ${(textBytes / MiB).toFixed(1)} MiB`,
      });

      options.log('route-parse: timing parseRoutes() of the text (warm-up + best of 3) ...');
      const text = readFileSync(textFile, 'utf8');
      const textLines = countRouteLines(text);
      // Warm-up; only counts are kept, so a million routes are not alive during the timed runs.
      const warm = parseRoutes(text);
      const warmRoutes = warm.routes.length;
      const warningCount = warm.warnings.length;
      const firstWarning = warm.warnings[0];
      // Each timed run drops its result, so no run pays for collecting the previous one's routes.
      const parseText = await bestOf(3, () => parseRoutes(text).routes.length);
      const ratio = parseText.best / show.best;
      rows.push({
        name: 'parse ip route text', value: round(parseText.best), unit: 's',
        reference: { name: 'ip route show table all > file', value: round(show.best), unit: 's' },
        ratio: round(ratio), target: `ratio <= ${PARSE_TARGET_RATIO}`, pass: ratio <= PARSE_TARGET_RATIO,
        note: `parseRoutes() into the RouteList the snapshot and simulator use (records made on demand); `
          + `best of 3 (${parseText.all.map(round).join(', ')}); ${warmRoutes.toLocaleString('en')} routes `
          + `for ${textLines.toLocaleString('en')} in the file, ${warningCount} warnings`
          + (firstWarning ? ` (first: line ${firstWarning.lineNumber}: ${firstWarning.reason})` : ''),
      });

      options.log('route-parse: timing parse() with every route made a record (best of 3) ...');
      const [warmRecords] = counts(parse(text));
      const parseRecords = await bestOf(3, () => parse(text).records.length);
      rows.push({
        name: 'parse ip route text, every route a record', value: round(parseRecords.best), unit: 's',
        reference: { name: 'ip route show table all > file', value: round(show.best), unit: 's' },
        ratio: round(parseRecords.best / show.best),
        note: `parse(): what \`hostcheck parse ip-route\` and a full JSON dump pay; best of 3 (${parseRecords.all.map(round).join(', ')}); ${warmRecords.toLocaleString('en')} records`,
      });

      options.log('route-parse: peak memory of parsing the text in a fresh process ...');
      const mem = await measureParseMemory('parsers/ip-route.ts', 'parseRoutes', textFile);
      // The issue states the target in MB; counted in decimal megabytes (10^6 bytes), the stricter reading.
      const peakMb = mem.peakBytes / 1e6;
      rows.push({
        name: 'parse ip route text: peak RSS', value: Math.round(peakMb), unit: 'MB',
        target: `< ${PEAK_TARGET_MB} MB`, pass: peakMb < PEAK_TARGET_MB,
        note: `fresh node (${mem.loadedFrom}), MB = 10^6 bytes (${Math.round(mem.peakBytes / MiB)} MiB): `
          + `${Math.round(mem.baselineBytes / 1e6)} MB before reading, `
          + `+${Math.round((mem.peakBytes - mem.baselineBytes) / 1e6)} MB for reading and parsing, `
          + `${Math.round(mem.retainedHeapBytes / 1e6)} MB heap kept with the result alive `
          + `(${Math.round(mem.retainedHeapBytes / Math.max(1, mem.records))} bytes a route); cold parse ${round(mem.parseSeconds)} s`,
      });

      options.log('route-parse: timing ip -j route show table all > file (best of 3) ...');
      const showJson = await bestOf(3, () => shIn(lab, ROUTE_HOST, `ip -j route show table all > ${jsonFile}`));
      rows.push({
        name: 'ip -j route show table all > file', value: round(showJson.best), unit: 's',
        note: `best of 3; ${(statSync(jsonFile).size / MiB).toFixed(1)} MiB`,
      });

      options.log('route-parse: timing parse() of the JSON and JSON.parse (warm-up + best of 3 each) ...');
      const json = readFileSync(jsonFile, 'utf8');
      const jsonRoutes = (JSON.parse(json) as unknown[]).length;
      const jsonParse = await bestOf(3, () => (JSON.parse(json) as unknown[]).length);
      const [jsonRecords, jsonWarnings] = counts(parse(json));
      const parseJson = await bestOf(3, () => parse(json).records.length);
      rows.push({
        name: 'parse ip -j route JSON', value: round(parseJson.best), unit: 's',
        reference: { name: 'JSON.parse of the same bytes', value: round(jsonParse.best), unit: 's' },
        ratio: round(parseJson.best / jsonParse.best),
        note: `best of 3 each; ${jsonRecords.toLocaleString('en')} records for ${jsonRoutes.toLocaleString('en')} objects, `
          + `${jsonWarnings} warnings; also ${round(parseJson.best / showJson.best)} of ip -j's own time`,
      });
      return rows;
    });
  } finally {
    removeTempDir(dir);
  }
}

/** Records, warnings, and the first warning of a result (which is then garbage). */
function counts(result: ReturnType<ParseFn>): [number, number, Array<{ lineNumber: number; reason: string }>] {
  return [result.records.length, result.warnings.length, result.warnings.slice(0, 1)];
}

/** Routes in `ip route` text: lines that do not start with whitespace (nexthop lines do). */
function countRouteLines(text: string): number {
  let n = 0;
  let atStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (atStart && c !== 32 && c !== 9 && c !== 10) n++;
    atStart = c === 10;
  }
  return n;
}

function round(x: number): number {
  return Number(x.toPrecision(3));
}
