/**
 * A child process for lab.test.ts: builds a small lab, prints its namespaces as one JSON line,
 * then ends as argv[2] says: 'wait' (until a signal arrives), 'exit' (process.exit) or 'throw'.
 * Run with `node --import tsx test/lab/interrupt-child.ts <mode>`.
 */
import { Lab } from './lab.js';

const mode = process.argv[2] ?? 'wait';
const lab = await Lab.create({
  hosts: { a: {}, b: { bridges: [{ name: 'br0' }] } },
  links: [{ a: { host: 'a', iface: 'eth0', addresses: ['10.99.0.1/30'] }, b: { host: 'b', iface: 'eth0', addresses: ['10.99.0.2/30'] } }],
});
process.stdout.write(`${JSON.stringify({ prefix: lab.prefix, namespaces: lab.namespaces })}\n`);
if (mode === 'exit') process.exit(3);
if (mode === 'throw') setTimeout(() => {
  throw new Error('thrown on purpose after creating a lab');
}, 10);
setInterval(() => {}, 60_000);
