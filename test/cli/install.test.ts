/**
 * `hostcheck install` / `uninstall`: the generated units (hardening, systemd-analyze verify, the
 * committed copies), --dry-run output, and a real install then uninstall into a --root directory.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { installCommand, uninstallCommand } from '../../src/cli/commands-install.js';
import { parseConfig } from '../../src/model/config.js';
import { agentUnit, committedUnits, execLine, serveUnit } from '../../src/install/units.js';
import { repoRoot } from '../helpers/samples.js';

const EXEC = [process.execPath, join(repoRoot, 'bin', 'hostcheck')];
const asRoot = process.getuid?.() === 0;
const hasUseradd = spawnSync('useradd', ['--help']).status === 0;
const hasSystemctl = spawnSync('systemctl', ['--version']).status === 0;
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
const temps: string[] = [];

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'hostcheck-install-'));
  temps.push(d);
  return d;
}

afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
  process.exitCode = undefined;
});

/** key → values of a unit's [Service] section. */
function serviceSection(unit: string): Map<string, string[]> {
  const section = unit.split('[Service]')[1].split('[Install]')[0];
  const m = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && !line.startsWith('#')) m.set(line.slice(0, eq), [...(m.get(line.slice(0, eq)) ?? []), line.slice(eq + 1)]);
  }
  return m;
}

/** Run install or uninstall in-process; returns exit code and what it printed. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    const program = new Command('hostcheck').exitOverride().addCommand(installCommand()).addCommand(uninstallCommand());
    for (const c of program.commands) c.exitOverride();
    await program.parseAsync(['node', 'hostcheck', ...args]);
    return { code: typeof process.exitCode === 'number' ? process.exitCode : 0, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/** Every path under dir with its type and, for files, content (the tree install must restore). */
function tree(dir: string, skip: (p: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = p.slice(dir.length);
      if (skip(rel)) continue;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out[rel] = 'dir';
        walk(p);
      } else out[rel] = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

/** A minimal image root: the account files useradd --prefix edits (with their usual backups). */
function imageRoot(): string {
  const root = temp();
  mkdirSync(join(root, 'etc'));
  const files = { passwd: 'root:x:0:0:root:/root:/bin/bash\n', group: 'root:x:0:\n', shadow: 'root:*:19000:0:99999:7:::\n', gshadow: 'root:*::\n' };
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(root, 'etc', name), text);
    writeFileSync(join(root, 'etc', `${name}-`), text);
  }
  chmodSync(join(root, 'etc', 'shadow'), 0o640);
  return root;
}

