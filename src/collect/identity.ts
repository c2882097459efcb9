/**
 * Host identity: hostname and kernel from node:os, the OS from the release files (read the way
 * systeminformation's osInfo reads them, so the names match), and /etc/machine-id.
 * systeminformation itself is loaded only when there is no /etc/machine-id (its uuid() finds
 * other ids): its import and osInfo (a synchronous `hostname -f`, a UEFI probe) cost the
 * one-shot 35–55 ms for a hostname it takes from os.hostname() anyway.
 */
// Synchronous: small local files; fs/promises costs the one-shot more than the reads themselves.
import { readdirSync, readFileSync } from 'node:fs';
import { hostname as osHostname, release as osRelease } from 'node:os';

export interface LocalIdentity {
  hostname: string;
  machineId?: string;
  os?: string;
  kernel?: string;
}

async function readOr(path: string): Promise<string> {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** What `cat /etc/*-release; cat /usr/lib/os-release; cat /etc/openwrt_release` prints. */
async function releaseText(): Promise<string> {
  let names: string[] = [];
  try {
    names = readdirSync('/etc').filter((n) => n.endsWith('-release') && !n.startsWith('.')).sort();
  } catch {
    names = [];
  }
  const paths = [...names.map((n) => `/etc/${n}`), '/usr/lib/os-release', '/etc/openwrt_release'];
  return (await Promise.all(paths.map(readOr))).join('');
}

/** "Debian GNU/Linux 12" from release files: systeminformation's distro and release rules. */
export function osName(text: string): string | undefined {
  const release: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.indexOf('=') !== -1) release[line.split('=')[0].trim().toUpperCase()] = line.split('=')[1].trim();
  }
  const distro = (release.DISTRIB_ID || release.NAME || 'unknown').replace(/"/g, '');
  let version = (release.VERSION || '').replace(/"/g, '');
  const prettyName = (release.PRETTY_NAME || '').replace(/"/g, '');
  if (prettyName.indexOf(distro + ' ') === 0) version = prettyName.replace(distro + ' ', '').trim();
  if (version.indexOf('(') >= 0) version = version.split('(')[0].trim();
  const rel = (version || release.DISTRIB_RELEASE || release.VERSION_ID || 'unknown').replace(/"/g, '');
  return [distro, rel].filter(Boolean).join(' ') || undefined;
}

async function machineIdOf(): Promise<string | undefined> {
  const id = (await readOr('/etc/machine-id')).trim();
  if (id) return id;
  try {
    const si = await import('systeminformation');
    return (await si.uuid()).os || undefined;
  } catch {
    return undefined;
  }
}

export async function collectIdentity(): Promise<LocalIdentity> {
  const [machineId, text] = await Promise.all([machineIdOf(), releaseText()]);
  return { hostname: osHostname(), machineId, os: osName(text), kernel: osRelease() || undefined };
}
