/**
 * Terminal safety (DESIGN.md's Safety, src/report/terminal.ts): a bundle whose interface name,
 * route lines, host name and traceroute carry escape sequences (`\x1b[31m`, `\x1b]0;title\x07`),
 * `\r`, C1 controls and a bidi override goes through every face that prints it — the one-shot,
 * snapshot, route get, path, parse, trace and a usage error — and no raw control byte comes out;
 * the text still shows, escaped, and JSON keeps the exact values.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport } from '../../src/report/json.js';
import { safeJson, safeLines, safeText } from '../../src/report/terminal.js';
import { renderText } from '../../src/report/text.js';
import { analyzeSnapshot } from '../../src/checks/analyze.js';
import { loadSnapshot } from '../../src/collect/index.js';
import { repoRoot } from '../helpers/samples.js';

const bin = join(repoRoot, 'bin', 'hostcheck');
const ECS3 = join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3');
/** docker0's new name: a colour, a window-title OSC ended by BEL, and a carriage return. */
const EVIL_IFACE = 'dock\x1b[31mer\x1b]0;title\x07\r0';
/** The host's name: clear-screen, an 8-bit CSI and a right-to-left override. */
const EVIL_HOST = 'ecs3\x1b[2J\u009b1m\u202e';
/** What a terminal would act on (tab and newline are layout). */
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

let tmp: string;
let bundle: string;
let trace: string;
let routes: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'hc-terminal-'));
  bundle = join(tmp, 'evil');
  cpSync(ECS3, bundle, { recursive: true });
  for (const f of readdirSync(bundle)) {
    const file = join(bundle, f);
    // JSON files get the name JSON-escaped (the bytes ip -j writes), text files the raw bytes.
    const inJson = (s: string): string => JSON.stringify(s).slice(1, -1);
    let text = readFileSync(file, 'utf8').split('docker0').join(f.endsWith('.json') ? inJson(EVIL_IFACE) : EVIL_IFACE);
    if (f === 'meta.json') text = text.replace('"name": "ecs3"', `"name": "${inJson(EVIL_HOST)}"`);
    writeFileSync(file, text);
  }
  trace = join(tmp, 'trace.txt');
  writeFileSync(trace, 'traceroute to 10.200.1.15 (10.200.1.15), 30 hops max, 60 byte packets\n 1  172.17.0.1  0.512 ms !H\x1b[31m\n garbage \x1b]0;title\x07 line\r\n');
  routes = join(tmp, 'routes.txt');
  writeFileSync(routes, readFileSync(join(bundle, 'ip-route-v4.txt'), 'utf8') + `not a route \x1b]0;title\x07\r\n`);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function hostcheck(args: string[]): Promise<{ code: number | undefined; out: string }> {
  const r = await execa(bin, args, { reject: false, env: { NO_COLOR: '' }, stripFinalNewline: false });
  return { code: r.exitCode, out: r.stdout + r.stderr };
}

/** No raw control byte, and the escaped name is there (the text was printed, not dropped). */
function expectSafeText(out: string, marker = 'dock\\x1b[31mer\\x1b]0;title\\x07\\x0d0'): void {
  expect(out).not.toMatch(RAW_CONTROL);
  expect(out).toContain(marker);
}

