import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import pg from 'pg';
import { afterAll, describe, it } from 'vitest';

// The storage backends a behavioural suite runs on: SQLite always, PostgreSQL when a server is
// reachable (always under CI, where a missing server fails loudly). Each `fresh()` is a new,
// empty database: a temporary SQLite file, or a new schema in one PostgreSQL database that the
// test file creates on first use and drops when it ends.

export type BackendName = 'sqlite' | 'postgres';

export interface FreshDb {
  /** What --db, DDX_SHARE_DB or openStore() takes: a file path or a postgres:// URL. */
  location: string;
  /** Removes the database (idempotent); run anyway when the test file ends. */
  cleanup(): Promise<void>;
}

export interface Backend {
  readonly name: BackendName;
  fresh(): Promise<FreshDb>;
}

/** The server to test against; its database is only used to create and drop others. */
export const PG_BASE =
  process.env.DDX_SHARE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const ENABLE =
  'Set DDX_SHARE_TEST_POSTGRES=postgres://user@host:5432/postgres to run it on PostgreSQL too.';

async function probe(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_BASE, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return err instanceof Error ? err.message || String(err) : String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Why PostgreSQL cannot be used, or null when it can. */
export const PG_UNREACHABLE = await probe();
const pgHost = (): string => new URL(PG_BASE).host;

/** Everything fresh() made that is not cleaned up yet, cleaned up when the file ends. */
const pending = new Set<FreshDb>();

function tracked(location: string, drop: () => Promise<void>): FreshDb {
  let done: Promise<void> | undefined;
  const db: FreshDb = {
    location,
    cleanup: () => {
      pending.delete(db);
      done ??= drop();
      return done;
    },
  };
  pending.add(db);
  return db;
}

const sqlite: Backend = {
  name: 'sqlite',
  fresh: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ddx-sqlite-'));
    return tracked(join(dir, 'ddx.db'), async () => rmSync(dir, { recursive: true, force: true }));
  },
};

// One database per test file, made on first use; one schema in it per fresh().
let fileDb: Promise<{ url: URL; admin: pg.Pool }> | undefined;
let dbName: string | undefined;
let schemas = 0;

async function adminOn(url: string, fn: (c: pg.Client) => Promise<unknown>): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await fn(c);
  } finally {
    await c.end();
  }
}

function fileDatabase(): Promise<{ url: URL; admin: pg.Pool }> {
  fileDb ??= (async () => {
    dbName = `ddx_t_${randomBytes(6).toString('hex')}`;
    await adminOn(PG_BASE, (c) => c.query(`CREATE DATABASE ${dbName}`));
    const url = new URL(PG_BASE);
    url.pathname = `/${dbName}`;
    url.search = '';
    // A schema still locked by a store a failed test left open must not hang the drop.
    const admin = new pg.Pool({
      connectionString: url.href,
      max: 1,
      options: '-c lock_timeout=5000',
    });
    admin.on('error', () => undefined);
    return { url, admin };
  })();
  return fileDb;
}

const postgres: Backend = {
  name: 'postgres',
  fresh: async () => {
    const { url, admin } = await fileDatabase();
    const schema = `s_${++schemas}_${randomBytes(3).toString('hex')}`;
    const u = new URL(url.href);
    u.searchParams.set('schema', schema);
    // openStore() creates and migrates the schema on first use.
    return tracked(u.href, async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    });
  },
};

/** Drops what the file made: schemas, then its database (even with connections left open). */
async function dropAll(): Promise<void> {
  // Whatever a schema's drop says, the database's drop below takes it along.
  await Promise.allSettled([...pending].map((db) => db.cleanup()));
  if (fileDb === undefined) return;
  const made = fileDb;
  fileDb = undefined;
  const { admin } = await made.catch(() => ({ admin: undefined }));
  if (admin === undefined) return;
  await admin.end();
  await adminOn(PG_BASE, (c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
}

const pgUsable = PG_UNREACHABLE === null || Boolean(process.env.CI);

/** sqlite, and postgres when it is reachable or CI is set. */
export const BACKENDS: readonly Backend[] = pgUsable ? [sqlite, postgres] : [sqlite];
export const SQLITE = sqlite;
/** The PostgreSQL backend, or undefined when it is skipped. */
export const POSTGRES: Backend | undefined = pgUsable ? postgres : undefined;

/** Tells, once per test run, that PostgreSQL was skipped and how to enable it. */
function noticeSkipped(): void {
  // Test files run in workers of one vitest process (child processes or threads): its pid
  // marks the run.
  const run = isMainThread ? process.ppid : process.pid;
  const mark = join(tmpdir(), `ddx-share-pg-skip-notice-${run}`);
  try {
    writeFileSync(mark, '', { flag: 'wx' });
  } catch {
    return;
  }
  console.warn(
    `[ddx-share tests] PostgreSQL skipped: no server at ${pgHost()} (${PG_UNREACHABLE}). ` + ENABLE,
  );
}

let hooked = false;

/**
 * Runs the block once per backend, the backend's name in the title. PostgreSQL, when skipped,
 * still shows as a skipped block saying why; under CI an unreachable server is a failure.
 */
export function describeBackends(name: string, fn: (backend: Backend) => void): void {
  if (!hooked) {
    hooked = true;
    afterAll(dropAll, 120_000);
  }
  for (const backend of [sqlite, postgres]) {
    const title = `${name} [${backend.name}]`;
    if (backend === postgres && !pgUsable) {
      noticeSkipped();
      describe.skip(`${title} (skipped: no PostgreSQL at ${pgHost()}; ${ENABLE})`, () =>
        fn(backend));
      continue;
    }
    describe(title, () => {
      if (backend === postgres && PG_UNREACHABLE !== null) {
        it('has a PostgreSQL server to test against (CI never skips)', () => {
          throw new Error(`CI needs PostgreSQL at ${pgHost()}: ${PG_UNREACHABLE}. ${ENABLE}`);
        });
      }
      fn(backend);
    });
  }
}
