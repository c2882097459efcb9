/** `hostcheck topology import-alibaba`: Alibaba Cloud API responses → a topology file. */
import { Command } from 'commander';
import { stringify } from 'yaml';
import { UsageError } from '../collect/errors.js';
import { parseAddress } from '../net/address.js';
import { AlibabaImportError, importAlibaba, type AlibabaResponses } from '../topology/alibaba-import.js';
import { printJson, readInput, repeatable } from './io.js';

interface ImportFlags {
  routeTables?: string;
  routeEntries?: string;
  vpnConnections?: string;
  vpnGateways?: string;
  privateIp: string[];
  json?: boolean;
}


async function readJson(flag: string, file: string | undefined): Promise<unknown> {
  if (file === undefined) return undefined;
  const text = await readInput(file);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${flag} ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function privateIps(flags: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of flags) {
    const [id, ip] = f.split('=');
    if (!id || !ip || parseAddress(ip) === null) throw new UsageError(`--private-ip ${f}: expected VPN_GATEWAY_ID=IP`);
    (out[id] ??= []).push(ip);
  }
  return out;
}

export function topologyCommand(): Command {
  const cmd = new Command('topology').description('Work with the cloud topology file (docs/topology.md)').addHelpText('after', '\nExample:\n  hostcheck topology import-alibaba --route-tables rt.json --route-entries re.json --vpn-connections vco.json > cloud.yaml');
  cmd.addCommand(
    new Command('import-alibaba')
      .description('Turn the JSON of aliyun vpc DescribeRouteTableList/DescribeRouteEntryList/DescribeVpnConnections/DescribeVpnGateways into a topology file')
      .option('--route-tables <file>', 'DescribeRouteTableList response')
      .option('--route-entries <file>', 'DescribeRouteEntryList response')
      .option('--vpn-connections <file>', 'DescribeVpnConnections response')
      .option('--vpn-gateways <file>', 'DescribeVpnGateways response (names, VPC, vSwitch, public IP)')
      .option('--private-ip <id=ip>', 'a VPN gateway\'s private address (the APIs do not return it; repeatable)', repeatable, [])
      .option('--json', 'print JSON instead of YAML')
      .addHelpText('after', `
Examples:
  aliyun vpc DescribeRouteTableList --RegionId cn-hangzhou --VpcId vpc-x > rt.json
  aliyun vpc DescribeRouteEntryList --RegionId cn-hangzhou --RouteTableId vtb-x > re.json
  aliyun vpc DescribeVpnConnections --RegionId cn-hangzhou --VpnGatewayId vpn-x > vco.json
  hostcheck topology import-alibaba --route-tables rt.json --route-entries re.json \\
    --vpn-connections vco.json --private-ip vpn-x=10.100.1.18 > cloud.yaml`)
      .action(async (flags: ImportFlags) => {
        if (!flags.routeTables && !flags.routeEntries && !flags.vpnConnections && !flags.vpnGateways) {
          throw new UsageError('nothing to import: give at least one of --route-tables, --route-entries, --vpn-connections, --vpn-gateways');
        }
        const input: AlibabaResponses = {
          routeTables: await readJson('--route-tables', flags.routeTables),
          routeEntries: await readJson('--route-entries', flags.routeEntries),
          vpnConnections: await readJson('--vpn-connections', flags.vpnConnections),
          vpnGateways: await readJson('--vpn-gateways', flags.vpnGateways),
          privateIps: privateIps(flags.privateIp),
        };
        try {
          const topology = importAlibaba(input);
          if (flags.json) printJson(topology);
          else process.stdout.write(stringify(topology));
        } catch (err) {
          if (err instanceof AlibabaImportError) throw new UsageError(err.message, { cause: err });
          throw err;
        }
      }),
  );
  return cmd;
}
