import { openSqlite, type Database } from './driver.js';
import { closeSync, mkdirSync, openSync, statSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { DdxError } from '../../errors.js';

export type Db = Database;

/** How long a writer waits for another to finish before giving up with exit 5. */
export const BUSY_TIMEOUT_MS = 10_000;

/**
 * Opens the file with the settings every connection must have: WAL so readers never block the
 * writer, synchronous=FULL so an acknowledged change survives power loss (better-sqlite3's WAL
 * default, NORMAL, may lose the last commits), foreign keys on, and a busy timeout so a writer
 * waits its turn instead of failing.
 */
export function openDatabase(path: string): Db {
  try {
    ensureFolder(dirname(path));
    createPrivate(path);
    const db = openSqlite(path, { timeout: BUSY_TIMEOUT_MS });
    toWal(db);
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    return db;
  } catch (err) {
    throw sqliteError(err, path);
  }
}

/**
 * Turns WAL on. On a brand-new file several first commands race to make the switch, and SQLite
 * answers the losers SQLITE_BUSY at once instead of calling the busy handler, so the switch is
 * retried here for as long as any other lock would be waited for.
 */
function toWal(db: Db): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      const code = String((err as { code?: unknown }).code ?? '');
      if (!code.startsWith('SQLITE_BUSY') || Date.now() > deadline) throw err;
      Atomics.wait(pause, 0, 0, wait);
    }
  }
}

/**
 * Creates the missing folders one level at a time. Node's recursive mkdir never returns on some
 * paths (under /proc/self, for one), so the nearest existing ancestor is found first, and a
 * file standing where a folder should be is an error rather than a loop.
 */
function ensureFolder(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    const kind = statSync(d, { throwIfNoEntry: false });
    if (kind) {
      if (!kind.isDirectory()) {
        throw Object.assign(new Error(`${d} is not a folder`), { code: 'ENOTDIR' });
      }
      break;
    }
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode: 0o700 });
    } catch (err) {
      // Several first commands at once race to make the folder: the others made it first.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' || !statSync(d).isDirectory()) throw err;
    }
  }
}

// A new database is readable by its owner only; SQLite gives its -wal and -shm files the same
// mode. Creating the file ourselves first is the only way to choose that mode.
function createPrivate(path: string): void {
  if (path === ':memory:') return;
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * On a full disk SQLite says only "disk I/O error" when it cannot grow the -shm file
 * (SQLITE_IOERR_SHMSIZE), which every command, even a read, needs first: ask the file system.
 */
function diskFull(path: string): boolean {
  if (path === ':memory:') return false;
  try {
    const fs = statfsSync(dirname(path));
    return fs.bavail * fs.bsize < 64 * 1024;
  } catch {
    return false;
  }
}

/** Turns what SQLite or the file system said into one sentence naming the file. */
export function sqliteError(err: unknown, path: string): unknown {
  if (err instanceof DdxError) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  const said = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new DdxError('DB_NOT_A_DATABASE', `${path} is not a ddx-share database (${said}).`, {
      hint: 'Check --db or DDX_SHARE_DB.',
      cause: err,
    });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new DdxError(
      'DB_LOCKED',
      `${path} stayed locked by another writer for over ${BUSY_TIMEOUT_MS / 1000} s.`,
      { hint: 'Try again when the other ddx-share command has finished.', cause: err },
    );
  }
  if (
    code === 'SQLITE_FULL' ||
    code === 'ENOSPC' ||
    (code.startsWith('SQLITE_IOERR') && diskFull(path))
  ) {
    return new DdxError('DB_FULL', `The disk holding ${path} is full; nothing was written.`, {
      hint: 'Free some space and run the command again.',
      cause: err,
    });
  }
  if (
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_IOERR') ||
    code.startsWith('SQLITE_PERM') ||
    [
      'EACCES',
      'EROFS',
      'ENOTDIR',
      'EISDIR',
      'EPERM',
      'ENOENT',
      'EEXIST',
      'ENAMETOOLONG',
      'ELOOP',
    ].includes(code)
  ) {
    return new DdxError('DB_UNAVAILABLE', `Cannot use the database ${path}: ${said}.`, {
      hint: 'Check that the path is right and writable, or pass another with --db.',
      cause: err,
    });
  }
  return err;
}
