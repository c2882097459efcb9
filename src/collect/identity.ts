/** Host identity through systeminformation (hostname, OS, kernel) and /etc/machine-id. */
import { readFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';

export interface LocalIdentity {
  hostname: string;
  machineId?: string;
  os?: string;
  kernel?: string;
}

export async function collectIdentity(): Promise<LocalIdentity> {
  let machineId: string | undefined;
  try {
    machineId = (await readFile('/etc/machine-id', 'utf8')).trim() || undefined;
  } catch {
    machineId = undefined;
  }
  try {
    const si = await import('systeminformation');
    const info = await si.osInfo();
    if (!machineId) {
      const uuid = await si.uuid();
      machineId = uuid.os || undefined;
    }
    return { hostname: info.hostname || osHostname(), machineId, os: [info.distro, info.release].filter(Boolean).join(' ') || undefined, kernel: info.kernel || undefined };
  } catch {
    return { hostname: osHostname(), machineId };
  }
}
