import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

/** --db, else DDX_SHARE_DB, else the XDG data folder. */
export function resolveDbLocation(flag: string | undefined, env = process.env): string {
  const given = flag ?? env.DDX_SHARE_DB;
  if (given) return isPostgresUrl(given) ? given : resolve(given);
  const base = env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'ddx-share', 'ddx.db');
}

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** Opens the backend the location names; PostgreSQL's client is loaded only when used. */
export async function openStore(
  location: string,
  opts: { forMigrate?: boolean } = {},
): Promise<Store> {
  if (isPostgresUrl(location)) {
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    return PostgresStore.open(location, opts);
  }
  return SqliteStore.open(location, opts);
}
