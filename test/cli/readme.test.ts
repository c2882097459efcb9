/**
 * The README's set-up: two copy-pasteable commands that work as a user with sudo and in a root
 * shell without it, and .ci/run installs what they install and runs the same test command.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/samples.js';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
const ci = readFileSync(join(repoRoot, '.ci', 'run'), 'utf8');
/** The first two ```sh blocks: the set-up command and the test command. */
const [setup, test] = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].trim()).slice(0, 2);
const SUDO_CHOICE = 'sudo=$(command -v sudo); ';

const aptPackages = (command: string): string[] =>
  [...command.matchAll(/apt-get install ((?:-\S+ )*)([a-z0-9][a-z0-9 .+-]*?)(?= &&|>|$)/gm)].flatMap((m) => m[2].trim().split(/\s+/));

const tmp = mkdtempSync(join(tmpdir(), 'hc-readme-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('README set-up', () => {
  it('has one line per command, choosing sudo only where it exists', () => {
    for (const command of [setup, test]) {
      expect(command).not.toContain('\n');
      expect(command.startsWith(SUDO_CHOICE), command).toBe(true);
      // Every privileged step goes through $sudo; no bare sudo a root shell without it would miss.
      expect(command.slice(SUDO_CHOICE.length)).not.toMatch(/(^|[;&|]\s*)sudo\s/);
      execFileSync('/bin/sh', ['-n', '-c', command]);
    }
  });

  it('the sudo choice is empty in a root shell without sudo, and sudo where there is one', () => {
    const choice = (path: string): string => execFileSync('/bin/sh', ['-c', `${SUDO_CHOICE}printf '[%s]' "$sudo"`], { env: { PATH: path }, encoding: 'utf8' });
    const empty = join(tmp, 'empty');
    const withSudo = join(tmp, 'with-sudo');
    execFileSync('mkdir', ['-p', empty, withSudo]);
    symlinkSync('/bin/true', join(withSudo, 'sudo'));
    expect(choice(empty)).toBe('[]');
    expect(choice(withSudo)).toBe(`[${join(withSudo, 'sudo')}]`);
    // So the root shell runs `apt-get ...` itself: every privileged step is written `$sudo STEP`.
    expect(setup).toMatch(/\$sudo apt-get update && \$sudo apt-get install -y [^&]+ && npm ci && \$sudo bin\/hostcheck$/);
    expect(test).toMatch(/\$sudo apt-get install -y [^&]+ && \$sudo npm test$/);
  });

  it('.ci/run installs every package the README installs and runs npm test', () => {
    const ciPackages = new Set(aptPackages(ci));
    const readmePackages = [...aptPackages(setup), ...aptPackages(test)];
    expect(readmePackages).toEqual(expect.arrayContaining(['iproute2', 'iptables', 'nftables', 'ipset', 'iputils-ping', 'traceroute', 'python3', 'chromium']));
    for (const p of readmePackages) expect(ciPackages.has(p), p).toBe(true);
    expect(ci).toMatch(/^npm test\b/m);
  });
});
