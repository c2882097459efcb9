/** The CLI as a user meets it: help with examples, exit codes, config errors, --ignore, colour. */
import { PROTOCOL_VERSION } from '../../src/model/protocol-version.js';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { checks } from '../../src/checks/index.js';
import { familiesOf } from '../../src/checks/types.js';
import { SUBCOMMAND_NAMES } from '../../src/cli/program.js';
import { repoRoot } from '../helpers/samples.js';

const bin = join(repoRoot, 'bin', 'hostcheck');
const ecs3 = join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3');
const run = (args: string[], env: Record<string, string> = {}) => execa(bin, args, { reject: false, env: { NO_COLOR: '', ...env } });
const tmp = mkdtempSync(join(tmpdir(), 'hc-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('hostcheck CLI', () => {
  it('--help of the program and of every command shows an example', async () => {
    const top = await run(['--help']);
    expect(top.exitCode).toBe(0);
    expect(top.stdout).toContain('Examples:');
    const listed = top.stdout.slice(top.stdout.indexOf('Commands:'), top.stdout.indexOf('Examples:'));
    const commands = [...listed.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]).filter((c) => c !== 'help');
    // Every subcommand of program.ts's one list, in its order, and nothing else.
    expect(commands).toEqual([...SUBCOMMAND_NAMES]);
    for (const c of commands) {
      const sub = c === 'route' ? await run(['route', 'get', '--help']) : await run([c, '--help']);
      expect(sub.stdout, c).toMatch(/Examples?:/);
    }
  });

  it('explain lists every check of the registry with its families; explain ID works for each family', async () => {
    const list = await run(['explain']);
    expect(list.exitCode).toBe(0);
    const rows = list.stdout.trim().split('\n').map((l) => l.split(/ {2,}/));
    // The registry's checks and the kernel join's own finding, simulator-disagrees (host).
    expect(rows.map((r) => r[0])).toEqual([...Object.keys(checks), 'simulator-disagrees'].sort());
    for (const [id, families] of rows) expect(families, id).toBe(id === 'simulator-disagrees' ? 'host' : familiesOf(checks[id]).join(', '));
    expect(rows.find((r) => r[0] === 'vpn-selector-gap')![1]).toBe('host, fleet');
    for (const id of ['rp-filter-drop', 'route-captures-peer', 'traceroute-loop']) {
      const one = await run(['explain', id]);
      expect(one.stdout, id).toContain(`${id} (${checks[id].severity}; ${familiesOf(checks[id]).join(', ')}): ${checks[id].title}`);
      expect(one.stdout, id).toContain(checks[id].explain);
    }
    const unknown = await run(['explain', 'no-such-check']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('traceroute-unreachable');
  });

  it('--version prints the version and the protocol version', async () => {
    const r = await run(['--version']);
    expect(r.stdout.trim()).toBe(`${JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version} (protocol ${PROTOCOL_VERSION})`);
  });

  it('exit 1 with an error finding, 0 without', async () => {
    expect((await run(['--bundle', ecs3, '--peer', '172.17.0.64'])).exitCode).toBe(1);
    expect((await run(['--bundle', ecs3, '--peer', '172.18.1.22'])).exitCode).toBe(0);
  });

  it('--ignore CHECK:SUBJECT drops the finding and counts it', async () => {
    const r = await run(['--bundle', ecs3, '--peer', '172.17.0.64', '--json', '--ignore', 'route-captures-peer:docker0 172.17.0.0/16 captures 172.17.0.64']);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout).ignored).toEqual(['route-captures-peer|ecs3|docker0 172.17.0.0/16 captures 172.17.0.64']);
  });

  it('exit 3 when a required source could not be read and nothing is wrong', async () => {
    const dir = join(tmp, 'incomplete');
    cpSync(ecs3, dir, { recursive: true });
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
    const ipt = meta.sources.find((s: { name: string }) => s.name === 'iptables-save');
    Object.assign(ipt, { status: 'failed', message: 'iptables-save: permission denied — run as root, or grant CAP_NET_ADMIN and CAP_NET_RAW' });
    writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
    const r = await run(['--bundle', dir, '--peer', '172.18.1.22']);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toContain('not read: iptables-save: failed — iptables-save: permission denied');
    expect(r.stdout).toContain('INCOMPLETE');
  });

  it('exit 2 on usage errors, with the field named', async () => {
    const bad = await run(['--bundle', ecs3, '--remote', '10.16.0.5/16']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('did you mean 10.16.0.0/16?');
    const cfg = join(tmp, 'bad-config.json');
    writeFileSync(cfg, JSON.stringify({ peers: [{ address: '172.17.0.64' }, { address: 'ecs2' }], ports: ['tcp/99999'], colour: true }));
    const r = await run(['--bundle', ecs3, '--config', cfg]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('peers[1].address: not an IPv4 or IPv6 address');
    expect(r.stderr).toContain('ports[0]: port above 65535');
    expect(r.stderr).toMatch(/Unrecognized key.*colour/);
    expect((await run(['parse', 'no-such-format', '/dev/null'])).exitCode).toBe(2);
    expect((await run(['snapshot', '--bundle', join(tmp, 'absent')])).exitCode).toBe(2);
  });

  it('peers from the config file count like --peer', async () => {
    const cfg = join(tmp, 'config.json');
    writeFileSync(cfg, JSON.stringify({ peers: [{ address: '172.17.0.64', name: 'ecs1' }] }));
    const r = await run(['--bundle', ecs3, '--config', cfg, '--json']);
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout).findings[0].summary).toContain('ecs1 172.17.0.64');
  });

  it('no colour when not on a TTY, whatever NO_COLOR says', async () => {
    const r = await run(['--bundle', ecs3, '--peer', '172.17.0.64']);
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('parse reads stdin and reports warnings with line numbers', async () => {
    const r = await execa(bin, ['parse', 'ip-rule', '-'], { input: '0:\tfrom all lookup local\ngarbage here\n', reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain('warning: line 2');
    expect(r.stderr).toContain('1 records, 1 warnings');
  });

  it('parse ip-route --table NAME gives the routes of `ip route list table NAME` their table', async () => {
    const input = 'default via 10.2.0.1 dev eth1\n10.2.0.0/24 dev eth1 scope link src 10.2.0.10\n';
    const r = await execa(bin, ['parse', 'ip-route', '-', '--table', '100', '--json'], { input, reject: false });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout).records.map((x: { table: string }) => x.table)).toEqual(['100', '100']);
    expect((await execa(bin, ['parse', 'ip-rule', '-', '--table', '100'], { input: '', reject: false })).exitCode).toBe(2);
  });
});
