// The migration runner end to end, on the built binary: a fresh file migrates itself, `migrate`
// is idempotent and safe to run concurrently, a killed migration leaves the database as it was,
// and every history that was edited, lost a file, came from a newer build or would run out of
// order is refused with exit 5. DDX_SHARE_MIGRATIONS points the binary at a copy of the real
// migrations folder, which the tests edit.
import Database from 'better-sqlite3';
import { execa } from 'execa';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checksumOf } from '../../src/store/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { ACTOR, BIN, ROOT, cli, cliJson, jsonError, tempDir } from '../helpers/cli.js';

let t: ReturnType<typeof tempDir>;
/** The copied migrations folder (its sqlite/ subfolder holds the files). */
let mig: string;
let env: Record<string, string>;

beforeEach(() => {
  t = tempDir('ddx-e2e-mig-');
  mig = join(t.dir, 'migrations');
  cpSync(join(ROOT, 'migrations'), mig, { recursive: true });
  env = { DDX_SHARE_MIGRATIONS: mig };
});
afterEach(() => t.cleanup());

const sqliteDir = (): string => join(mig, 'sqlite');
const addMigration = (file: string, sql: string): void =>
  writeFileSync(join(sqliteDir(), file), sql);

function withDb<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function history(path: string): { version: number; name: string; checksum: string }[] {
  return withDb(path, (db) =>
    db.prepare('SELECT version, name, checksum FROM schema_migrations ORDER BY version').all(),
  ) as { version: number; name: string; checksum: string }[];
}

const createAcme = (db: string, e: Record<string, string> = env) =>
  cli(db, ['workspace', 'create', 'Acme', '--kind', 'organizational'], { env: e });

