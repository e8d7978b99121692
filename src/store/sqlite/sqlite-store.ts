import { chmodSync, existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSqlite, type Database } from './driver.js';
import { DdxError } from '../../errors.js';
import {
  loadMigrationFiles,
  planMigrations,
  type AppliedMigration,
  type MigrationFile,
  type MigrationPlan,
} from '../migrations.js';
import { compareGuards } from '../guards.js';
import { migrationsDir } from '../paths.js';
import type { Finding, MigrationStatus, Reader, Store, Writer } from '../store.js';
import { BUSY_TIMEOUT_MS, openDatabase, sqliteError, type Db } from './connection.js';
import { SqliteReader, SqliteWriter, Statements } from './queries.js';

/** Past this size the WAL is to be started over (see boundWal). */
const WAL_RESTART_BYTES = 16 * 1024 * 1024;
/** How long a reader holds back, at most, so that the WAL can start over. */
const READER_WAIT_MS = 8_000;
/** A mark not touched for this long is over: its writers have gone. */
const MARK_TTL_MS = 10_000;

const HISTORY = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at TEXT NOT NULL
) STRICT`;

export class SqliteStore implements Store {
  readonly backend = 'sqlite' as const;
  private readonly st: Statements;
  private files: MigrationFile[] | undefined;

  private constructor(
    private readonly db: Db,
    readonly label: string,
  ) {
    this.st = new Statements(db);
  }

  /**
   * Opens the database for a command. A brand-new empty file is migrated on the spot, so a
   * newcomer's first command works; a database that is behind, edited or newer is refused
   * (except by `migrate` itself, which passes `forMigrate`).
   */
  static open(path: string, opts: { forMigrate?: boolean } = {}): SqliteStore {
    const store = new SqliteStore(openDatabase(path), path);
    try {
      // When the WAL does start over by itself, it is cut back to this size (see boundWal).
      store.db.pragma(`journal_size_limit = ${WAL_RESTART_BYTES}`);
      if (!opts.forMigrate) store.ensureReady();
      return store;
    } catch (err) {
      store.db.close();
      throw sqliteError(err, path);
    }
  }

  private migrationFiles(): MigrationFile[] {
    this.files ??= loadMigrationFiles(migrationsDir('sqlite'));
    return this.files;
  }

  private applied(): AppliedMigration[] {
    const has = this.db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
      .get();
    if (!has) return [];
    return this.db
      .prepare(
        'SELECT version, name, checksum, applied_at AS appliedAt FROM schema_migrations ' +
          'ORDER BY version',
      )
      .all() as AppliedMigration[];
  }

  private isEmpty(): boolean {
    return (
      this.db.prepare("SELECT 1 FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").get() ===
      undefined
    );
  }

  private plan(): MigrationPlan {
    const applied = this.applied();
    if (applied.length === 0 && !this.isEmpty()) {
      throw new DdxError(
        'DB_NOT_A_DATABASE',
        `${this.label} holds tables but no ddx-share history.`,
        {
          hint: 'Check --db or DDX_SHARE_DB: this is some other SQLite database.',
        },
      );
    }
    return planMigrations(this.migrationFiles(), applied, this.label);
  }

  private ensureReady(): void {
    const plan = this.plan();
    if (plan.problem) throw plan.problem;
    if (plan.pending.length === 0) return;
    if (plan.status.current === 0) {
      this.applyPending();
      return;
    }
    throw new DdxError(
      'DB_NEEDS_MIGRATE',
      `${this.label} is at migration ${plan.status.current}; this build needs ` +
        `${plan.status.migrations.at(-1)?.version}.`,
      { hint: 'Run `ddx-share migrate` first.' },
    );
  }

  /** Applies what is pending, each migration and its history row in one transaction. */
  private applyPending(): void {
    // One IMMEDIATE transaction covers reading the history and applying, so two staff running
    // migrate at once apply each migration exactly once: the second waits, then finds none.
    const files = this.migrationFiles();
    for (;;) {
      const done = this.db.transaction(() => {
        this.db.exec(HISTORY);
        const plan = planMigrations(files, this.applied(), this.label);
        if (plan.problem) throw plan.problem;
        const next = plan.pending[0];
        if (!next) return true;
        this.db.exec(next.sql);
        this.db
          .prepare(
            'INSERT INTO schema_migrations (version, name, checksum, applied_at) ' +
              'VALUES (?, ?, ?, ?)',
          )
          .run(next.version, next.name, next.checksum, new Date().toISOString());
        return false;
      });
      if (done.immediate()) return;
    }
  }

  async migrationStatus(): Promise<MigrationStatus> {
    const plan = this.plan();
    if (plan.problem) throw Object.assign(plan.problem, { status: plan.status });
    return plan.status;
  }

  async migrate(): Promise<MigrationStatus> {
    this.wrap(() => this.applyPending());
    return this.migrationStatus();
  }

  async read<T>(fn: (r: Reader) => Promise<T>): Promise<T> {
    await this.holdForCheckpoint();
    this.wrap(() => this.db.exec('BEGIN'));
    try {
      return await fn(new SqliteReader(this.st));
    } finally {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    }
  }

  async *stream<T>(fn: (r: Reader) => AsyncIterable<T>): AsyncIterable<T> {
    await this.holdForCheckpoint();
    this.wrap(() => this.db.exec('BEGIN'));
    try {
      yield* fn(new SqliteReader(this.st));
    } finally {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    }
  }

  async write<T>(fn: (w: Writer) => Promise<T>, opts: { rollback?: boolean } = {}): Promise<T> {
    // IMMEDIATE takes the write lock before the first read, so the facts a decision is made on
    // cannot change before the change commits, and no writer fails on a lock upgrade.
    this.wrap(() => this.db.exec('BEGIN IMMEDIATE'));
    try {
      const result = await fn(new SqliteWriter(this.st));
      this.wrap(() => this.db.exec(opts.rollback ? 'ROLLBACK' : 'COMMIT'));
      if (!opts.rollback) this.boundWal();
      return result;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw sqliteError(err, this.label);
    }
  }

  /**
   * Readers that overlap without a gap (list after list) always hold some old snapshot, so
   * SQLite's automatic checkpoints copy pages back but can never start the WAL over, and it grows
   * without bound (970 MiB after 50,000 writes in the stress test). Past WAL_RESTART_BYTES, a
   * commit puts up (or refreshes) a mark beside the database and tries a TRUNCATE checkpoint,
   * without waiting for anyone. Where readers of old snapshots are still at work, the mark stays
   * up: readers that start meanwhile hold back (holdForCheckpoint) instead of pinning the WAL
   * anew, and the next commit, or one of the waiting readers, gets the checkpoint through as soon
   * as the old readers finish. Writers never wait for it; the change is committed already, and
   * nothing here fails a command.
   */
  private boundWal(): void {
    if (walSize(this.label) <= WAL_RESTART_BYTES) return;
    const mark = `${this.label}-checkpoint`;
    try {
      writeFileSync(mark, '', { mode: 0o600 });
    } catch {
      return; // a folder we cannot write to: nothing to coordinate
    }
    if (this.truncateWal(0)) rmSync(mark, { force: true });
  }

  /**
   * A reader waits, at most READER_WAIT_MS, while a writer's mark says the WAL is to start over,
   * trying the checkpoint itself without waiting: it succeeds once the readers that hold old
   * snapshots are done. A reader that cannot write (a read-only file) does not wait.
   */
  private async holdForCheckpoint(): Promise<void> {
    const mark = `${this.label}-checkpoint`;
    const until = Date.now() + READER_WAIT_MS;
    while (markUp(mark) && walSize(this.label) > WAL_RESTART_BYTES) {
      const done = this.truncateWal(0);
      if (done) rmSync(mark, { force: true });
      if (done !== false || Date.now() > until) return;
      await sleep(50);
    }
  }

  /**
   * One TRUNCATE checkpoint, waiting at most `waitMs` for others: true when it went through,
   * false when others are in the way, null when this connection cannot do it at all (a read-only
   * file, a full disk): it is only housekeeping.
   */
  private truncateWal(waitMs: number): boolean | null {
    try {
      this.db.pragma(`busy_timeout = ${waitMs}`);
      const rows = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      return rows[0]?.busy === 0;
    } catch {
      return null;
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  async checkGuards(): Promise<Finding[]> {
    const findings: Finding[] = [];
    const ok = this.db.pragma('quick_check', { simple: true });
    if (ok !== 'ok') {
      findings.push({
        rule: 'storage',
        code: 'STORAGE_CORRUPT',
        target: this.label,
        message: `SQLite's quick_check says: ${String(ok)}`,
      });
    }
    // The guards a database should have are exactly those its migrations create: build them in
    // memory and compare, so nothing here restates the schema.
    const expected = openSqlite(':memory:');
    try {
      for (const f of this.migrationFiles()) expected.exec(f.sql);
      const want = schemaObjects(expected);
      const have = schemaObjects(this.db);
      findings.push(...compareGuards(want, have));
    } finally {
      expected.close();
    }
    return findings;
  }

  async backup(path: string, opts: { force: boolean }): Promise<{ path: string; bytes: number }> {
    if (existsSync(path) && !opts.force) {
      throw new DdxError('USAGE', `${path} already exists.`, {
        hint: 'Choose a new path, or pass --force to replace it.',
      });
    }
    const folder = dirname(path);
    if (!existsSync(folder) || !statSync(folder).isDirectory()) {
      throw new DdxError('USAGE', `Cannot back up to ${path}: there is no folder ${folder}.`, {
        hint: 'Create the folder first, or choose another path.',
      });
    }
    // SQLite's online backup API copies a consistent snapshot while other staff keep writing.
    // It writes beside the target first, so a failed backup never replaces a good one.
    const tmp = `${path}.partial-${process.pid}`;
    try {
      await this.db.backup(tmp);
      chmodSync(tmp, 0o600);
      renameSync(tmp, path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw sqliteError(err, path);
    }
    return { path, bytes: statSync(path).size };
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /** The raw connection, for tests and the benchmark's baseline only. */
  get connection(): Db {
    return this.db;
  }

  private wrap<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw sqliteError(err, this.label);
    }
  }
}

/** The WAL's size in bytes, 0 when there is none (or the database is in memory). */
function walSize(label: string): number {
  if (label === ':memory:') return 0;
  try {
    return statSync(`${label}-wal`).size;
  } catch {
    return 0;
  }
}

/** Whether a checkpoint's mark is up and was touched recently. */
function markUp(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs < MARK_TTL_MS;
  } catch {
    return false;
  }
}

/** Triggers, tables (their CHECK constraints) and indexes, by name, as SQL text. */
function schemaObjects(db: Db): Map<string, string> {
  const rows = db
    .prepare(
      'SELECT type, name, sql FROM sqlite_master ' +
        "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'",
    )
    .all() as { type: string; name: string; sql: string }[];
  return new Map(rows.map((r) => [`${r.type} ${r.name}`, r.sql]));
}
