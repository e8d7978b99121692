import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  count,
  figures,
  fileSize,
  integrity,
  okJson,
  pool,
  runCli,
  scaled,
  snapshotCli,
  spawnCli,
  tempFolder,
  untilCpu,
  verifyAudit,
  withDb,
  writeLockHeld,
  type Snapshot,
} from './helpers.js';

// A 100,000-record set-scope file is one transaction. Killed with SIGKILL at any moment, the
// database must hold either none of it or all of it, with an intact audit chain, and the next
// command must work with no repair step.

const ROWS = scaled(100_000, 2_000);
const TRIALS = scaled(50, 6);
// Two trials at a time: one per core.
const PARALLEL = 2;

let snap: Snapshot;
const tmp = tempFolder('ddx-sigkill-bulk-');
const base = join(tmp.dir, 'base', 'ddx.db');
const csv = join(tmp.dir, 'big.csv');
let baseEvents = 0;
let fullMs = 0;
let fullCpuMs = 0;

beforeAll(async () => {
  snap = await snapshotCli();
  mkdirSync(join(tmp.dir, 'base'));
  await okJson(snap, base, ['migrate']);
  await okJson(snap, base, ['workspace', 'create', 'Org', '--kind', 'org', '--id', 'org']);
  const apps = join(tmp.dir, 'apps.ndjson');
  const lines: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    lines.push(
      JSON.stringify({ name: `App ${i}`, workspace: 'org', env: 'production', id: `a${i}` }),
    );
  }
  writeFileSync(apps, lines.join('\n') + '\n');
  const t0 = performance.now();
  const created = await okJson(snap, base, ['app', 'create', '--file', apps]);
  expect(created.applied).toBe(ROWS);
  const createMs = performance.now() - t0;
  writeFileSync(
    csv,
    'app,scope\n' + Array.from({ length: ROWS }, (_, i) => `a${i},all\n`).join(''),
  );
  // One file per trial: fold the WAL into the main file so a plain copy is the whole database.
  withDb(base, (db) => db.pragma('wal_checkpoint(TRUNCATE)'));
  baseEvents = count(base, 'SELECT count(*) FROM audit_events');
  // A full, unkilled run says how much CPU time a whole apply takes; kill moments are chosen
  // in CPU time, which the load of other work on the machine does not stretch.
  const db = join(tmp.dir, 'full', 'ddx.db');
  mkdirSync(join(tmp.dir, 'full'));
  copyFileSync(base, db);
  const t1 = performance.now();
  const child = spawnCli(snap, db, ['set-scope', '--file', csv, '--json']);
  fullCpuMs = await untilCpu(child.pid!, Infinity);
  const r = await child;
  fullMs = performance.now() - t1;
  expect(r.exitCode, String(r.stderr)).toBe(0);
  expect(count(db, "SELECT count(*) FROM apps WHERE scope = 'AllWorkspaces'")).toBe(ROWS);
  rmSync(join(tmp.dir, 'full'), { recursive: true, force: true });
  figures('sigkill-bulk: setup', {
    apps: ROWS,
    createSeconds: createMs / 1000,
    fullApplySeconds: fullMs / 1000,
    fullApplyCpuSeconds: fullCpuMs / 1000,
    dbBytes: fileSize(base),
  });
});
afterAll(() => {
  snap?.cleanup();
  tmp.cleanup();
});

type Fate = 'before' | 'after';

