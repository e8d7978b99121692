import { afterAll, beforeAll, expect, it } from 'vitest';
import { describePg, useTestDatabase } from '../store/pg-helpers.js';
import {
  LOCK_TEXT,
  figures,
  okJson,
  runCli,
  runWorker,
  scaled,
  snapshotCli,
  tempFolder,
  workload,
  type Snapshot,
} from './helpers.js';

// Many writers on one PostgreSQL schema at once: 8 processes, each running its 200 commands
// through dist/cli.js's main() (fixtures/run-many.mjs). Writers queue on the schema's advisory
// write lock; none may fail or time out, no change may be lost, and the audit chain, appended by
// all of them in turn, must hold exactly one applied event per change and verify end to end.

const WORKERS = 8;
const PER_WORKER = scaled(200, 20);

describePg('contention on PostgreSQL', () => {
  const pg = useTestDatabase();
  let snap: Snapshot;
  const tmp = tempFolder('ddx-pg-contention-');

  beforeAll(async () => {
    snap = await snapshotCli();
  });
  afterAll(() => {
    snap?.cleanup();
    tmp.cleanup();
  });

  it(`${WORKERS} processes x ${PER_WORKER} changes through main() on one schema`, async () => {
    const url = pg.freshUrl();
    await okJson(snap, url, ['migrate']);
    await okJson(snap, url, ['workspace', 'create', 'Root', '--kind', 'org', '--id', 'root']);

    const t0 = performance.now();
    const runs = await Promise.all(
      Array.from({ length: WORKERS }, (_, i) =>
        runWorker(snap, url, workload(i, PER_WORKER, 'root'), tmp.dir, `w${i}`),
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

    // Counted in the database itself, then through the CLI.
    const changes = WORKERS * PER_WORKER;
    const raw = await pg.raw(url);
    const counts = await raw.query<{ outcome: string; n: string }>(
      'SELECT outcome, count(*) AS n FROM audit_events GROUP BY outcome',
    );
    const by = Object.fromEntries(counts.rows.map((row) => [row.outcome, Number(row.n)]));
    // One event for the root workspace, then one per change; nothing denied.
    expect(by).toEqual({ applied: changes + 1 });
    // Seqs 1..n with no gap and no repeat.
    const seqs = await raw.query<{ n: string; lo: string; hi: string; distinct: string }>(
      'SELECT count(*) AS n, count(DISTINCT seq) AS distinct, min(seq) AS lo, max(seq) AS hi ' +
        'FROM audit_events',
    );
    const n = String(changes + 1);
    expect(seqs.rows[0]).toEqual({ n, distinct: n, lo: '1', hi: n });

    const verify = await okJson(snap, url, ['audit', 'verify']);
    expect(verify).toEqual({ ok: true, events: changes + 1, firstBadSeq: null });
    const check = await runCli(snap, url, ['audit', 'check', '--json']);
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    const applied = await okJson<unknown[]>(snap, url, ['audit', 'log', '--outcome', 'applied']);
    expect(applied).toHaveLength(changes + 1);
    const workspaces = await okJson<unknown[]>(snap, url, ['workspace', 'list']);
    // root, each worker's own, and one child per ten commands of a worker.
    const perWorker = 1 + Math.ceil(Math.max(0, PER_WORKER - 3) / 10);
    expect(workspaces).toHaveLength(1 + WORKERS * perWorker);

    const all = runs.flatMap((r) => r.report.ms).sort((a, b) => a - b);
    figures('contention on PostgreSQL: in-process workers', {
      processes: WORKERS,
      commandsPerProcess: PER_WORKER,
      changes,
      appliedEvents: by.applied,
      wallSeconds: wall / 1000,
      changesPerSecond: changes / (wall / 1000),
      medianCommandMs: all[Math.floor(all.length / 2)],
      p99CommandMs: all[Math.floor(all.length * 0.99)],
      maxCommandMs: all.at(-1),
    });
  });
});
