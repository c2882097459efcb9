/**
 * The hostile clients of the `preauth` bench section in a process of their own (so their work does
 * not share an event loop with the good agent being timed): `tsx bench/preauth-attackers.ts PORT N`.
 * Prints "attacking" once started and its counts as JSON when sent SIGTERM.
 */
import { hostileClients } from '../test/helpers/hostile-clients.js';

const [port, clients] = process.argv.slice(2).map(Number);
// Each client streams its 15 MiB frame at 1 MiB/s (an upload over a WAN) and comes back a second after being cut.
const attack = hostileClients({ port, clients, addresses: 50, retryMs: 1000, bytesPerSecond: 1024 * 1024 });
// The clients' retry timers do not hold the process: this does, until SIGTERM.
const alive = setInterval(() => undefined, 1 << 30);
process.stdout.write('attacking\n');
process.on('SIGTERM', () => {
  clearInterval(alive);
  void attack.stop().then((stats) => {
    process.stdout.write(`${JSON.stringify(stats)}\n`, () => process.exit(0));
  });
});
