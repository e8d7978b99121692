import type pg from 'pg';
import { planMigrations, type AppliedMigration, type MigrationFile } from '../migrations.js';

// The migration runner's PostgreSQL half: reading the history and applying what is pending.

/**
 * Advisory lock keys: (ddx-share, what) pairs, the second half being the schema, so two schemas
 * of one database (a test per schema, say) never wait for each other.
 */
const LOCK_SPACE = 0x0dd5_0000;
export const MIGRATE_LOCK = LOCK_SPACE + 1;
export const WRITE_LOCK = LOCK_SPACE + 2;

/** SQL taking one of the locks above until the transaction ends. */
export function lockSql(key: number, schema?: string): string {
  const which = schema === undefined ? 'current_schema()' : `'${schema}'`;
  return `SELECT pg_advisory_xact_lock(${key}, hashtext(coalesce(${which}, '')))`;
}

const HISTORY = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at TEXT NOT NULL
)`;

export async function readApplied(client: pg.ClientBase): Promise<AppliedMigration[]> {
  const has = await client.query(
    'SELECT 1 FROM pg_tables WHERE schemaname = current_schema() ' +
      "AND tablename = 'schema_migrations'",
  );
  if (has.rowCount === 0) return [];
  const rows = await client.query<AppliedMigration>(
    'SELECT version, name, checksum, applied_at AS "appliedAt" FROM schema_migrations ' +
      'ORDER BY version',
  );
  return rows.rows;
}

/** No table, view, sequence or index at all in the schema ddx-share would use. */
export async function isEmpty(client: pg.ClientBase): Promise<boolean> {
  const r = await client.query(
    'SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ' +
      'WHERE n.nspname = current_schema() LIMIT 1',
  );
  return r.rowCount === 0;
}

/** Applies what is pending, each migration and its history row in one transaction. */
export async function applyPending(
  client: pg.ClientBase,
  files: readonly MigrationFile[],
  label: string,
): Promise<void> {
  // The lock is taken inside the transaction that reads the history and applies, so several
  // staff running migrate at once apply each migration exactly once: the others wait, then
  // find it recorded. Locks are released by COMMIT or ROLLBACK, never left behind.
  for (;;) {
    await client.query('BEGIN');
    try {
      await client.query(lockSql(MIGRATE_LOCK));
      await client.query(HISTORY);
      const plan = planMigrations(files, await readApplied(client), label);
      if (plan.problem) throw plan.problem;
      const next = plan.pending[0];
      if (next) {
        await client.query(next.sql);
        await client.query(
          'INSERT INTO schema_migrations (version, name, checksum, applied_at) ' +
            'VALUES ($1, $2, $3, $4)',
          [next.version, next.name, next.checksum, new Date().toISOString()],
        );
      }
      await client.query('COMMIT');
      if (!next) return;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
}
