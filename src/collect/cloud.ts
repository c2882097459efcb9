/**
 * Cloud identity. DMI (/sys/class/dmi/id) says which cloud this is; only then is that cloud's
 * metadata service asked, with a short timeout and the token handshake (AWS IMDSv2, Alibaba's
 * hardened mode). Nothing is ever sent to a metadata address when DMI does not name the cloud.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CloudIdentity } from '../model/snapshot.js';

export type CloudProvider = 'alibaba' | 'aws';

async function readDmi(root: string, name: string): Promise<string> {
  try {
    return readFileSync(join(root, name), 'utf8').trim();
  } catch {
    return '';
  }
}

/** Which cloud DMI names, or undefined. Reads files only. */
export async function detectCloud(dmiRoot = '/sys/class/dmi/id'): Promise<CloudProvider | undefined> {
  const [sysVendor, productName, biosVendor, biosVersion, chassisAsset] = await Promise.all(
    ['sys_vendor', 'product_name', 'bios_vendor', 'bios_version', 'chassis_asset_tag'].map((n) => readDmi(dmiRoot, n)),
  );
  if (/alibaba cloud/i.test(sysVendor) || /alibaba cloud ecs/i.test(productName)) return 'alibaba';
  if (/amazon ec2/i.test(sysVendor) || /amazon ec2/i.test(biosVendor) || /amazon/i.test(biosVersion) || /^amazon ec2$/i.test(chassisAsset)) return 'aws';
  return undefined;
}

export const METADATA_BASE: Record<CloudProvider, string> = {
  alibaba: 'http://100.100.100.200',
  aws: 'http://169.254.169.254',
};

interface MetadataClient {
  get(path: string): Promise<string | undefined>;
}

async function makeClient(provider: CloudProvider, base: string, timeoutMs: number): Promise<MetadataClient> {
  const tokenHeader = provider === 'aws' ? 'X-aws-ec2-metadata-token' : 'X-aliyun-ecs-metadata-token';
  const ttlHeader = provider === 'aws' ? 'X-aws-ec2-metadata-token-ttl-seconds' : 'X-aliyun-ecs-metadata-token-ttl-seconds';
  let token: string | undefined;
  try {
    const r = await fetch(`${base}/latest/api/token`, { method: 'PUT', headers: { [ttlHeader]: '60' }, signal: AbortSignal.timeout(timeoutMs) });
    if (r.ok) token = (await r.text()).trim();
  } catch {
    // Token endpoint absent or unreachable: try plain requests (IMDSv1 / normal mode).
  }
  return {
    async get(path: string) {
      try {
        const r = await fetch(`${base}/latest/meta-data/${path}`, {
          headers: token ? { [tokenHeader]: token } : {},
          signal: AbortSignal.timeout(timeoutMs),
        });
        return r.ok ? (await r.text()).trim() : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

const lines = (s: string | undefined): string[] => (s ? s.split('\n').map((l) => l.trim().replace(/\/$/, '')).filter(Boolean) : []);

/** Ask the metadata service of a cloud DMI already named. */
export async function fetchCloudIdentity(provider: CloudProvider, opts: { base?: string; timeoutMs?: number } = {}): Promise<CloudIdentity | undefined> {
  const client = await makeClient(provider, opts.base ?? METADATA_BASE[provider], opts.timeoutMs ?? 1000);
  if (provider === 'alibaba') {
    const [instanceId, region, zone, vpcId, vpcCidr, subnetId, subnetCidr, macs] = await Promise.all(
      ['instance-id', 'region-id', 'zone-id', 'vpc-id', 'vpc-cidr-block', 'vswitch-id', 'vswitch-cidr-block', 'network/interfaces/macs/'].map((p) => client.get(p)),
    );
    if (!instanceId) return undefined;
    const privateIps = await Promise.all(
      lines(macs).map(async (mac) => ({ mac, ips: lines((await client.get(`network/interfaces/macs/${mac}/private-ipv4s`))?.replace(/[[\]"]/g, '').replace(/,/g, '\n')) })),
    );
    return { provider, instanceId, region, zone, vpcId, vpcCidrs: lines(vpcCidr), subnetId, subnetCidrs: lines(subnetCidr), privateIps };
  }
  const [instanceId, region, zone, mac] = await Promise.all(
    ['instance-id', 'placement/region', 'placement/availability-zone', 'mac'].map((p) => client.get(p)),
  );
  if (!instanceId) return undefined;
  const macs = lines(await client.get('network/interfaces/macs/'));
  const primary = mac ?? macs[0];
  const [vpcId, vpcCidrs, subnetId, subnetCidr] = primary
    ? await Promise.all(['vpc-id', 'vpc-ipv4-cidr-blocks', 'subnet-id', 'subnet-ipv4-cidr-block'].map((p) => client.get(`network/interfaces/macs/${primary}/${p}`)))
    : [undefined, undefined, undefined, undefined];
  const privateIps = await Promise.all(macs.map(async (m) => ({ mac: m, ips: lines(await client.get(`network/interfaces/macs/${m}/local-ipv4s`)) })));
  return { provider, instanceId, region, zone, vpcId, vpcCidrs: lines(vpcCidrs), subnetId, subnetCidrs: lines(subnetCidr), privateIps };
}

/** DMI first; the metadata service only when DMI names a cloud. */
export async function collectCloudIdentity(opts: { dmiRoot?: string; base?: string; timeoutMs?: number } = {}): Promise<CloudIdentity | undefined> {
  const provider = await detectCloud(opts.dmiRoot);
  if (!provider) return undefined;
  return fetchCloudIdentity(provider, opts);
}
