import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { collectCloudIdentity, detectCloud } from '../../src/collect/cloud.js';
import { startMetadataDouble, type MetadataDouble } from '../doubles/metadata-server.js';

async function dmi(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-dmi-'));
  await mkdir(dir, { recursive: true });
  for (const [k, v] of Object.entries(files)) await writeFile(join(dir, k), v + '\n');
  return dir;
}

describe('cloud identity (DMI first, then a metadata TEST DOUBLE on loopback)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('recognises Alibaba Cloud ECS and AWS EC2 from DMI, and nothing else', async () => {
    const ali = await dmi({ sys_vendor: 'Alibaba Cloud', product_name: 'Alibaba Cloud ECS' });
    const aws = await dmi({ sys_vendor: 'Amazon EC2', product_name: 't3.micro', bios_vendor: 'Amazon EC2' });
    const kvm = await dmi({ sys_vendor: 'QEMU', product_name: 'Standard PC (Q35 + ICH9, 2009)' });
    cleanups.push(...[ali, aws, kvm].map((d) => () => rm(d, { recursive: true, force: true })));
    expect(await detectCloud(ali)).toBe('alibaba');
    expect(await detectCloud(aws)).toBe('aws');
    expect(await detectCloud(kvm)).toBeUndefined();
    expect(await detectCloud(join(kvm, 'absent'))).toBeUndefined();
  });

  it('sends no request at all when DMI names no cloud', async () => {
    const md = await startMetadataDouble('aws', { 'instance-id': 'i-1' });
    const kvm = await dmi({ sys_vendor: 'QEMU' });
    cleanups.push(() => md.close(), () => rm(kvm, { recursive: true, force: true }));
    expect(await collectCloudIdentity({ dmiRoot: kvm, base: md.base })).toBeUndefined();
    expect(md.requests).toEqual([]);
  });

  it('AWS: IMDSv2 token handshake, then VPC and subnet of the primary NIC', async () => {
    const mac = '0e:1a:2b:3c:4d:5e';
    const md: MetadataDouble = await startMetadataDouble('aws', {
      'instance-id': 'i-0abc', 'placement/region': 'eu-west-1', 'placement/availability-zone': 'eu-west-1a', mac,
      'network/interfaces/macs/': `${mac}/`,
      [`network/interfaces/macs/${mac}/vpc-id`]: 'vpc-123', [`network/interfaces/macs/${mac}/vpc-ipv4-cidr-blocks`]: '10.0.0.0/16\n100.64.0.0/16',
      [`network/interfaces/macs/${mac}/subnet-id`]: 'subnet-9', [`network/interfaces/macs/${mac}/subnet-ipv4-cidr-block`]: '10.0.1.0/24',
      [`network/interfaces/macs/${mac}/local-ipv4s`]: '10.0.1.5\n10.0.1.6',
    }, { requireToken: true });
    const aws = await dmi({ sys_vendor: 'Amazon EC2' });
    cleanups.push(() => md.close(), () => rm(aws, { recursive: true, force: true }));
    const id = await collectCloudIdentity({ dmiRoot: aws, base: md.base });
    expect(md.requests[0]).toBe('PUT /latest/api/token');
    expect(id).toEqual({
      provider: 'aws', instanceId: 'i-0abc', region: 'eu-west-1', zone: 'eu-west-1a', vpcId: 'vpc-123',
      vpcCidrs: ['10.0.0.0/16', '100.64.0.0/16'], subnetId: 'subnet-9', subnetCidrs: ['10.0.1.0/24'],
      privateIps: [{ mac, ips: ['10.0.1.5', '10.0.1.6'] }],
    });
  });

  it("Alibaba Cloud: hardened mode token, VPC and vSwitch CIDRs", async () => {
    const mac = '00:16:3e:01:02:03';
    const md = await startMetadataDouble('alibaba', {
      'instance-id': 'i-bp1abc', 'region-id': 'cn-hangzhou', 'zone-id': 'cn-hangzhou-h', 'vpc-id': 'vpc-bp1', 'vpc-cidr-block': '172.31.0.0/16',
      'vswitch-id': 'vsw-bp1', 'vswitch-cidr-block': '172.31.4.0/24', 'network/interfaces/macs/': `${mac}/`,
      [`network/interfaces/macs/${mac}/private-ipv4s`]: '["172.31.4.18"]',
    }, { requireToken: true });
    const ali = await dmi({ sys_vendor: 'Alibaba Cloud', product_name: 'Alibaba Cloud ECS' });
    cleanups.push(() => md.close(), () => rm(ali, { recursive: true, force: true }));
    const id = await collectCloudIdentity({ dmiRoot: ali, base: md.base });
    expect(id).toMatchObject({ provider: 'alibaba', instanceId: 'i-bp1abc', region: 'cn-hangzhou', vpcCidrs: ['172.31.0.0/16'], subnetCidrs: ['172.31.4.0/24'], privateIps: [{ mac, ips: ['172.31.4.18'] }] });
  });
});
