/**
 * The fleet check registry: keys are check ids, equal to the file names in this folder and to
 * the folders of fixtures/fleet-checks/. A test asserts they agree.
 */
import { routeCapturesPeerFleet } from './route-captures-peer.js';
import type { FleetCheck } from './types.js';
import { vpnSelectorGapFleet } from './vpn-selector-gap.js';

export const fleetChecks: Record<string, FleetCheck> = {
  'route-captures-peer': routeCapturesPeerFleet,
  'vpn-selector-gap': vpnSelectorGapFleet,
};
