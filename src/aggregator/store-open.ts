/**
 * Opens the store `serve --db` names: a postgres:// or postgresql:// URL is a PostgreSQL database
 * (store-postgres.ts), anything else a SQLite file (store-sqlite.ts).
 */
import { isPostgresUrl, type Store } from './store.js';
import { PostgresStore } from './store-postgres.js';
import { SqliteStore } from './store-sqlite.js';

export interface OpenStoreOptions {
  historyPerHost?: number;
}

export async function openStore(db: string, options: OpenStoreOptions = {}): Promise<Store> {
  return isPostgresUrl(db) ? PostgresStore.open(db, options) : new SqliteStore(db, options);
}
