/**
 * An nft without JSON, end to end. ECS3 loads a `table inet filter` dropping 172.18.0.0/16 (ecs2);
 * its nft is the real one behind a wrapper first on PATH that refuses `-j` exactly as an nft built
 * without JSON support does (`Error: JSON support not compiled-in`, exit 1). hostcheck then reads
 * `nft -a list ruleset` text: the source's status says so, the drop is an error quoting the rule
 * with its handle as with JSON, `--watch` confirms it by the rule's counter (read from the text at
 * both ends of the window), and the printed fix makes ecs2's pings flow. The capture script
 * falls back alike, and its bundle read with --bundle names the same rule; the same bundle with
 * `nft list ruleset` text (no handles) still names it, its fix saying where the handle is.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SourceMeta } from '../../src/collect/bundle.js';
import { repoRoot } from '../helpers/samples.js';
import { applyPrintedFix, errorsOf, hostcheckReport } from './e2e-helpers.js';
import { meshWithEcs3 } from './check-topologies.js';
import { describeLab, useLab } from './suite.js';
import { FIRST_INCIDENT as fi } from './topologies.js';

const peers = ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`];
const RULESET = 'table inet filter {\n  chain input {\n    type filter hook input priority filter; policy accept;\n    ip saddr 172.18.0.0/16 drop\n  }\n}\n';

describeLab('e2e: an nft without JSON is read from its text listing', () => {
  const lab = useLab(meshWithEcs3({}));
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hc-nft-text-'));
    const real = (await lab().exec('ecs3', ['sh', '-c', 'command -v nft'])).stdout.trim();
    const wrapper = join(dir, 'bin', 'nft');
    await lab().exec('ecs3', ['mkdir', '-p', join(dir, 'bin')]);
    await writeFile(wrapper, `#!/bin/sh\nfor a in "$@"; do case "$a" in -j|--json) echo 'Error: JSON support not compiled-in' >&2; exit 1;; esac; done\nexec ${real} "$@"\n`, { mode: 0o755 });
    env = { PATH: `${join(dir, 'bin')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` };
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the one-shot falls back to nft -a list ruleset text, says so, names the rule with its handle; the fix makes the peer flow', async () => {
    expect((await lab().exec('ecs3', ['nft', '-f', '-'], { input: RULESET })).exitCode).toBe(0);
    expect((await lab().exec('ecs3', ['nft', '-j', 'list', 'ruleset'], { env })).stderr).toMatch(/JSON support not compiled-in/);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(false);

    const r = await lab().hostcheck('ecs3', ['--json', '--name', 'ecs3', ...peers], { env });
    const report = JSON.parse(r.stdout) as Awaited<ReturnType<typeof hostcheckReport>>['report'];
    const nft = report.sources.find((s) => s.name === 'nft')!;
    expect(nft.status).toBe('collected');
    expect(nft.message).toMatch(/^nft -j failed \(nft: exit code 1: Error: JSON support not compiled-in\): read `nft -a list ruleset` text instead; read as `nft list ruleset` text with rule handles \(nft -a\)$/);
    const fw = report.findings.filter((f) => f.check === 'firewall-blocks-peer');
    expect(fw.map((f) => `${f.severity} ${f.subject}`)).toEqual([`error ${fi.ecs2} icmp-in`]);
    expect(fw[0].evidence.map((e) => [e.source, e.text])).toEqual([['nft', expect.stringMatching(/^table inet filter chain input: ip saddr 172\.18\.0\.0\/16 drop # handle \d+$/)]]);
    expect(fw[0].fix[0]).toMatch(/^nft delete rule inet filter input handle \d+$/);
    expect(errorsOf(report).map((x) => x.check)).toEqual(['firewall-blocks-peer']);

    // The capture script falls back alike; its bundle names the same rule.
    const script = await lab().exec('ecs3', ['sh', join(repoRoot, 'hostcheck-capture.sh'), '--out', join(dir, 'sh'), '--name', 'ecs3'], { env });
    expect(script.exitCode, script.stderr).toBe(0);
    const meta = JSON.parse(await readFile(join(dir, 'sh', 'meta.json'), 'utf8')) as { sources: SourceMeta[] };
    expect(meta.sources.find((s) => s.name === 'nft')).toMatchObject({ file: 'nft.txt', status: 'collected', format: 'nft-text', argv: ['nft', '-a', 'list', 'ruleset'], message: nft.message!.replace(/; read as .*$/, '') });
    const fromBundle = await hostcheckReport(lab(), 'ecs3', ['--bundle', join(dir, 'sh'), ...peers]);
    expect(fromBundle.report.findings.filter((f) => f.check === 'firewall-blocks-peer').map((f) => [f.subject, f.evidence[0]?.text])).toEqual([[`${fi.ecs2} icmp-in`, fw[0].evidence[0].text]]);

    // `nft list ruleset` without -a: the same rule named, no handle; the fix says where to find it.
    await writeFile(join(dir, 'sh', 'nft.txt'), (await lab().exec('ecs3', ['nft', 'list', 'ruleset'])).stdout);
    const plain = await hostcheckReport(lab(), 'ecs3', ['--bundle', join(dir, 'sh'), ...peers]);
    const pf = plain.report.findings.filter((f) => f.check === 'firewall-blocks-peer');
    expect(pf.map((f) => [f.severity, f.subject, f.evidence[0]?.text])).toEqual([['error', `${fi.ecs2} icmp-in`, 'table inet filter chain input: ip saddr 172.18.0.0/16 drop']]);
    expect(pf[0].fix[0]).toBe('nft delete rule inet filter input handle HANDLE  # HANDLE: the number after "# handle" that `nft -a list chain inet filter input` prints on the line of: ip saddr 172.18.0.0/16 drop');
    expect(plain.report.sources.find((s) => s.name === 'nft')!.message).toMatch(/read as `nft list ruleset` text, without rule handles/);

    // --watch: the rule's counter read from the text listing at both ends of the window confirms the drop.
    await lab().exec('ecs3', ['nft', 'replace', 'rule', 'inet', 'filter', 'input', 'handle', /handle (\d+)$/.exec(fw[0].evidence[0].text)![1], 'ip', 'saddr', '172.18.0.0/16', 'counter', 'drop'], { check: true });
    let opened: () => void = () => undefined;
    const open = new Promise<void>((r) => (opened = r));
    const watch = lab().hostcheckWithTracefs('ecs3', ['--json', '--name', 'ecs3', '--watch', '3', ...peers], {
      env, onSpawn: (child) => child.stderr?.on('data', (c: Buffer) => String(c).includes('watching') && opened()),
    });
    await Promise.race([open, watch]);
    await lab().ping('ecs2', fi.ecs3, { count: 3 });
    const watched = JSON.parse((await watch).stdout) as typeof report;
    const counted = watched.findings.find((f) => f.check === 'firewall-blocks-peer' && f.subject === `${fi.ecs2} icmp-in`)!;
    expect(counted.kernel?.status, JSON.stringify(counted.kernel)).toBe('confirmed');
    expect(counted.kernel?.evidence.join('\n')).toMatch(/ip saddr 172\.18\.0\.0\/16 counter .*drop.* \+3 /);

    await applyPrintedFix(lab(), 'ecs3', fw[0]);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(true);
    const after = await lab().hostcheck('ecs3', ['--json', '--name', 'ecs3', ...peers], { env });
    expect(errorsOf(JSON.parse(after.stdout) as typeof report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});
