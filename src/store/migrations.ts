import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DdxError } from '../errors.js';
import type { MigrationStatus } from './store.js';

// The migration runner's pure half: which files exist, what the database says it applied, and
// whether the two agree. Refusals follow Flyway's spirit: a history that was edited, lost a
// file, came from a newer build, or would run out of order is never touched.

export interface MigrationFile {
  version: number;
  name: string;
  checksum: string;
  sql: string;
}

export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  appliedAt: string;
}

const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export function checksumOf(sql: string): string {
  // Line endings are normalised so that a checkout with CRLF conversion is not "modified".
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

export function loadMigrationFiles(dir: string): MigrationFile[] {
  const files: MigrationFile[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const m = FILE.exec(entry);
    if (!m) continue;
    const sql = readFileSync(join(dir, entry), 'utf8');
    files.push({ version: Number(m[1]), name: m[2]!, checksum: checksumOf(sql), sql });
  }
  for (let i = 1; i < files.length; i++) {
    if (files[i]!.version === files[i - 1]!.version) {
      throw new DdxError(
        'DB_MIGRATION_OUT_OF_ORDER',
        `Two migration files share version ${files[i]!.version} in ${dir}.`,
      );
    }
  }
  return files;
}

export interface MigrationPlan {
  status: MigrationStatus;
  pending: MigrationFile[];
  /** Why nothing may be migrated or used, if anything is wrong with the history. */
  problem: DdxError | null;
}

/** Compares files with the applied history, and says what is pending or what is wrong. */
export function planMigrations(
  files: readonly MigrationFile[],
  applied: readonly AppliedMigration[],
  label: string,
): MigrationPlan {
  let problem: DdxError | null = null;
  try {
    checkHistory(files, applied, label);
  } catch (err) {
    if (!(err instanceof DdxError)) throw err;
    problem = err;
  }
  const done = new Map(applied.map((r) => [r.version, r]));
  const current = applied.reduce((max, r) => Math.max(max, r.version), 0);
  const pending = files.filter((f) => !done.has(f.version));
  const status: MigrationStatus = {
    current,
    migrations: files.map((f) => {
      const row = done.get(f.version);
      const state = !row ? 'pending' : row.checksum === f.checksum ? 'applied' : 'modified';
      return {
        version: f.version,
        name: f.name,
        checksum: f.checksum,
        appliedAt: row?.appliedAt ?? null,
        state,
      };
    }),
  };
  return { status, pending, problem };
}

function checkHistory(
  files: readonly MigrationFile[],
  applied: readonly AppliedMigration[],
  label: string,
): void {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  const newestFile = files.at(-1)?.version ?? 0;
  for (const row of applied) {
    const file = byVersion.get(row.version);
    if (!file && row.version > newestFile) {
      throw new DdxError(
        'DB_NEWER',
        `${label} has migration ${row.version} (${row.name}), newer than this build of ` +
          `ddx-share knows (${newestFile}).`,
        { hint: 'Use a newer ddx-share with this database.' },
      );
    }
    if (!file) {
      throw new DdxError(
        'DB_MIGRATION_MISSING',
        `${label} applied migration ${pad(row.version)}_${row.name}.sql, but that file is gone.`,
        { hint: 'Restore the file; applied migrations are never removed.' },
      );
    }
    if (file.checksum !== row.checksum) {
      throw new DdxError(
        'DB_MIGRATION_MODIFIED',
        `Migration ${pad(row.version)}_${file.name}.sql changed after it was applied to ` +
          `${label}: applied checksum ${row.checksum}, file checksum ${file.checksum}.`,
        {
          hint: 'Restore the file as it was, and put the change in a new migration.',
          details: { version: row.version, applied: row.checksum, file: file.checksum },
        },
      );
    }
  }
  const done = new Set(applied.map((r) => r.version));
  const current = applied.reduce((max, r) => Math.max(max, r.version), 0);
  const early = files.find((f) => !done.has(f.version) && f.version < current);
  if (early) {
    throw new DdxError(
      'DB_MIGRATION_OUT_OF_ORDER',
      `Migration ${pad(early.version)}_${early.name}.sql is pending but numbered before ` +
        `migration ${current}, which ${label} already applied.`,
      { hint: 'Renumber it after the newest applied migration.' },
    );
  }
}

function pad(version: number): string {
  return String(version).padStart(4, '0');
}