async function trial(
  n: number,
  killAt: number,
): Promise<{
  fate: Fate;
  exited: boolean;
  wal: number;
  locked: boolean;
  cpu: number;
}> {
  const dir = join(tmp.dir, `t${n}`);
  mkdirSync(dir);
  const db = join(dir, 'ddx.db');
  copyFileSync(base, db);
  const child = spawnCli(snap, db, ['set-scope', '--file', csv, '--json']);
  const cpu = await untilCpu(child.pid!, killAt);
  const wal = fileSize(`${db}-wal`);
  const locked = writeLockHeld(db);
  child.kill('SIGKILL');
  const r = await child;
  // A kill that came after the run ended is a no-op: then it finished on its own.
  const exited = r.signal !== 'SIGKILL';
  if (exited) expect(r.exitCode, String(r.stderr)).toBe(0);

  // The first command after the kill is an ordinary one, with no repair step before it.
  const events = await verifyAudit(snap, db);
  const shared = count(db, "SELECT count(*) FROM apps WHERE scope = 'AllWorkspaces'");
  const stored = count(db, 'SELECT count(*) FROM audit_events');
  expect(stored).toBe(events);
  const fate: Fate = shared === 0 ? 'before' : 'after';
  if (fate === 'before') {
    expect(events, `trial ${n}`).toBe(baseEvents);
  } else {
    expect(shared, `trial ${n}: a partial batch survived`).toBe(ROWS);
    expect(events, `trial ${n}`).toBe(baseEvents + ROWS);
    expect(count(db, "SELECT count(*) FROM audit_events WHERE action = 'app.set-scope'")).toBe(
      ROWS,
    );
  }
  expect(count(db, 'SELECT count(*) FROM apps')).toBe(ROWS);
  expect(integrity(db), `trial ${n}`).toBe('ok');
  const next = await runCli(snap, db, ['set-scope', 'a0', 'children', '--json']);
  expect(next.exitCode, next.stderr).toBe(0);
  expect(JSON.parse(next.stdout).changed).toBe(true);
  expect(count(db, 'SELECT count(*) FROM audit_events')).toBe(events + 1);
  rmSync(dir, { recursive: true, force: true });
  return { fate, exited, wal, locked, cpu };
}

describe('SIGKILL during a bulk apply', () => {
  // About five minutes on two idle cores; twice that on a loaded machine.
  const timeout = 1_500_000;
  it(
    `${TRIALS} kills at random moments of a ${ROWS}-record set-scope --file`,
    { timeout },
    async () => {
      // Moments, in CPU ms of the child, spread over the whole run and a little past it so that
      // some kills land after the commit; the seed is printed so a failing run can be replayed.
      const seed = Number(process.env.STRESS_SEED ?? Date.now() % 1_000_000);
      let s = seed;
      const random = (): number => {
        // mulberry32
        s = (s + 0x6d2b79f5) | 0;
        let t = Math.imul(s ^ (s >>> 15), 1 | s);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      const moments = Array.from({ length: TRIALS }, () => Math.round(random() * fullCpuMs * 1.2));
      const t0 = performance.now();
      let results: Awaited<ReturnType<typeof trial>>[];
      try {
        results = await pool(
          PARALLEL,
          moments.map((m, n) => () => trial(n, m)),
        );
      } catch (err) {
        console.log(`[stress] sigkill-bulk failed with STRESS_SEED=${seed}; moments ${moments}`);
        throw err;
      }
      const killedMidRun = results.filter((r) => !r.exited);
      figures('sigkill-bulk', {
        seed,
        killMomentsCpuMs: moments.join(' '),
        trials: TRIALS,
        records: ROWS,
        killedWhileRunning: killedMidRun.length,
        killedHoldingWriteLock: killedMidRun.filter((r) => r.locked).length,
        killedWithUncommittedWal: killedMidRun.filter((r) => r.wal > 0 && r.fate === 'before')
          .length,
        foundBefore: results.filter((r) => r.fate === 'before').length,
        foundAfter: results.filter((r) => r.fate === 'after').length,
        partialBatches: 0,
        maxWalAtKill: Math.max(...results.map((r) => r.wal)),
        wallSeconds: (performance.now() - t0) / 1000,
      });
      // The kills must have hit the transaction itself, not only start-up and the finished run.
      expect(killedMidRun.filter((r) => r.locked).length).toBeGreaterThan(0);
    },
  );
});
