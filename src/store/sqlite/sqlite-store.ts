import {
  chmodSync,
  existsSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
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
import { migrationsDir } from '../paths.js';
import type { Finding, MigrationStatus, Reader, Store, Writer } from '../store.js';
import { BUSY_TIMEOUT_MS, openDatabase, sqliteError, type Db } from './connection.js';
import { SqliteReader, SqliteWriter, Statements } from './queries.js';

/** Past this size the WAL is started over after a commit (see boundWal). */
const WAL_RESTART_BYTES = 16 * 1024 * 1024;
/** How long a commit waits, at most, for readers of old snapshots before starting it over. */
const CHECKPOINT_WAIT_MS = 4_000;
/** A checkpoint's mark file older than this was left by a process that died. */
const MARK_STALE_MS = 3 * CHECKPOINT_WAIT_MS;

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
  private nextCheckpoint = 0;

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
            'INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)',
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
    await this.waitForCheckpoint();
    this.wrap(() => this.db.exec('BEGIN'));
    try {
      return await fn(new SqliteReader(this.st));
    } finally {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    }
  }

  async *stream<T>(fn: (r: Reader) => AsyncIterable<T>): AsyncIterable<T> {
    await this.waitForCheckpoint();
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
   * without bound (480 MiB after 50,000 writes in the stress test). Past WAL_RESTART_BYTES, a
   * commit puts up a mark beside the database and waits, up to CHECKPOINT_WAIT_MS, for the
   * readers of old snapshots to finish, then truncates the WAL. Readers that start meanwhile wait
   * at the door (waitForCheckpoint) instead of pinning the WAL anew; other writers wait for the
   * lock, well inside their busy timeout. The change is committed already: a checkpoint that
   * cannot finish (a reader holding its snapshot longer, such as `list | less`) is tried again
   * later and never fails the command.
   */
  private boundWal(): void {
    if (this.label === ':memory:' || Date.now() < this.nextCheckpoint) return;
    let size = 0;
    try {
      size = statSync(`${this.label}-wal`).size;
    } catch {
      return;
    }
    if (size <= WAL_RESTART_BYTES) return;
    const mark = `${this.label}-checkpoint`;
    if (!claimMark(mark)) return; // another process is at it
    try {
      this.db.pragma(`busy_timeout = ${CHECKPOINT_WAIT_MS}`);
      const rows = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (rows[0]?.busy) this.nextCheckpoint = Date.now() + CHECKPOINT_WAIT_MS;
    } catch {
      this.nextCheckpoint = Date.now() + CHECKPOINT_WAIT_MS;
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      rmSync(mark, { force: true });
    }
  }

  /** A reader waits while a checkpoint is starting the WAL over (see boundWal), briefly. */
  private async waitForCheckpoint(): Promise<void> {
    if (this.label === ':memory:') return;
    const mark = `${this.label}-checkpoint`;
    const until = Date.now() + CHECKPOINT_WAIT_MS + 1000;
    while (markLive(mark) && Date.now() < until) await sleep(20);
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
      for (const [name, sql] of want) {
        const got = have.get(name);
        if (got === undefined) {
          findings.push({
            rule: 'guard',
            code: 'GUARD_MISSING',
            target: name,
            message: `The database has lost ${name}; raw SQL is no longer refused there.`,
          });
        } else if (got !== sql) {
          findings.push({
            rule: 'guard',
            code: 'GUARD_CHANGED',
            target: name,
            message: `${name} differs from the one its migrations created.`,
          });
        }
      }
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

/** Whether a checkpoint's mark is up and the process that put it up is still alive. */
function markLive(path: string): boolean {
  try {
    if (Date.now() - statSync(path).mtimeMs > MARK_STALE_MS) return false;
    const pid = Number(readFileSync(path, 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return true; // being written
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, but another user's. ENOENT: no mark. ESRCH: its process died.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Puts up the mark unless a live one is there; one left by a dead process is replaced. */
function claimMark(path: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx', mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || markLive(path)) return false;
      rmSync(path, { force: true });
    }
  }
  return false;
}

/** Triggers, tables (their CHECK constraints) and indexes, by name, as SQL text. */
function schemaObjects(db: Db): Map<string, string> {
  const rows = db
    .prepare(
      "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'",
    )
    .all() as { type: string; name: string; sql: string }[];
  return new Map(rows.map((r) => [`${r.type} ${r.name}`, r.sql]));
}