describe('every face escapes text from a bundle', () => {
  it('the one-shot, as text', async () => {
    const r = await hostcheck(['--bundle', bundle, '--peer', '172.17.0.64']);
    expect(r.code).toBe(1);
    expectSafeText(r.out);
    expect(r.out).toContain('on ecs3\\x1b[2J\\x9b1m\\u202e at');
  });

  it('the one-shot, as JSON: escaped bytes, the same values', async () => {
    const r = await hostcheck(['--bundle', bundle, '--peer', '172.17.0.64', '--json']);
    expect(r.out).not.toMatch(RAW_CONTROL);
    const report = JSON.parse(r.out);
    expect(report.host).toBe(EVIL_HOST);
    expect(report.findings[0].summary).toContain(EVIL_IFACE);
  });

  it('snapshot, as text and as JSON', async () => {
    expectSafeText((await hostcheck(['snapshot', '--bundle', bundle])).out);
    const json = await hostcheck(['snapshot', '--bundle', bundle, '--json']);
    expect(json.out).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(json.out).interfaces.map((i: { name: string }) => i.name)).toContain(EVIL_IFACE);
  });

  it('route get: the answer, the rule and route lines, --json and --batch', async () => {
    const text = await hostcheck(['route', 'get', '172.17.0.64', 'from', '172.31.4.18', '--bundle', bundle]);
    expectSafeText(text.out);
    expect(text.out).toContain('route: 172.17.0.0/16 dev dock\\x1b');
    const json = await hostcheck(['route', 'get', '172.17.0.64', '--bundle', bundle, '--json']);
    expect(json.out).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(json.out).dev).toBe(EVIL_IFACE);
    const batch = await execa(bin, ['route', 'get', '--batch', '-', '--bundle', bundle], { input: '172.17.0.64\n', reject: false });
    expect(batch.stdout).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(batch.stdout).dev).toBe(EVIL_IFACE);
  });

  it('path: hops, notes and evidence; and as JSON', async () => {
    const text = await hostcheck(['path', '--from', '172.31.4.18', '--to', '172.17.0.64', '--bundle', bundle]);
    expectSafeText(text.out);
    expect(text.out).toContain('ip-route-v4:2  172.17.0.0/16 dev dock\\x1b');
    const json = await hostcheck(['path', '--from', '172.31.4.18', '--to', '172.17.0.64', '--bundle', bundle, '--json']);
    expect(json.out).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(json.out).forward.hops[0].dev).toBe(EVIL_IFACE);
  });

  it('parse: records and the warning quoting an unreadable line', async () => {
    const r = await hostcheck(['parse', 'ip-route', routes]);
    expect(r.out).not.toMatch(RAW_CONTROL);
    expect(r.out).toContain('dock\\u001b[31mer\\u001b]0;title\\u0007\\r0');
    expect(r.out).toMatch(/warning: line \d+: .*not a route \\x1b\]0;title\\x07/);
  });

  it('trace: the hop named by the bundle, its annotation, the finding and the parser warning', async () => {
    const r = await hostcheck(['trace', '--analyze', trace, '--bundle', bundle]);
    expectSafeText(r.out);
    expect(r.out).toContain('!H\\x1b[31m');
    expect(r.out).toContain('garbage \\x1b]0;title\\x07 line');
  });

  it('a usage error quoting a bundle\'s host name', async () => {
    const r = await hostcheck(['path', '--from', '172.31.4.18', '--to', '172.17.0.64', '--bundle', bundle, '--bundle', bundle]);
    expect(r.code).toBe(2);
    expectSafeText(r.out, 'two bundles are both named "ecs3\\x1b[2J\\x9b1m\\u202e"');
  });

  it('the coloured report: only its own colour codes reach the terminal', async () => {
    const snapshot = await loadSnapshot({ bundle });
    const report = buildReport({ version: 'test', snapshot, ...analyzeSnapshot(snapshot, { peers: [{ address: '172.17.0.64' }], remotes: [], ports: [], ignore: [] }) });
    const out = renderText(report, { color: true });
    expect(out).toContain('\x1b[31mERROR\x1b[0m');
    expectSafeText(out.replace(/\x1b\[(?:0|1|2|31|33|36)m/g, ''));
  });
});

describe('the escaping functions', () => {
  it('write each unsafe character as an escape, and keep tab and ordinary text', () => {
    expect(safeText('a\tb\x1b[31mc\rd\ne\x7f\u009b\u202ef é')).toBe('a\tb\\x1b[31mc\\x0dd\\x0ae\\x7f\\x9b\\u202ef é');
    expect(safeLines('one\x1b\ntwo\r')).toBe('one\\x1b\ntwo\\x0d');
    const value = { name: EVIL_HOST, iface: EVIL_IFACE };
    expect(safeJson(value)).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(safeJson(value, 2))).toEqual(value);
  });
});
