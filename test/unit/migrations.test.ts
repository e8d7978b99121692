// The pure half of the migration runner: which files exist, their checksums, and how they are
// compared with the history a database says it applied.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DdxError } from '../../src/errors.js';
import {
  checksumOf,
  loadMigrationFiles,
  planMigrations,
  type AppliedMigration,
  type MigrationFile,
} from '../../src/store/migrations.js';
import { tempDir } from '../helpers/cli.js';

const LABEL = '/tmp/test.db';

function file(version: number, name = `m${version}`, sql = `SELECT ${version};`): MigrationFile {
  return { version, name, checksum: checksumOf(sql), sql };
}

function applied(f: MigrationFile, over: Partial<AppliedMigration> = {}): AppliedMigration {
  return {
    version: f.version,
    name: f.name,
    checksum: f.checksum,
    appliedAt: `2026-01-0${f.version}T00:00:00.000Z`,
    ...over,
  };
}

describe('checksumOf', () => {
  it('is the sha256 hex of the text', () => {
    expect(checksumOf('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(checksumOf('SELECT 1;')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('normalises CRLF to LF, so a checkout with line-ending conversion is not "modified"', () => {
    expect(checksumOf('CREATE TABLE t (x);\r\nSELECT 1;\r\n')).toBe(
      checksumOf('CREATE TABLE t (x);\nSELECT 1;\n'),
    );
  });

  it('still sees any other change, including whitespace', () => {
    const base = checksumOf('SELECT 1;\n');
    expect(checksumOf('SELECT 1;')).not.toBe(base);
    expect(checksumOf('SELECT  1;\n')).not.toBe(base);
    expect(checksumOf('SELECT 2;\n')).not.toBe(base);
    // A lone CR is not a line ending that checkouts introduce; it stays significant.
    expect(checksumOf('SELECT 1;\r')).not.toBe(checksumOf('SELECT 1;\n'));
  });
});

describe('loadMigrationFiles', () => {
  let t: ReturnType<typeof tempDir>;
  let dir: string;
  beforeEach(() => {
    t = tempDir('ddx-unit-mig-');
    dir = join(t.dir, 'sqlite');
    mkdirSync(dir);
  });
  afterEach(() => t.cleanup());

  it('orders files by version whatever order they were written in', () => {
    for (const name of ['0003_third.sql', '0001_first.sql', '0010_tenth.sql', '0002_second.sql']) {
      writeFileSync(join(dir, name), `-- ${name}\n`);
    }
    const files = loadMigrationFiles(dir);
    expect(files.map((f) => [f.version, f.name])).toEqual([
      [1, 'first'],
      [2, 'second'],
      [3, 'third'],
      [10, 'tenth'],
    ]);
    expect(files[0]!.sql).toBe('-- 0001_first.sql\n');
    expect(files[0]!.checksum).toBe(checksumOf('-- 0001_first.sql\n'));
  });

  it('ignores files that are not named NNNN_name.sql', () => {
    writeFileSync(join(dir, '0001_initial.sql'), 'SELECT 1;');
    for (const name of ['README.md', '1_short.sql', '0002_Upper.sql', '0003_x.sql.bak', 'x.sql']) {
      writeFileSync(join(dir, name), 'SELECT 2;');
    }
    expect(loadMigrationFiles(dir).map((f) => f.version)).toEqual([1]);
  });

  it('gives a CRLF file the checksum of its LF twin, and keeps the text as read', () => {
    writeFileSync(join(dir, '0001_crlf.sql'), 'SELECT 1;\r\nSELECT 2;\r\n');
    const [f] = loadMigrationFiles(dir);
    expect(f!.checksum).toBe(checksumOf('SELECT 1;\nSELECT 2;\n'));
    expect(f!.sql).toBe('SELECT 1;\r\nSELECT 2;\r\n');
  });

  it('refuses two files with the same version', () => {
    writeFileSync(join(dir, '0001_initial.sql'), 'SELECT 1;');
    writeFileSync(join(dir, '0002_a.sql'), 'SELECT 2;');
    writeFileSync(join(dir, '0002_b.sql'), 'SELECT 3;');
    let err: unknown;
    try {
      loadMigrationFiles(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DdxError);
    expect((err as DdxError).code).toBe('DB_MIGRATION_OUT_OF_ORDER');
    expect((err as DdxError).exitCode).toBe(5);
    expect((err as DdxError).message).toContain('version 2');
  });

  it('reads an empty folder as no migrations', () => {
    expect(loadMigrationFiles(dir)).toEqual([]);
  });

  it('loads the real migrations folder', () => {
    const files = loadMigrationFiles(join(import.meta.dirname, '../../migrations/sqlite'));
    expect(files[0]).toMatchObject({ version: 1, name: 'initial' });
  });
});

describe('planMigrations', () => {
  const f1 = file(1, 'initial');
  const f2 = file(2, 'second');
  const f3 = file(3, 'third');

  it('on a fresh database, everything is pending and current is 0', () => {
    const plan = planMigrations([f1, f2], [], LABEL);
    expect(plan.problem).toBeNull();
    expect(plan.pending).toEqual([f1, f2]);
    expect(plan.status).toEqual({
      current: 0,
      migrations: [
        { version: 1, name: 'initial', checksum: f1.checksum, appliedAt: null, state: 'pending' },
        { version: 2, name: 'second', checksum: f2.checksum, appliedAt: null, state: 'pending' },
      ],
    });
  });

  it('on a database that is behind, only the newer files are pending', () => {
    const plan = planMigrations([f1, f2, f3], [applied(f1)], LABEL);
    expect(plan.problem).toBeNull();
    expect(plan.pending.map((f) => f.version)).toEqual([2, 3]);
    expect(plan.status.current).toBe(1);
    expect(plan.status.migrations.map((m) => [m.version, m.state, m.appliedAt])).toEqual([
      [1, 'applied', '2026-01-01T00:00:00.000Z'],
      [2, 'pending', null],
      [3, 'pending', null],
    ]);
  });

  it('on an up-to-date database, nothing is pending', () => {
    const plan = planMigrations([f1, f2], [applied(f1), applied(f2)], LABEL);
    expect(plan.problem).toBeNull();
    expect(plan.pending).toEqual([]);
    expect(plan.status.current).toBe(2);
    expect(plan.status.migrations.every((m) => m.state === 'applied')).toBe(true);
  });

  it('an applied file whose text changed is DB_MIGRATION_MODIFIED, with both checksums', () => {
    const edited = file(1, 'initial', 'SELECT 1; -- edited');
    const plan = planMigrations([edited, f2], [applied(f1), applied(f2)], LABEL);
    expect(plan.problem?.code).toBe('DB_MIGRATION_MODIFIED');
    expect(plan.problem?.exitCode).toBe(5);
    expect(plan.problem?.message).toContain('0001_initial.sql');
    expect(plan.problem?.message).toContain(f1.checksum);
    expect(plan.problem?.message).toContain(edited.checksum);
    expect(plan.problem?.message).toContain(LABEL);
    expect(plan.problem?.details).toEqual({
      version: 1,
      applied: f1.checksum,
      file: edited.checksum,
    });
    // The status is still computed, with the edited row marked.
    expect(plan.status.migrations.map((m) => m.state)).toEqual(['modified', 'applied']);
  });

  it('an applied file that is gone (older than the newest file) is DB_MIGRATION_MISSING', () => {
    const plan = planMigrations([f1, f3], [applied(f1), applied(f2), applied(f3)], LABEL);
    expect(plan.problem?.code).toBe('DB_MIGRATION_MISSING');
    expect(plan.problem?.exitCode).toBe(5);
    expect(plan.problem?.message).toContain('0002_second.sql');
  });

  it('a history newer than every file is DB_NEWER', () => {
    const newer = applied(file(9999, 'future'));
    const plan = planMigrations([f1, f2], [applied(f1), applied(f2), newer], LABEL);
    expect(plan.problem?.code).toBe('DB_NEWER');
    expect(plan.problem?.exitCode).toBe(5);
    expect(plan.problem?.message).toContain('9999');
    expect(plan.problem?.message).toContain('future');
    expect(plan.status.current).toBe(9999);
  });

  it('a pending file numbered before an applied one is DB_MIGRATION_OUT_OF_ORDER', () => {
    const plan = planMigrations([f1, f2, f3], [applied(f1), applied(f3)], LABEL);
    expect(plan.problem?.code).toBe('DB_MIGRATION_OUT_OF_ORDER');
    expect(plan.problem?.exitCode).toBe(5);
    expect(plan.problem?.message).toContain('0002_second.sql');
    expect(plan.status.current).toBe(3);
    expect(plan.pending.map((f) => f.version)).toEqual([2]);
  });

  it('an edited file is reported before a pending one out of order', () => {
    const edited = file(1, 'initial', 'SELECT 1; -- edited');
    const plan = planMigrations([edited, f2, f3], [applied(f1), applied(f3)], LABEL);
    expect(plan.problem?.code).toBe('DB_MIGRATION_MODIFIED');
  });

  it('the problem is returned, not thrown', () => {
    expect(() => planMigrations([], [applied(f1)], LABEL)).not.toThrow();
    expect(planMigrations([], [applied(f1)], LABEL).problem).toBeInstanceOf(DdxError);
  });
});
