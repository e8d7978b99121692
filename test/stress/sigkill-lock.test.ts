import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUSY_TIMEOUT_MS,
  LOCK_TEXT,
  count,
  figures,
  integrity,
  okJson,
  runCli,
  scaled,
  snapshotCli,
  spawnCli,
  tempFolder,
  verifyAudit,
  withDb,
  writeLockHeld,
  type Run,
  type Snapshot,
} from './helpers.js';

// A writer dies with SIGKILL in the middle of its transaction, holding the write lock. The
// kernel drops its file locks with it, so the writers queued behind it get the lock at their
// next try and finish inside the busy timeout, with no unlock or repair step by anyone.

// Enough rows that the bulk apply still holds the lock at the last kill (2.7 s in) when it runs
// at 40,000 records a second.
const ROWS = scaled(150_000, 50_000);
const TRIALS = scaled(5, 2);
const WRITERS = 6;

let snap: Snapshot;
const tmp = tempFolder('ddx-sigkill-lock-');
const base = join(tmp.dir, 'base', 'ddx.db');
const csv = join(tmp.dir, 'big.csv');
let baseEvents = 0;

beforeAll(async () => {
  snap = await snapshotCli();
  mkdirSync(join(tmp.dir, 'base'));
  await okJson(snap, base, ['migrate']);
  await okJson(snap, base, ['workspace', 'create', 'Org', '--kind', 'org', '--id', 'org']);
  const apps = join(tmp.dir, 'apps.ndjson');
  writeFileSync(
    apps,
    Array.from({ length: ROWS }, (_, i) =>
      JSON.stringify({ name: `App ${i}`, workspace: 'org', env: 'production', id: `a${i}` }),
    ).join('\n'),
  );
  expect((await okJson(snap, base, ['app', 'create', '--file', apps])).applied).toBe(ROWS);
  writeFileSync(
    csv,
    'app,scope\n' + Array.from({ length: ROWS }, (_, i) => `a${i},all\n`).join(''),
  );
  withDb(base, (db) => db.pragma('wal_checkpoint(TRUNCATE)'));
  baseEvents = count(base, 'SELECT count(*) FROM audit_events');
});
afterAll(() => {
  snap?.cleanup();
  tmp.cleanup();
});

function writerArgs(k: number): string[] {
  switch (k % 3) {
    case 0:
      return [
        'workspace',
        'create',
        `Late ${k}`,
        '--kind',
        'org',
        '--parent',
        'org',
        '--id',
        `late${k}`,
      ];
    case 1:
      return [
        'app',
        'create',
        `Late ${k}`,
        '--workspace',
        'org',
        '--env',
        'prod',
        '--id',
        `late${k}`,
      ];
    default:
      return ['set-scope', `a${k}`, 'children', '--ticket', `LATE-${k}`];
  }
}

describe('SIGKILL of the process holding the write lock', () => {
  it(`${TRIALS} trials: ${WRITERS} writers queued behind a killed bulk apply`, async () => {
    const waits: number[] = [];
    const afterKill: number[] = [];
    let heldMs = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = join(tmp.dir, `t${trial}`);
      mkdirSync(dir);
      const db = join(dir, 'ddx.db');
      copyFileSync(base, db);
      const bulk = spawnCli(snap, db, ['set-scope', '--file', csv, '--json']);
      // Wait until the bulk apply holds the lock.
      const t0 = performance.now();
      while (!writeLockHeld(db)) {
        if (performance.now() - t0 > 30_000) throw new Error('the bulk apply never took the lock');
        await sleep(20);
      }
      const started = performance.now();
      const writers = Array.from({ length: WRITERS }, (_, k) =>
        spawnCli(snap, db, [...writerArgs(k), '--json']).then((r): Run & { end: number } => ({
          exitCode: r.exitCode ?? -1,
          stdout: String(r.stdout),
          stderr: String(r.stderr),
          ms: performance.now() - started,
          end: performance.now(),
        })),
      );
      // Let the writers start and queue on the lock, then kill the holder mid-transaction.
      await sleep(1500 + trial * 300);
      expect(writeLockHeld(db), 'the bulk apply should still hold the lock').toBe(true);
      const killedAt = performance.now();
      heldMs = Math.max(heldMs, killedAt - t0);
      bulk.kill('SIGKILL');
      const b = await bulk;
      expect(b.signal).toBe('SIGKILL');
      const results = await Promise.all(writers);
      for (const [k, r] of results.entries()) {
        expect(r.exitCode, `writer ${k}: ${r.stderr}`).toBe(0);
        expect(r.stderr).not.toMatch(LOCK_TEXT);
        expect(r.ms).toBeLessThan(BUSY_TIMEOUT_MS);
        waits.push(r.ms);
        afterKill.push(r.end - killedAt);
      }
      // Nothing of the killed batch, everything of the writers, and a sound file.
      expect(count(db, "SELECT count(*) FROM apps WHERE scope = 'AllWorkspaces'")).toBe(0);
      expect(await verifyAudit(snap, db)).toBe(baseEvents + WRITERS);
      expect(integrity(db)).toBe('ok');
      const next = await runCli(snap, db, ['set-scope', 'a0', 'all', '--json']);
      expect(next.exitCode, next.stderr).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
    waits.sort((a, b) => a - b);
    afterKill.sort((a, b) => a - b);
    figures('sigkill-lock', {
      trials: TRIALS,
      bulkRecords: ROWS,
      writersPerTrial: WRITERS,
      lockHeldBeforeKillMaxMs: heldMs,
      writerWallMsMedian: waits[Math.floor(waits.length / 2)],
      writerWallMsMax: waits.at(-1),
      writerDoneAfterKillMsMax: afterKill.at(-1),
      busyTimeoutMs: BUSY_TIMEOUT_MS,
    });
  });
});
