import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { EventInput } from '../../src/audit/event.js';
import {
  PostgresStore,
  type PostgresOpenOptions,
} from '../../src/store/postgres/postgres-store.js';

// Helpers for tests against a real PostgreSQL: each test file gets a database of its own,
// dropped when the file ends, and each test a schema of its own inside it.

export const BASE =
  process.env.DDX_SHARE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function probe(): Promise<string | null> {
  const client = new pg.Client({ connectionString: BASE, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const unreachable = await probe();

/**
 * `describe`, or, when PostgreSQL cannot be reached outside CI, `describe.skip` with a title
 * saying why. In CI a missing server is a failure, never a silent skip.
 */
export function describePg(title: string, fn: () => void): void {
  if (unreachable !== null && !process.env.CI) {
    const where = new URL(BASE).host;
    describe.skip(`${title} (skipped: no PostgreSQL at ${where}: ${unreachable})`, fn);
  } else {
    describe(title, () => {
      if (unreachable !== null) {
        it('has a PostgreSQL server to test against (CI never skips)', () => {
          throw new Error(`CI needs PostgreSQL at ${new URL(BASE).host}: ${unreachable}`);
        });
      }
      fn();
    });
  }
}

export interface PgTestDb {
  /** URL of the file's database. */
  url: () => string;
  /** A URL naming a fresh schema in it. */
  freshUrl: () => string;
  /** Opens a store, closed when the file ends. */
  open: (url?: string, opts?: PostgresOpenOptions) => Promise<PostgresStore>;
  /** A raw connection to a schema, bypassing ddx-share, closed when the file ends. */
  raw: (url: string) => Promise<pg.Client>;
}

/** Creates the file's database before its tests and drops it after. */
export function useTestDatabase(): PgTestDb {
  const name = `ddx_t_${randomBytes(6).toString('hex')}`;
  const dbUrl = new URL(BASE);
  dbUrl.pathname = `/${name}`;
  const stores: PostgresStore[] = [];
  const clients: pg.Client[] = [];
  let schemas = 0;

  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: BASE });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  beforeAll(() => admin((c) => c.query(`CREATE DATABASE ${name}`)));
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  });

  const freshUrl = (): string => {
    const u = new URL(dbUrl.href);
    u.searchParams.set('schema', `t_${++schemas}_${randomBytes(3).toString('hex')}`);
    return u.href;
  };
  return {
    url: () => dbUrl.href,
    freshUrl,
    open: async (url = freshUrl(), opts = {}) => {
      const store = await PostgresStore.open(url, opts);
      stores.push(store);
      return store;
    },
    raw: async (url) => {
      const schema = new URL(url).searchParams.get('schema');
      const u = new URL(url);
      u.searchParams.delete('schema');
      const c = new pg.Client({
        connectionString: u.href,
        ...(schema ? { options: `-c search_path=${schema}` } : {}),
      });
      await c.connect();
      clients.push(c);
      return c;
    },
  };
}

export function eventInput(n: number, extra: Partial<EventInput> = {}): EventInput {
  return {
    at: `2030-01-01T00:00:${String(n % 60).padStart(2, '0')}.000Z`,
    actor: n % 2 ? 'ana@ddx.example' : 'bo@ddx.example',
    action: 'app.set-scope',
    target: `app-${n % 5}`,
    outcome: 'applied',
    code: null,
    before: { scope: 'CurrentWorkspaceOnly', n },
    after: { scope: 'AllWorkspaces' },
    ticket: null,
    reason: null,
    batch: null,
    ...extra,
  };
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