describe('the agent unit', () => {
  const service = serviceSection(agentUnit({ exec: EXEC }));
  it('runs as the hostcheck user with exactly NET_ADMIN and NET_RAW, ambient, and the sandbox options', () => {
    expect(service.get('User')).toEqual(['hostcheck']);
    expect(service.get('AmbientCapabilities')).toEqual(['CAP_NET_ADMIN CAP_NET_RAW']);
    expect(service.get('CapabilityBoundingSet')).toEqual(['CAP_NET_ADMIN CAP_NET_RAW']);
    for (const [k, v] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'], ['StateDirectory', 'hostcheck'], ['Restart', 'on-failure'], ['RestartSec', '30s'], ['RestartPreventExitStatus', '2']]) {
      expect(service.get(k), k).toEqual([v]);
    }
    expect(service.get('MemoryMax')).toEqual(['320M']);
    expect(service.get('CPUQuota')).toEqual(['50%']);
    expect(service.get('ExecStart')).toEqual([`${execLine(EXEC)} agent --config /etc/hostcheck/config.json`]);
    // No MemoryDenyWriteExecute: V8's JIT needs writable code pages.
    expect(service.has('MemoryDenyWriteExecute')).toBe(false);
  });
  it('joins the docker group only when asked', () => {
    expect(service.has('SupplementaryGroups')).toBe(false);
    expect(serviceSection(agentUnit({ exec: EXEC, docker: true })).get('SupplementaryGroups')).toEqual(['docker']);
  });
  it('quotes ExecStart words the way systemd reads them', () => {
    expect(execLine(['/opt/host check/node', '50%', 'a$b'])).toBe('"/opt/host check/node" "50%%" "a$$b"');
  });
  it('keeps the aggregator\'s database in its state directory', () => {
    const serve = serviceSection(serveUnit({ exec: EXEC }));
    expect(serve.get('StateDirectory')).toEqual(['hostcheck-serve']);
    expect(serve.get('ExecStart')?.[0]).toContain('--db /var/lib/hostcheck-serve/hostcheck.db');
  });
  it('matches the committed systemd/ files (regenerate: HOSTCHECK_WRITE_UNITS=1 npx vitest run test/cli/install.test.ts)', () => {
    for (const [name, text] of Object.entries(committedUnits())) {
      const path = join(repoRoot, 'systemd', name);
      if (process.env.HOSTCHECK_WRITE_UNITS === '1') writeFileSync(path, text);
      expect(readFileSync(path, 'utf8'), name).toBe(text);
    }
  });
  it('passes systemd-analyze verify (ExecStart pointing at this node and bin/hostcheck)', (ctx) => {
    if (!hasAnalyze) {
      if (process.env.CI === 'true') throw new Error('systemd-analyze is missing: CI must install the systemd package');
      ctx.skip();
    }
    const dir = temp();
    writeFileSync(join(dir, 'hostcheck-agent.service'), agentUnit({ exec: EXEC, docker: true }));
    writeFileSync(join(dir, 'hostcheck-serve.service'), serveUnit({ exec: EXEC }));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', 'hostcheck-agent.service', 'hostcheck-serve.service'], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr + r.stdout).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('hostcheck install --dry-run', () => {
  it('prints every file and command and changes nothing', async () => {
    const root = imageRoot();
    const enrol = join(temp(), 'enrol');
    writeFileSync(enrol, 'enrol-secret-0123456789abcdef\n');
    const before = tree(root);
    const r = await cli(['install', '--root', root, '--server', 'wss://hostcheck.internal:8443', '--enrol-token-file', enrol, '--exec', EXEC.join(' '), '--dry-run']);
    expect(r.code).toBe(0);
    expect(tree(root)).toEqual(before);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^# hostcheck install --dry-run: nothing was changed/);
    expect(lines).toContain(`useradd --prefix ${root} --system --user-group --home-dir /var/lib/hostcheck --no-create-home --shell /usr/sbin/nologin hostcheck`);
    expect(lines).toContain(`install -d -m 0755 -o root -g root ${root}/etc/hostcheck`);
    expect(lines).toContain(`cat > ${root}/etc/hostcheck/config.json <<'HOSTCHECK_EOF'`);
    expect(lines).toContain('  "server": "wss://hostcheck.internal:8443",');
    expect(lines).toContain(`install -m 0640 -o root -g hostcheck ${enrol} ${root}/etc/hostcheck/enrol-token   # 30 bytes, not shown`);
    expect(r.out).not.toContain('enrol-secret');
    expect(r.out).toContain(agentUnit({ exec: EXEC }));
    expect(lines).toContain(`systemctl --root=${root} enable hostcheck-agent.service`);
    expect(lines.at(-2)).toMatch(/^# write .*install-manifest.json/);
  });
  it('on a live system: daemon-reload, enable --now', async () => {
    const r = await cli(['install', '--server', 'ws://10.0.0.5:7480', '--exec', '/usr/local/bin/hostcheck', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\nsystemctl daemon-reload\nsystemctl enable --now hostcheck-agent.service\n/);
  });
  it('refuses a config that would not validate, naming the field', async () => {
    await expect(cli(['install', '--server', 'http://10.0.0.5', '--exec', '/usr/local/bin/hostcheck', '--dry-run'])).rejects.toThrow(/server: must be a ws:\/\/, wss:\/\/ or ws\+unix:\/\/\/ URL/);
    await expect(cli(['install', '--exec', '/usr/local/bin/hostcheck', '--dry-run', '--root', imageRoot()])).rejects.toThrow(/no server/);
  });
});

describe.skipIf(!asRoot || !hasUseradd || !hasSystemctl)('hostcheck install then uninstall under --root', () => {
  it('installs a valid config, the unit, the user and the enable link; uninstall leaves the tree as it was', async () => {
    const root = imageRoot();
    const src = temp();
    writeFileSync(join(src, 'enrol'), 'enrol-secret-0123456789abcdef\n');
    writeFileSync(join(src, 'token'), 'host-token-0123456789abcdef\n');
    // An existing config keeps its peers; install adds the agent's fields and uninstall restores it.
    mkdirSync(join(root, 'etc', 'hostcheck'));
    const ownConfig = JSON.stringify({ peers: [{ address: '172.17.0.64', name: 'ecs1' }] }) + '\n';
    writeFileSync(join(root, 'etc', 'hostcheck', 'config.json'), ownConfig);
    const backups = (p: string) => /^\/etc\/(passwd|group|shadow|gshadow)-$/.test(p);
    const before = tree(root, backups);

    const r = await cli(['install', '--root', root, '--server', 'ws+unix:///run/hostcheck.sock', '--enrol-token-file', join(src, 'enrol'), '--token-file', join(src, 'token'), '--exec', EXEC.join(' ')]);
    expect(r.err).toContain('enabled hostcheck-agent.service');
    expect(r.code).toBe(0);
    const config = JSON.parse(readFileSync(join(root, 'etc/hostcheck/config.json'), 'utf8'));
    expect(parseConfig(config).errors).toEqual([]);
    expect(config).toMatchObject({ peers: [{ address: '172.17.0.64', name: 'ecs1' }], server: 'ws+unix:///run/hostcheck.sock', enrolTokenFile: '/etc/hostcheck/enrol-token', tokenFile: '/var/lib/hostcheck/token' });
    expect(readFileSync(join(root, 'etc/systemd/system/hostcheck-agent.service'), 'utf8')).toBe(agentUnit({ exec: EXEC }));
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/hostcheck-agent.service'))).toBe('/etc/systemd/system/hostcheck-agent.service');
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    const uid = Number(/^hostcheck:x:(\d+):(\d+):/m.exec(passwd)?.[1]);
    const gid = Number(/^hostcheck:x:(\d+):(\d+):/m.exec(passwd)?.[2]);
    const enrolStat = lstatSync(join(root, 'etc/hostcheck/enrol-token'));
    expect([enrolStat.mode & 0o777, enrolStat.uid, enrolStat.gid]).toEqual([0o640, 0, gid]);
    const tokenStat = lstatSync(join(root, 'var/lib/hostcheck/token'));
    expect([tokenStat.mode & 0o777, tokenStat.uid]).toEqual([0o600, uid]);
    expect(lstatSync(join(root, 'var/lib/hostcheck')).mode & 0o777).toBe(0o700);

    // A second install (an upgrade) keeps the first one's record of what was there before.
    expect((await cli(['install', '--root', root, '--server', 'ws+unix:///run/hostcheck.sock', '--exec', EXEC.join(' ')])).code).toBe(0);

    const u = await cli(['uninstall', '--root', root]);
    expect(u.code).toBe(0);
    expect(tree(root, backups)).toEqual(before);
    expect(readFileSync(join(root, 'etc/hostcheck/config.json'), 'utf8')).toBe(ownConfig);
  });
  it('uninstall without a manifest says nothing was installed', async () => {
    await expect(cli(['uninstall', '--root', imageRoot()])).rejects.toThrow(/nothing was installed/);
  });
});

describe('install refuses to run as a non-root user on a live system', () => {
  it.skipIf(asRoot)('says to use root, --dry-run or --root', async () => {
    await expect(cli(['install', '--server', 'ws://10.0.0.5:7480'])).rejects.toThrow(/run as root/);
  });
  it('needs an absolute --root', async () => {
    await expect(cli(['install', '--root', 'relative/dir', '--server', 'ws://10.0.0.5:7480', '--dry-run'])).rejects.toThrow(/absolute/);
  });
});
