import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import {
  LOCK_TEXT,
  figures,
  integrity,
  runCli,
  scaled,
  snapshotCli,
  tempFolder,
  withDb,
  type Snapshot,
} from './helpers.js';

// Eight staff run `migrate` on the same brand-new file at the same moment. The history is read
// and each migration applied in one IMMEDIATE transaction, so each is applied exactly once and
// every one of the eight exits 0.

const TRIALS = scaled(50, 5);
const RACERS = 8;
const MIGRATIONS = readdirSync(join(ROOT, 'migrations', 'sqlite')).filter((f) =>
  f.endsWith('.sql'),
).length;

let snap: Snapshot;
const tmp = tempFolder('ddx-migrate-race-');

beforeAll(async () => {
  snap = await snapshotCli();
});
afterAll(() => {
  snap?.cleanup();
  tmp.cleanup();
});

describe('migrate race', () => {
  it(`${RACERS} processes migrate one fresh database, ${TRIALS} trials`, async () => {
    const exitCodes = new Map<number, number>();
    let slowest = 0;
    const t0 = performance.now();
    for (let trial = 0; trial < TRIALS; trial++) {
      const db = join(tmp.dir, `t${trial}`, 'ddx.db');
      // Every fifth trial half the racers run a first ordinary command instead, which
      // migrates a brand-new file on the spot.
      const mixed = trial % 5 === 4;
      const runs = await Promise.all(
        Array.from({ length: RACERS }, (_, i) =>
          runCli(snap, db, mixed && i % 2 === 1 ? ['list', '--json'] : ['migrate', '--json']),
        ),
      );
      for (const r of runs) {
        exitCodes.set(r.exitCode, (exitCodes.get(r.exitCode) ?? 0) + 1);
        slowest = Math.max(slowest, r.ms);
        expect(r.stderr).not.toMatch(LOCK_TEXT);
        expect(r.exitCode, `trial ${trial}: ${r.stderr}`).toBe(0);
      }
      const history = withDb(db, (d) =>
        d.prepare('SELECT version, count(*) AS n FROM schema_migrations GROUP BY version').all(),
      ) as { version: number; n: number }[];
      expect(history.length, `trial ${trial}`).toBe(MIGRATIONS);
      for (const h of history) expect(h.n).toBe(1);
      const tables = withDb(db, (d) =>
        d
          .prepare(
            "SELECT name, count(*) AS n FROM sqlite_master WHERE type = 'table' GROUP BY name",
          )
          .all(),
      ) as { name: string; n: number }[];
      expect(tables.map((t) => t.name)).toContain('apps');
      expect(integrity(db)).toBe('ok');
    }
    figures('migrate race', {
      trials: TRIALS,
      processesPerTrial: RACERS,
      migrationsEach: MIGRATIONS,
      wallSeconds: (performance.now() - t0) / 1000,
      slowestProcessMs: slowest,
      exitCodes: JSON.stringify(Object.fromEntries(exitCodes)),
    });
  });
});
