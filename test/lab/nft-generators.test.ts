/**
 * Rulesets real generators wrote, evaluated and checked against the kernel:
 * - Debian's firewalld (default zone public, --add-port=8080/tcp, a rich rule dropping
 *   172.18.0.0/16), recorded by scripts/record-firewalld.sh: loaded into ECS3 with `nft -j -f`,
 *   the kernel's answers (ping, TCP connects) against hostcheck's firewall-blocks-peer;
 * - Docker's nft backend (tables `ip docker-bridges`), recorded by scripts/record-docker-nft.sh
 *   from moby's own golden file (Docker cannot run here): its forward and DNAT decisions.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseNft } from '../../parsers/nft.js';
import { evaluatePacket, type NetfilterPacket } from '../../src/simulate/netfilter.js';
import { applyPrintedFix, errorsOf, hostcheckReport } from './e2e-helpers.js';
import { meshWithEcs3 } from './check-topologies.js';
import type { Lab } from './lab.js';
import { describeLab, useLab } from './suite.js';
import { FIRST_INCIDENT as fi } from './topologies.js';

const dir = join(import.meta.dirname, 'nft-rulesets');

/** What a TCP connect from `host` to `dst:port` meets: refused (reached, no listener), unreachable (an ICMP error), or timeout (dropped). */
async function connect(lab: Lab, host: string, dst: string, port: number): Promise<string> {
  const script = `import socket,sys\ns=socket.socket()\ns.settimeout(1.5)\ntry:\n  s.connect((sys.argv[1], int(sys.argv[2])))\n  print('connected')\nexcept ConnectionRefusedError:\n  print('refused')\nexcept socket.timeout:\n  print('timeout')\nexcept OSError as e:\n  print('unreachable' if e.errno in (113, 101) else 'error %d' % e.errno)\n`;
  return (await lab.exec(host, ['python3', '-c', script, dst, String(port)])).stdout.trim();
}

describeLab('nft generators: firewalld (Debian) against the kernel', () => {
  const lab = useLab(meshWithEcs3({}));
  const peers = ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`, '--port', 'tcp/8080', '--port', 'tcp/9999'];

  it('the kernel and hostcheck agree on every probe; the printed fix lets the dropped peer in', async () => {
    expect((await lab().exec('ecs3', ['nft', '-j', '-f', join(dir, 'firewalld-public.json')])).exitCode).toBe(0);
    // The kernel: ecs1 pings and reaches 8080 (no listener: refused), 9999 is rejected; ecs2 is dropped.
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(true);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(false);
    expect(await connect(lab(), 'ecs1', fi.ecs3, 8080)).toBe('refused');
    expect(await connect(lab(), 'ecs1', fi.ecs3, 9999)).toBe('unreachable');
    expect(await connect(lab(), 'ecs2', fi.ecs3, 8080)).toBe('timeout');

    const { report } = await hostcheckReport(lab(), 'ecs3', peers);
    const fw = report.findings.filter((f) => f.check === 'firewall-blocks-peer');
    expect(fw.map((f) => `${f.severity} ${f.subject}`).sort()).toEqual([
      `error ${fi.ecs1} tcp/9999`, `error ${fi.ecs2} icmp-in`, `error ${fi.ecs2} tcp/8080`, `error ${fi.ecs2} tcp/9999`,
    ].sort());
    const reject = fw.find((f) => f.subject === `${fi.ecs1} tcp/9999`)!;
    expect(reject.summary).toMatch(/rejects TCP 9999 .*inet firewalld\/filter_IN_public handle \d+ \(native nft\): reject with icmpx admin-prohibited/);
    const drop = fw.find((f) => f.subject === `${fi.ecs2} icmp-in`)!;
    expect(drop.summary).toContain('inet firewalld/filter_IN_public_deny');
    // The jumps that led there, then the rule.
    expect(drop.evidence.map((e) => e.text.replace(/ # handle \d+$/, ''))).toEqual([
      'table inet firewalld chain filter_INPUT: jump filter_INPUT_ZONES',
      'table inet firewalld chain filter_INPUT_ZONES: goto filter_IN_public',
      'table inet firewalld chain filter_IN_public: jump filter_IN_public_deny',
      'table inet firewalld chain filter_IN_public_deny: ip saddr 172.18.0.0/16 drop',
    ]);
    await applyPrintedFix(lab(), 'ecs3', drop);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(true);
    const after = await hostcheckReport(lab(), 'ecs3', peers);
    expect(errorsOf(after.report).filter((f) => f.check === 'firewall-blocks-peer').map((f) => f.subject)).toEqual([`${fi.ecs1} tcp/9999`, `${fi.ecs2} tcp/9999`]);
  });
});

describe("nft generators: Docker's nft backend (recorded from moby's golden file)", () => {
  const tables = parseNft(readFileSync(join(dir, 'docker-bridges.json'), 'utf8'));
  const ruleset = { tables: [], nftTables: tables.records };
  const fwd = (over: Partial<NetfilterPacket>): NetfilterPacket => ({ family: 4, src: '203.0.113.9', dst: '192.168.0.2', proto: 'tcp', sport: 40000, dport: 80, tcpFlags: 2, inIf: 'eth0', outIf: 'br-dummy', ctstate: 'NEW', ...over });
  const locals = [{ cidr: '198.51.100.10/24', dev: 'eth0' }, { cidr: '192.168.0.1/24', dev: 'br-dummy' }];

  it('reads the table as native', () => {
    expect(tables.warnings).toEqual([]);
    expect(tables.records.map((t) => `${t.family} ${t.name} ${t.managedBy}`)).toEqual(['ip docker-bridges native']);
  });

  it('a packet straight to the container from outside its bridge is dropped in raw; containers get out with SNAT', () => {
    const opts = { path: 'forward' as const, localAddresses: locals };
    for (const dport of [80, 81]) {
      const direct = evaluatePacket(ruleset, fwd({ dport }), opts);
      expect(direct.verdict).toBe('drop');
      expect(direct.decidedBy?.chain).toBe('raw-PREROUTING');
      expect(direct.decidedBy?.rule?.nft?.text).toMatch(/^ip daddr 192\.168\.0\.2 iifname != "br-dummy" counter packets 0 bytes 0 drop/);
    }
    const out = evaluatePacket(ruleset, fwd({ src: '192.168.0.2', dst: '203.0.113.9', inIf: 'br-dummy', outIf: 'eth0', dport: 443 }), opts);
    expect(out.verdict).toBe('accept');
    expect(out.final.src).toBe('192.168.123.0');
  });

  it('the published port 8080 of a host address is DNATed to the container and forwarded', () => {
    const dnat = evaluatePacket(ruleset, fwd({ dst: '198.51.100.10', dport: 8080 }), { path: 'forward', localAddresses: locals });
    expect(dnat.final).toMatchObject({ dst: '192.168.0.2', dport: 80 });
    expect(dnat.verdict).toBe('accept');
    expect(dnat.decisions.map((d) => `${d.hook} ${d.chain} ${d.verdict}`)).toContain('FORWARD filter-forward-in__br-dummy accept');
  });
});
