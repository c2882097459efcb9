/**
 * The second incident (DESIGN.md): an IDC client reaches another cloud's 10.200.0.0/20 through a
 * VPC router and an IPsec VPN gateway whose selectors and policy routing cover only the IDC's
 * 10.16.0.0/16. Sources outside it are routed in clear back to the VPC router, which routes
 * 10.200.0.0/20 to the gateway again: a loop. This kernel has no ESP states, so covered
 * packets hit the policy and are dropped (XfrmOutNoStates) — never sent anywhere.
 */
import type { Topology } from './topology.js';

export const SECOND_INCIDENT = {
  /** The client outside the selector, and the one inside it (both on the client's eth0). */
  looping: '10.64.3.22',
  working: '10.16.1.5',
  target: '10.200.1.15',
  remote: '10.200.0.0/20',
  covered: '10.16.0.0/16',
  uncovered: '10.64.0.0/16',
  /** The VPN gateway's private address: the "unknown" looping hop. */
  gateway: '10.100.1.18',
  /** The VPC router on the gateway's subnet and on the client's. */
  vpcRouter: '10.100.1.253',
  clientRouter64: '10.64.3.254',
  clientRouter16: '10.16.1.254',
  /** The other cloud's public VPN peer (TEST-NET-2): only ever written into templates. */
  peerPublic: '198.51.100.2',
  gatewayPublic: '198.51.100.1',
} as const;

/** The kernel policy the incident's gateway has (and the lab installs). */
export const SECOND_INCIDENT_POLICY = `src ${SECOND_INCIDENT.covered} dst ${SECOND_INCIDENT.remote} dir out priority 375423 tmpl src ${SECOND_INCIDENT.gateway} dst ${SECOND_INCIDENT.peerPublic} proto esp reqid 1 mode tunnel`;

/**
 * client (10.64.3.22 and 10.16.1.5) — vpcrouter — gateway (10.100.1.18). The gateway's public
 * side is a portless bridge pub0 (198.51.100.1/30), reached for covered sources through
 * `from 10.16.0.0/16 to 10.200.0.0/20 lookup 220`; everything else follows its default route
 * back to the VPC router.
 */
export function secondIncident(): Topology {
  const a = SECOND_INCIDENT;
  return {
    hosts: {
      client: { routes: [`default via ${a.clientRouter64} dev eth0`] },
      vpcrouter: { router: true, routes: [`${a.remote} via ${a.gateway} dev eth0`] },
      gateway: {
        router: true,
        bridges: [{ name: 'pub0', addresses: [`${a.gatewayPublic}/30`] }],
        routes: [
          `default via ${a.vpcRouter} dev eth0`,
          `${a.covered} via ${a.vpcRouter} dev eth0`,
          `${a.uncovered} via ${a.vpcRouter} dev eth0`,
          `${a.remote} dev pub0 table 220`,
        ],
        rules: [`from ${a.covered} to ${a.remote} lookup 220 pref 220`],
        xfrmPolicies: [
          SECOND_INCIDENT_POLICY,
          `src ${a.remote} dst ${a.covered} dir fwd priority 375423 tmpl src ${a.peerPublic} dst ${a.gateway} proto esp reqid 1 mode tunnel`,
          `src ${a.remote} dst ${a.covered} dir in priority 375423 tmpl src ${a.peerPublic} dst ${a.gateway} proto esp reqid 1 mode tunnel`,
        ],
      },
    },
    links: [
      {
        a: { host: 'vpcrouter', iface: 'eth1', addresses: [`${a.clientRouter64}/24`, `${a.clientRouter16}/24`] },
        b: { host: 'client', iface: 'eth0', addresses: [`${a.looping}/24`, `${a.working}/24`] },
      },
      { a: { host: 'vpcrouter', iface: 'eth0', addresses: [`${a.vpcRouter}/24`] }, b: { host: 'gateway', iface: 'eth0', addresses: [`${a.gateway}/24`] } },
    ],
  };
}

/**
 * The same network as the cloud describes it (a topology file): the gateway is a VPN gateway
 * node, not a namespace; the VPC route table sends 10.200.0.0/20 to it and the IDC's networks
 * over the leased line.
 */
export function secondIncidentCloud(): Record<string, unknown> {
  const a = SECOND_INCIDENT;
  return {
    name: 'second incident',
    vpcs: [{ id: 'vpc-idc-link', cidrs: ['10.100.0.0/16'], vswitches: [{ id: 'vsw-vpn', cidr: '10.100.1.0/24', gateway: a.vpcRouter }] }],
    routeTables: [{
      id: 'vtb-main', vpc: 'vpc-idc-link', vswitches: ['vsw-vpn'],
      routes: [
        { destination: a.remote, nextHops: [{ type: 'vpn-gateway', id: 'vpn-cloud2' }] },
        { destination: a.covered, nextHops: [{ type: 'router-interface', id: 'ri-idc' }] },
        { destination: a.uncovered, nextHops: [{ type: 'router-interface', id: 'ri-idc' }] },
      ],
    }],
    vpnGateways: [{
      id: 'vpn-cloud2', name: 'to-other-cloud', vpc: 'vpc-idc-link', vswitch: 'vsw-vpn', privateIps: [a.gateway], publicIp: a.gatewayPublic,
      connections: [{ id: 'vco-cloud2', localSubnets: [a.covered], remoteSubnets: [a.remote] }],
    }],
    hosts: [{ name: 'client', addresses: [a.looping, a.working], role: 'IDC client' }],
  };
}
