// Loaded into the bench's serve processes (NODE_OPTIONS=--expose-gc --require): a full garbage
// collection on SIGUSR2, so a memory reading counts what is live, not what is not collected yet.
'use strict';
process.on('SIGUSR2', () => {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
});