describe('a new database', () => {
  it('is migrated by its first command, so workspace create just works', async () => {
    const r = await createAcme(t.db);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(history(t.db).map((m) => m.version)).toEqual([1]);
    const list = await cliJson(t.db, ['workspace', 'list'], { env });
    expect(list.exitCode).toBe(0);
    expect(JSON.stringify(list.json)).toContain('"acme"');
  });

  it('is created readable by its owner only (0600)', async () => {
    expect((await createAcme(t.db)).exitCode).toBe(0);
    expect(statSync(t.db).mode & 0o777).toBe(0o600);
    for (const side of ['-wal', '-shm']) {
      if (existsSync(t.db + side)) expect(statSync(t.db + side).mode & 0o777).toBe(0o600);
    }
  });

  it('is left in WAL mode', async () => {
    expect((await createAcme(t.db)).exitCode).toBe(0);
    expect(withDb(t.db, (db) => db.pragma('journal_mode', { simple: true }))).toBe('wal');
  });

  it('is opened with synchronous=FULL, foreign keys on and a busy timeout', async () => {
    expect((await createAcme(t.db)).exitCode).toBe(0);
    const store = SqliteStore.open(t.db);
    try {
      const c = store.connection;
      expect(c.pragma('synchronous', { simple: true })).toBe(2);
      expect(c.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(c.pragma('busy_timeout', { simple: true })).toBeGreaterThanOrEqual(5000);
      expect(c.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      await store.close();
    }
  });
});

describe('migrate', () => {
  it('is idempotent', async () => {
    const first = await cli(t.db, ['migrate'], { env });
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toContain('The database is at migration 1.');
    const before = await cliJson(t.db, ['migrate', 'status'], { env });
    const second = await cli(t.db, ['migrate'], { env });
    expect(second.exitCode).toBe(0);
    const after = await cliJson(t.db, ['migrate', 'status'], { env });
    expect(after.json).toEqual(before.json);
    expect(history(t.db)).toHaveLength(1);
  });

  it('status --json: {current, migrations:[{version,name,checksum,appliedAt,state}]}', async () => {
    const fresh = await cliJson(t.db, ['migrate', 'status'], { env });
    expect(fresh.exitCode).toBe(0);
    const checksum = checksumOf(readFileSync(join(sqliteDir(), '0001_initial.sql'), 'utf8'));
    expect(fresh.json).toEqual({
      current: 0,
      migrations: [{ version: 1, name: 'initial', checksum, appliedAt: null, state: 'pending' }],
    });

    addMigration('0002_extra.sql', 'CREATE TABLE extra (x INTEGER) STRICT;\n');
    expect((await cli(t.db, ['migrate'], { env })).exitCode).toBe(0);
    const done = await cliJson(t.db, ['migrate', 'status'], { env });
    expect(done.exitCode).toBe(0);
    expect(done.json.current).toBe(2);
    expect(done.json.migrations).toHaveLength(2);
    for (const m of done.json.migrations) {
      expect(Object.keys(m).sort()).toEqual(['appliedAt', 'checksum', 'name', 'state', 'version']);
      expect(m.state).toBe('applied');
      expect(Number.isNaN(Date.parse(m.appliedAt))).toBe(false);
      expect(m.checksum).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(done.json.migrations[1]).toMatchObject({ version: 2, name: 'extra' });
  });
});

describe('a history that does not match the files is refused with exit 5', () => {
  it('an edited applied migration: the message names the file and both checksums', async () => {
    expect((await createAcme(t.db)).exitCode).toBe(0);
    const file = join(sqliteDir(), '0001_initial.sql');
    const applied = checksumOf(readFileSync(file, 'utf8'));
    appendFileSync(file, '\n-- an innocent-looking edit\n');
    const now = checksumOf(readFileSync(file, 'utf8'));

    const r = await cli(t.db, ['workspace', 'list'], { env });
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toContain('0001_initial.sql');
    expect(r.stderr).toContain(applied);
    expect(r.stderr).toContain(now);
    expect(r.stdout).toBe('');

    const j = await cli(t.db, ['workspace', 'list', '--json'], { env });
    expect(j.exitCode).toBe(5);
    expect(jsonError(j.stderr).code).toBe('DB_MIGRATION_MODIFIED');
    expect((await cli(t.db, ['migrate'], { env })).exitCode).toBe(5);

    // status still shows the history, the edited row marked, and exits 5.
    const s = await cliJson(t.db, ['migrate', 'status'], { env });
    expect(s.exitCode).toBe(5);
    expect(s.json.migrations[0]).toMatchObject({ version: 1, state: 'modified', checksum: now });
  });

  it('a line-ending conversion of an applied migration is not an edit', async () => {
    expect((await createAcme(t.db)).exitCode).toBe(0);
    const file = join(sqliteDir(), '0001_initial.sql');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/\n/g, '\r\n'));
    expect((await cli(t.db, ['workspace', 'list'], { env })).exitCode).toBe(0);
  });

  it('an applied migration whose file is gone', async () => {
    addMigration('0002_extra.sql', 'CREATE TABLE extra (x INTEGER) STRICT;\n');
    expect((await cli(t.db, ['migrate'], { env })).exitCode).toBe(0);
    rmSync(join(sqliteDir(), '0001_initial.sql'));
    const r = await cli(t.db, ['workspace', 'list', '--json'], { env });
    expect(r.exitCode).toBe(5);
    const err = jsonError(r.stderr);
    expect(err.code).toBe('DB_MIGRATION_MISSING');
    expect(err.message).toContain('0001_initial.sql');
    expect((await cli(t.db, ['migrate'], { env })).exitCode).toBe(5);
  });

  it('the only migration file is gone', async () => {
    expect((await createAcme(t.db)).exitCode).toBe(0);
    rmSync(join(sqliteDir(), '0001_initial.sql'));
    const r = await cli(t.db, ['workspace', 'list'], { env });
    expect(r.exitCode).toBe(5);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('a database with a migration newer than the files (version 9999)', async () => {
    expect((await createAcme(t.db)).exitCode).toBe(0);
    withDb(t.db, (db) =>
      db
        .prepare('INSERT INTO schema_migrations VALUES (?, ?, ?, ?)')
        .run(9999, 'from_the_future', 'f'.repeat(64), new Date().toISOString()),
    );
    const r = await cli(t.db, ['workspace', 'list', '--json'], { env });
    expect(r.exitCode).toBe(5);
    const err = jsonError(r.stderr);
    expect(err.code).toBe('DB_NEWER');
    expect(err.message).toContain('9999');
    const m = await cli(t.db, ['migrate', '--json'], { env });
    expect(m.exitCode).toBe(5);
    expect(jsonError(m.stderr).code).toBe('DB_NEWER');
    expect(history(t.db).map((h) => h.version)).toEqual([1, 9999]);
  });

  it('a pending migration numbered before an applied one', async () => {
    addMigration('0003_third.sql', 'CREATE TABLE third (x INTEGER) STRICT;\n');
    expect((await cli(t.db, ['migrate'], { env })).exitCode).toBe(0);
    addMigration('0002_second.sql', 'CREATE TABLE second (x INTEGER) STRICT;\n');
    for (const args of [['workspace', 'list'], ['migrate']]) {
      const r = await cli(t.db, [...args, '--json'], { env });
      expect(r.exitCode).toBe(5);
      const err = jsonError(r.stderr);
      expect(err.code).toBe('DB_MIGRATION_OUT_OF_ORDER');
      expect(err.message).toContain('0002_second.sql');
    }
    expect(history(t.db).map((h) => h.version)).toEqual([1, 3]);
  });

  it('two files with the same version', async () => {
    addMigration('0001_again.sql', 'SELECT 1;\n');
    const r = await cli(t.db, ['migrate', '--json'], { env });
    expect(r.exitCode).toBe(5);
    expect(jsonError(r.stderr).code).toBe('DB_MIGRATION_OUT_OF_ORDER');
  });

  it('a database that is behind says to run `ddx-share migrate`, which fixes it', async () => {
    expect((await createAcme(t.db)).exitCode).toBe(0);
    addMigration(
      '0002_notes.sql',
      "CREATE TABLE notes (x TEXT) STRICT;\nINSERT INTO notes VALUES ('from 0002');\n",
    );
    const behind = await cli(t.db, ['workspace', 'list'], { env });
    expect(behind.exitCode).toBe(5);
    expect(behind.stderr).toContain('`ddx-share migrate`');
    const j = await cli(t.db, ['workspace', 'list', '--json'], { env });
    expect(jsonError(j.stderr).code).toBe('DB_NEEDS_MIGRATE');
    // Nothing was applied behind the user's back.
    expect(history(t.db).map((h) => h.version)).toEqual([1]);

    const m = await cli(t.db, ['migrate'], { env });
    expect(m.exitCode).toBe(0);
    expect(m.stdout).toContain('The database is at migration 2.');
    const list = await cliJson(t.db, ['workspace', 'list'], { env });
    expect(list.exitCode).toBe(0);
    expect(JSON.stringify(list.json)).toContain('"acme"');
    expect(withDb(t.db, (db) => db.prepare('SELECT x FROM notes').pluck().all())).toEqual([
      'from 0002',
    ]);
  });
});

describe('concurrent migrate', () => {
  beforeEach(() => {
    // Each later migration records that it ran, so running twice would show.
    addMigration(
      '0002_runs.sql',
      'CREATE TABLE runs (version INTEGER) STRICT;\nINSERT INTO runs VALUES (2);\n',
    );
    addMigration('0003_again.sql', 'INSERT INTO runs VALUES (3);\n');
  });

  async function race(db: string, n: number): Promise<void> {
    const results = await Promise.all(
      Array.from({ length: n }, () => cli(db, ['migrate', '--json'], { env })),
    );
    for (const r of results) {
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(JSON.parse(r.stdout).current).toBe(3);
    }
    expect(history(db).map((h) => h.version)).toEqual([1, 2, 3]);
    expect(
      withDb(db, (d) => d.prepare('SELECT version FROM runs ORDER BY version').pluck().all()),
    ).toEqual([2, 3]);
    expect(withDb(db, (d) => d.pragma('integrity_check', { simple: true }))).toBe('ok');
  }

  it('two at once on a fresh file apply each migration exactly once', async () => {
    await race(t.db, 2);
  });

  it('eight at once, three trials, apply each migration exactly once', async () => {
    for (let trial = 0; trial < 3; trial++) await race(join(t.dir, `race-${trial}.db`), 8);
  });
});

describe('a migration killed mid-way', () => {
  // Long enough (over a second here) that a kill 300 ms in lands inside the transaction.
  const FILLER_ROWS = 4_000_000;
  it('leaves the database at the version before, intact, and a new migrate completes', async () => {
    expect((await createAcme(t.db)).exitCode).toBe(0);
    addMigration(
      '0002_slow.sql',
      'CREATE TABLE filler (n INTEGER PRIMARY KEY) STRICT;\n' +
        'WITH RECURSIVE c(n) AS ' +
        `(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ${FILLER_ROWS})\n` +
        'INSERT INTO filler SELECT n FROM c;\n',
    );
    const child = execa('node', [BIN, 'migrate'], {
      env: { NO_COLOR: '1', DDX_SHARE_DB: t.db, DDX_ACTOR: ACTOR, ...env },
      extendEnv: false,
      reject: false,
      cwd: ROOT,
    });
    // Kill it once it is at least 300 ms in and its transaction has spilled into the WAL.
    const started = Date.now();
    let exited = false;
    void child.finally(() => (exited = true));
    const walSize = () => (existsSync(`${t.db}-wal`) ? statSync(`${t.db}-wal`).size : 0);
    while (!exited && (Date.now() - started < 300 || walSize() < 1_000_000)) {
      if (Date.now() - started > 30_000) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(exited, 'the slow migration finished before it could be killed').toBe(false);
    child.kill('SIGKILL');
    const r = await child;
    expect(r.signal).toBe('SIGKILL');

    withDb(t.db, (db) => {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.prepare('SELECT max(version) FROM schema_migrations').pluck().get()).toBe(1);
      expect(
        db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'filler'").pluck().get(),
      ).toBeUndefined();
    });
    // The data from before is untouched; commands refuse until migrate runs.
    expect((await cli(t.db, ['workspace', 'list'], { env })).exitCode).toBe(5);

    const again = await cli(t.db, ['migrate'], { env });
    expect(again.stderr).toBe('');
    expect(again.exitCode).toBe(0);
    withDb(t.db, (db) => {
      expect(db.prepare('SELECT max(version) FROM schema_migrations').pluck().get()).toBe(2);
      expect(db.prepare('SELECT count(*) FROM filler').pluck().get()).toBe(FILLER_ROWS);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    });
    const list = await cliJson(t.db, ['workspace', 'list'], { env });
    expect(JSON.stringify(list.json)).toContain('"acme"');
  });
});

describe('something that is not a usable database file', () => {
  const noStack = (stderr: string) => expect(stderr).not.toMatch(/^\s*at /m);

  it('a file of random bytes: exit 5, one sentence naming the file, no stack trace', async () => {
    writeFileSync(t.db, randomBytes(8192));
    const r = await cli(t.db, ['workspace', 'list']);
    expect(r.exitCode).toBe(5);
    const [first, ...rest] = r.stderr.trim().split('\n');
    expect(first).toContain(t.db);
    expect(first).toMatch(/^ddx-share: [^\n]+\.$/);
    expect(rest.length).toBeLessThanOrEqual(1); // at most the hint
    noStack(r.stderr);
    const j = await cli(t.db, ['workspace', 'list', '--json']);
    expect(j.exitCode).toBe(5);
    expect(jsonError(j.stderr).code).toBe('DB_NOT_A_DATABASE');
    // The file is left as it was.
    expect(statSync(t.db).size).toBe(8192);
  });

  it('some other SQLite database (tables, no ddx-share history): exit 5', async () => {
    withDb(t.db, (db) => db.exec('CREATE TABLE theirs (x INTEGER)'));
    const r = await cli(t.db, ['workspace', 'list', '--json']);
    expect(r.exitCode).toBe(5);
    expect(jsonError(r.stderr).code).toBe('DB_NOT_A_DATABASE');
    expect(
      withDb(t.db, (db) => db.prepare('SELECT name FROM sqlite_master').pluck().all()),
    ).toEqual(['theirs']);
  });

  it('a directory: exit 5', async () => {
    mkdirSync(t.db);
    const r = await cli(t.db, ['workspace', 'list']);
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toContain(t.db);
    noStack(r.stderr);
  });

  it('an unwritable location (/proc/ddx.db): exit 5', async () => {
    const r = await cli('/proc/ddx.db', ['workspace', 'list', '--json']);
    expect(r.exitCode).toBe(5);
    expect(jsonError(r.stderr).code).toBe('DB_UNAVAILABLE');
  });

  it('a path under a regular file: exit 5', async () => {
    writeFileSync(join(t.dir, 'plain'), 'not a folder');
    const r = await cli(join(t.dir, 'plain', 'ddx.db'), ['workspace', 'list', '--json']);
    expect(r.exitCode).toBe(5);
    expect(jsonError(r.stderr).code).toBe('DB_UNAVAILABLE');
  });
});
