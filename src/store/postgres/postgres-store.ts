import type pg from 'pg';
import { DdxError } from '../../errors.js';
import {
  loadMigrationFiles,
  planMigrations,
  type MigrationFile,
  type MigrationPlan,
} from '../migrations.js';
import { migrationsDir } from '../paths.js';
import type { Finding, MigrationStatus, Reader, Store, Writer } from '../store.js';
import {
  Conn,
  LOCK_TIMEOUT_MS,
  createPool,
  parseLocation,
  pgError,
  type Location,
} from './connection.js';
import { guardFindings } from './guards.js';
import {
  MIGRATE_LOCK,
  WRITE_LOCK,
  applyPending,
  isEmpty,
  lockSql,
  readApplied,
} from './migrate.js';
import { PgReader } from './reader.js';
import { PgWriter } from './writer.js';

export interface PostgresOpenOptions {
  forMigrate?: boolean;
  /** How long a writer waits for the writer lock; tests shorten it. */
  lockTimeoutMs?: number;
}

export class PostgresStore implements Store {
  readonly backend = 'postgres' as const;
  readonly label: string;
  private readonly pool: pg.Pool;
  private files: MigrationFile[] | undefined;
  private closed = false;

  private constructor(
    private readonly loc: Location,
    private readonly lockTimeoutMs: number,
  ) {
    this.label = loc.label;
    this.pool = createPool(loc);
  }

  /**
   * Opens the database for a command. A brand-new empty database (or schema) is migrated on the
   * spot, so a team's first command works; one that is behind, edited or newer is refused
   * (except by `migrate` itself, which passes `forMigrate`).
   */
  static async open(url: string, opts: PostgresOpenOptions = {}): Promise<PostgresStore> {
    const store = new PostgresStore(parseLocation(url), opts.lockTimeoutMs ?? LOCK_TIMEOUT_MS);
    try {
      await store.withClient(async (c) => {
        const schema = store.loc.schema;
        if (schema === null) return void (await c.query('SELECT 1'));
        // Under the migration lock, so that several processes creating it at once all succeed.
        await c.query(
          `BEGIN; ${lockSql(MIGRATE_LOCK, schema)}; CREATE SCHEMA IF NOT EXISTS ${schema}`,
        );
        await c.query('COMMIT');
      });
      if (!opts.forMigrate) await store.ensureReady();
      return store;
    } catch (err) {
      await store.close();
      throw store.error(err);
    }
  }

  private migrationFiles(): MigrationFile[] {
    this.files ??= loadMigrationFiles(migrationsDir('postgres'));
    return this.files;
  }

  private async plan(): Promise<MigrationPlan> {
    return this.withClient(async (c) => {
      const applied = await readApplied(c);
      if (applied.length === 0 && !(await isEmpty(c))) {
        throw new DdxError(
          'DB_NOT_A_DATABASE',
          `${this.label} holds tables but no ddx-share history.`,
          {
            hint: 'Check --db or DDX_SHARE_DB: this is some other database (or name a ?schema=).',
          },
        );
      }
      return planMigrations(this.migrationFiles(), applied, this.label);
    });
  }

  private async ensureReady(): Promise<void> {
    const plan = await this.plan();
    if (plan.problem) throw plan.problem;
    if (plan.pending.length === 0) return;
    if (plan.status.current === 0) {
      await this.withClient((c) => applyPending(c, this.migrationFiles(), this.label));
      return;
    }
    throw new DdxError(
      'DB_NEEDS_MIGRATE',
      `${this.label} is at migration ${plan.status.current}; this build needs ` +
        `${plan.status.migrations.at(-1)?.version}.`,
      { hint: 'Run `ddx-share migrate` first.' },
    );
  }

  async migrationStatus(): Promise<MigrationStatus> {
    const plan = await this.plan();
    if (plan.problem) throw Object.assign(plan.problem, { status: plan.status });
    return plan.status;
  }

  async migrate(): Promise<MigrationStatus> {
    await this.withClient((c) => applyPending(c, this.migrationFiles(), this.label));
    return this.migrationStatus();
  }

  async read<T>(fn: (r: Reader) => Promise<T>): Promise<T> {
    return this.withClient(async (c) => {
      // One snapshot for every lookup; READ ONLY so a bug here can never write.
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const result = await fn(new PgReader(new Conn(c)));
      await c.query('COMMIT');
      return result;
    });
  }

  async *stream<T>(fn: (r: Reader) => AsyncIterable<T>): AsyncIterable<T> {
    const c = await this.connect();
    let broken = false;
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      yield* fn(new PgReader(new Conn(c)));
    } catch (err) {
      broken = true;
      throw this.error(err);
    } finally {
      // COMMIT too when the consumer stops early; a read-only transaction has nothing to lose.
      await c.query(broken ? 'ROLLBACK' : 'COMMIT').catch(() => (broken = true));
      c.release(broken);
    }
  }

  async write<T>(fn: (w: Writer) => Promise<T>, opts: { rollback?: boolean } = {}): Promise<T> {
    return this.withClient(async (c) => {
      // Writers are serialised by one advisory lock taken by the transaction's first statement,
      // as SQLite's BEGIN IMMEDIATE does: the facts a decision is made on cannot change before
      // the change commits, no two writers ever race on the audit chain, and no retry logic is
      // needed. READ COMMITTED, not REPEATABLE READ: the latter would take its snapshot before
      // the lock wait ends, and miss what the previous writer committed.
      await c.query(
        `BEGIN; SET LOCAL lock_timeout = ${this.lockTimeoutMs}; ${lockSql(WRITE_LOCK)}`,
      );
      const w = new PgWriter(new Conn(c));
      const result = await fn(w);
      // A dry run flushes too, so it fails exactly where a real run would.
      await w.flush();
      const end = await c.query(opts.rollback ? 'ROLLBACK' : 'COMMIT');
      // PostgreSQL answers COMMIT of a failed transaction by rolling back, without an error.
      if (!opts.rollback && end.command !== 'COMMIT') {
        throw new DdxError(
          'INTERNAL',
          `${this.label} rolled the change back; nothing was written.`,
        );
      }
      return result;
    });
  }

  async checkGuards(): Promise<Finding[]> {
    return this.withClient((c) => guardFindings(c, this.migrationFiles()));
  }

  async backup(path: string, _opts: { force: boolean }): Promise<{ path: string; bytes: number }> {
    const url = new URL(this.label);
    url.searchParams.delete('schema');
    const schema = this.loc.schema === null ? '' : ` --schema=${this.loc.schema}`;
    throw new DdxError(
      'USAGE',
      'PostgreSQL databases are backed up with pg_dump: pg_dump --format=custom ' +
        `--file ${shellQuote(path)}${schema} "${url.href}"`,
      { hint: 'Give it the password through PGPASSWORD or ~/.pgpass.' },
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw this.error(err);
    }
  }

  /** Runs fn on one connection; on failure rolls back whatever fn began, and maps the error. */
  private async withClient<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.connect();
    let broken = false;
    try {
      return await fn(c);
    } catch (err) {
      // Never hand the pool a connection still inside a transaction, nor one that is gone.
      await c.query('ROLLBACK').catch(() => (broken = true));
      throw this.error(err);
    } finally {
      c.release(broken);
    }
  }

  private error(err: unknown): unknown {
    return pgError(err, this.loc);
  }
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
