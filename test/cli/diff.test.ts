/**
 * `hostcheck diff` on the lab's captures of ECS3 before and after docker0 (fixtures/scenarios,
 * captured from the first incident's namespaces): the changes with their lines and owners, the
 * finding that opened (or resolved) with its check id and likely trigger, text and --json, and
 * the one-shot's --peer, --remote and --config.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DiffReport } from '../../src/cli/commands-diff.js';
import { cliInProcess } from '../helpers/cli.js';
import { repoRoot } from '../helpers/samples.js';
import { tempDir } from '../helpers/aggregator-client.js';

const without = join(repoRoot, 'fixtures/scenarios/first-incident-no-docker0/ecs3');
const withDocker = join(repoRoot, 'fixtures/scenarios/first-incident/ecs3');
const tmp = tempDir();
afterAll(() => tmp.remove());

async function diffJson(args: string[]): Promise<{ code: number; report: DiffReport }> {
  const r = await cliInProcess(['diff', ...args, '--json']);
  return { code: r.code, report: JSON.parse(r.stdout) as DiffReport };
}

describe('hostcheck diff', () => {
  it('names docker0 appearing, the finding it opened with its check id, and the trigger (text)', async () => {
    const r = await cliInProcess(['diff', without, withDocker, '--peer', '172.17.0.64=ecs1']);
    expect(r.code).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines).toContain('changes (3):');
    expect(lines).toContain('  + link docker0 appeared (Docker network "bridge", guessed from the name)');
    expect(lines).toContain('  + docker0 172.17.0.1/16 appeared (Docker network "bridge", guessed from the name)');
    expect(lines).toContain('      after:  inet 172.17.0.1/16 scope global docker0');
    expect(lines).toContain('  + route 172.17.0.0/16 dev docker0 appeared (Docker network "bridge", guessed from the name)');
    expect(lines).toContain('findings opened (1):');
    expect(lines).toContain('ERROR docker0 172.17.0.0/16 (Docker network "bridge") captures replies to ecs1 172.17.0.64: they leave into docker0 instead of eth0  [route-captures-peer]');
    expect(lines).toContain('  trigger: opened between the captures, likely after docker0 172.17.0.1/16 appeared (Docker network "bridge", guessed from the name)');
    expect(lines).toContain('findings resolved: none');
  });

  it('the other way round: the finding resolved by docker0 going, in JSON; exit 0', async () => {
    const { code, report } = await diffJson([withDocker, without, '--peer', '172.17.0.64=ecs1']);
    expect(code).toBe(0);
    expect(report.exitCode).toBe(0);
    // Removing a link takes its addresses and routes: one change.
    expect(report.changes.map((c) => [c.kind, c.action, c.subject])).toEqual([['link', 'removed', 'link docker0']]);
    expect(report.changes[0].before).toBe('docker0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN group default qlen 1000');
    expect(report.findings.opened).toEqual([]);
    expect(report.findings.resolved.map((f) => f.key)).toEqual(['route-captures-peer|ecs3|docker0 172.17.0.0/16 captures 172.17.0.64']);
    expect(report.findings.resolved[0].resolvedBy).toMatchObject({ host: 'ecs3', related: true, change: { kind: 'link', action: 'removed' }, text: 'resolved between the captures, likely after link docker0 went away (Docker network "bridge", guessed from the name)' });
  });

  it('takes the peers from --config as from --peer, and remotes from --remote', async () => {
    const config = join(tmp.dir, 'config.json');
    writeFileSync(config, JSON.stringify({ peers: [{ address: '172.17.0.64', name: 'ecs1' }] }));
    const fromConfig = await diffJson([without, withDocker, '--config', config]);
    const fromFlag = await diffJson([without, withDocker, '--peer', '172.17.0.64=ecs1']);
    expect(fromConfig.report.findings).toEqual(fromFlag.report.findings);
    const none = await diffJson([without, withDocker]);
    expect(none.report.findings.opened.filter((f) => f.summary.includes('ecs1'))).toEqual([]);
    const remote = await diffJson([without, withDocker, '--remote', '172.17.0.0/24']);
    expect(remote.report.findings.opened.map((f) => f.check)).toContain('route-captures-peer');
    expect(remote.report.findings.opened.find((f) => f.check === 'route-captures-peer')!.trigger?.change.subject).toBe('docker0 172.17.0.1/16');
  });

  it('the same capture twice: nothing changed, every finding in both', async () => {
    const { code, report } = await diffJson([withDocker, withDocker, '--peer', '172.17.0.64=ecs1']);
    expect(code).toBe(0);
    expect(report.changes).toEqual([]);
    expect(report.findings.unchanged).toContain('route-captures-peer|ecs3|docker0 172.17.0.0/16 captures 172.17.0.64');
    const text = await cliInProcess(['diff', withDocker, withDocker]);
    expect(text.stdout).toContain('changes: none');
  });

  it('--help shows an example; a bad flag is a usage error', async () => {
    const help = await cliInProcess(['diff', '--help']);
    expect(help.stdout).toContain('hostcheck diff ./ecs3-monday ./ecs3-tuesday --peer 172.17.0.64=ecs1');
    const bad = await cliInProcess(['diff', without, withDocker, '--peer', 'not-an-address']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--peer not-an-address');
  });
});
