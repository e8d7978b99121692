import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LOCK_TEXT,
  count,
  figures,
  integrity,
  okJson,
  pool,
  runCli,
  runWorker,
  scaled,
  snapshotCli,
  tempFolder,
  verifyAudit,
  workload,
  type Snapshot,
} from './helpers.js';

// Many writers on one file at once. Every command reads the facts and then writes, each in one
// IMMEDIATE transaction, so they queue on the write lock; none may fail, none may leak
// SQLITE_BUSY, and the audit trail must hold exactly one event per change.

const WORKERS = 8;
const PER_WORKER = scaled(200, 20);
const PROCESSES_PER_WORKER = scaled(10, 4);

let snap: Snapshot;
const tmp = tempFolder('ddx-contention-');

beforeAll(async () => {
  snap = await snapshotCli();
});
afterAll(() => {
  snap?.cleanup();
  tmp.cleanup();
});

async function prepare(db: string): Promise<void> {
  await okJson(snap, db, ['migrate']);
  await okJson(snap, db, [
    'workspace',
    'create',
    'Root',
    '--kind',
    'organizational',
    '--id',
    'root',
  ]);
}

async function checkAfter(db: string, changes: number): Promise<Record<string, number>> {
  const applied = count(db, "SELECT count(*) FROM audit_events WHERE outcome = 'applied'");
  const denied = count(db, "SELECT count(*) FROM audit_events WHERE outcome = 'denied'");
  // One for the root workspace, then one per change.
  expect(denied).toBe(0);
  expect(applied).toBe(changes + 1);
  expect(await verifyAudit(snap, db)).toBe(applied);
  expect(integrity(db)).toBe('ok');
  const check = await runCli(snap, db, ['audit', 'check', '--json']);
  expect(check.exitCode, check.stdout + check.stderr).toBe(0);
  return { applied, denied };
}

describe('contention', () => {
  it(`${WORKERS} processes x ${PER_WORKER} changes through main() at once`, async () => {
    const db = join(tmp.dir, 'many.db');
    await prepare(db);
    const t0 = performance.now();
    const runs = await Promise.all(
      Array.from({ length: WORKERS }, (_, i) =>
        runWorker(snap, db, workload(i, PER_WORKER, 'root'), tmp.dir, `w${i}`),
      ),
    );
    const wall = performance.now() - t0;
    for (const [i, r] of runs.entries()) {
      expect(r.exitCode, `worker ${i}: ${r.stderr}`).toBe(0);
      expect(r.report.failures, `worker ${i}`).toEqual([]);
      expect(r.report.commands).toBe(PER_WORKER);
      expect(r.stderr).not.toMatch(LOCK_TEXT);
      expect(r.stderr.trim()).toBe('');
    }
    const { applied } = await checkAfter(db, WORKERS * PER_WORKER);
    const all = runs.flatMap((r) => r.report.ms).sort((a, b) => a - b);
    figures('contention: in-process workers', {
      processes: WORKERS,
      commandsPerProcess: PER_WORKER,
      changes: WORKERS * PER_WORKER,
      appliedEvents: applied,
      wallSeconds: wall / 1000,
      changesPerSecond: (WORKERS * PER_WORKER) / (wall / 1000),
      medianCommandMs: all[Math.floor(all.length / 2)],
      p99CommandMs: all[Math.floor(all.length * 0.99)],
      maxCommandMs: all.at(-1),
    });
  });

  it(`${WORKERS} x ${PROCESSES_PER_WORKER} separate ddx-share processes at once`, async () => {
    const db = join(tmp.dir, 'separate.db');
    await prepare(db);
    const t0 = performance.now();
    const durations: number[] = [];
    const lanes = Array.from({ length: WORKERS }, (_, i) => async () => {
      for (const argv of workload(i, PROCESSES_PER_WORKER, 'root')) {
        const r = await runCli(snap, db, argv);
        expect(r.exitCode, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
        expect(r.stderr).not.toMatch(LOCK_TEXT);
        durations.push(r.ms);
      }
    });
    await pool(WORKERS, lanes);
    const wall = performance.now() - t0;
    const { applied } = await checkAfter(db, WORKERS * PROCESSES_PER_WORKER);
    durations.sort((a, b) => a - b);
    figures('contention: separate processes', {
      lanes: WORKERS,
      processesPerLane: PROCESSES_PER_WORKER,
      changes: WORKERS * PROCESSES_PER_WORKER,
      appliedEvents: applied,
      wallSeconds: wall / 1000,
      medianProcessMs: durations[Math.floor(durations.length / 2)],
      maxProcessMs: durations.at(-1),
    });
  });
});
