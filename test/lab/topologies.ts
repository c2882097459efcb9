/**
 * Topologies of the incidents hostcheck must explain (see /work/shared/DESIGN.md, "The incidents").
 */
import type { Topology } from './topology.js';

/** Addresses of the first incident, for tests and docs. */
export const FIRST_INCIDENT = {
  ecs1: '172.17.0.64',
  ecs2: '172.18.1.22',
  ecs3: '172.31.4.18',
  vpc1: '172.17.0.0/24',
  vpc2: '172.18.1.0/24',
  vpc3: '172.31.0.0/20',
  /** The router's address in each VPC: the cloud's x.x.x.253 gateway, never 172.17.0.1. */
  gateway1: '172.17.0.253',
  gateway2: '172.18.1.253',
  gateway3: '172.31.15.253',
  docker0: '172.17.0.1/16',
} as const;

export interface FirstIncidentOptions {
  /** Give ECS3 the idle docker0 that causes the incident (default true). */
  docker0?: boolean;
}

/**
 * The shadowing bridge: three VPCs joined full mesh through `router` (eth1..eth3, one per VPC).
 * ECS3 runs Docker with no containers: docker0 172.17.0.1/16, no ports, NO-CARRIER, whose
 * connected route captures ECS1's 172.17.0.64, so ECS3's replies to ECS1 go into the bridge.
 */
export function firstIncident(options: FirstIncidentOptions = {}): Topology {
  const a = FIRST_INCIDENT;
  return {
    hosts: {
      router: { router: true },
      ecs1: { routes: [`default via ${a.gateway1} dev eth0`] },
      ecs2: { routes: [`default via ${a.gateway2} dev eth0`] },
      ecs3: {
        bridges: options.docker0 === false ? [] : [{ name: 'docker0', addresses: [a.docker0] }],
        routes: [`default via ${a.gateway3} dev eth0`],
      },
    },
    links: [
      { a: { host: 'router', iface: 'eth1', addresses: [`${a.gateway1}/24`] }, b: { host: 'ecs1', iface: 'eth0', addresses: [`${a.ecs1}/24`] } },
      { a: { host: 'router', iface: 'eth2', addresses: [`${a.gateway2}/24`] }, b: { host: 'ecs2', iface: 'eth0', addresses: [`${a.ecs2}/24`] } },
      { a: { host: 'router', iface: 'eth3', addresses: [`${a.gateway3}/20`] }, b: { host: 'ecs3', iface: 'eth0', addresses: [`${a.ecs3}/20`] } },
    ],
  };
}
