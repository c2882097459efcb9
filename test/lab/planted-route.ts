/**
 * A simulator bug, planted: run inside a lab host (`node --import tsx test/lab/planted-route.ts
 * 'ROUTE LINE' PEER...`), it collects the live host as the one-shot does, appends ROUTE LINE to
 * what `ip route show` printed (a route the kernel does not have: the model is now wrong), then
 * analyses, asks the kernel the findings' route questions and joins, printing the findings as
 * JSON. The real modules do the work; only the model is doctored.
 */
import { analyzeSnapshot } from '../../src/checks/analyze.js';
import { joinKernelEvidence, routeQueriesOf } from '../../src/checks/kernel-join.js';
import { collectBundle } from '../../src/collect/collect.js';
import { askRoutes, RouteAsker } from '../../src/collect/route-ask.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';

const [route, ...peers] = process.argv.slice(2);
const asker = RouteAsker.start();
const bundle = await collectBundle({ purpose: 'analyze', noCloud: true, name: 'planted' });
bundle.files.set('ip-route-v4', `${bundle.files.get('ip-route-v4') ?? ''}${route}\n`);
const snapshot = buildSnapshot(bundle);
const { findings } = analyzeSnapshot(snapshot, { peers: peers.map((address) => ({ address })), remotes: [], ports: [], ignore: [] });
const routes = await askRoutes(asker, routeQueriesOf(findings));
process.stdout.write(JSON.stringify(joinKernelEvidence(findings, { routes }, 'planted'), null, 2));
