/**
 * A real PostgreSQL cluster for one test file (test/helpers/postgres.ts) and a temp dir beside it:
 * the cluster starts before the file's tests; after them the processes the file tracked are
 * killed, then the cluster and the dir are removed, also when a test failed.
 */
import { afterAll, beforeAll } from 'vitest';
import { tempDir } from './aggregator-client.js';
import { startPostgres, type PgCluster } from './postgres.js';

export interface PostgresSuite {
  /** The file's cluster (set once beforeAll ran). */
  readonly cluster: PgCluster;
  readonly tmp: { dir: string; remove: () => void };
  /** A fresh database named `prefix` and a number; its URL. */
  database(prefix: string): Promise<string>;
  /** Kill `p` (a serve process, an agent) before the cluster stops. */
  track<T extends { kill(): Promise<void> }>(p: T): T;
}

export function postgresSuite(): PostgresSuite {
  let cluster: PgCluster | undefined;
  let databases = 0;
  const tmp = tempDir();
  const tracked: { kill(): Promise<void> }[] = [];
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    for (const p of tracked) await p.kill();
    await cluster?.stop();
    tmp.remove();
  });
  const started = (): PgCluster => {
    if (!cluster) throw new Error('the PostgreSQL cluster has not started (used outside a test?)');
    return cluster;
  };
  return {
    get cluster(): PgCluster {
      return started();
    },
    tmp,
    database: (prefix) => started().createDatabase(`${prefix}${++databases}`),
    track: (p) => {
      tracked.push(p);
      return p;
    },
  };
}
