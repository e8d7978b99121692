import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  count,
  figures,
  fileSize,
  integrity,
  okJson,
  runCli,
  runWorker,
  scaled,
  snapshotCli,
  tempFolder,
  verifyAudit,
  withDb,
  workload,
  type Snapshot,
} from './helpers.js';

// `backup` is taken again and again while eight writers keep changing the database. Each copy
// must be a consistent snapshot: sound pages, an unbroken audit chain that is a prefix of the
// live one, and data that keeps every rule.

const WORKERS = 8;
const PER_WORKER = scaled(150, 20);
const MIN_BACKUPS = scaled(12, 3);
// Enough apps that the file spans thousands of pages, so a copy takes many steps.
const APPS = scaled(20_000, 2_000);

let snap: Snapshot;
const tmp = tempFolder('ddx-backup-');

beforeAll(async () => {
  snap = await snapshotCli();
});
afterAll(() => {
  snap?.cleanup();
  tmp.cleanup();
});

describe('backup during writes', () => {
  it(`backups while ${WORKERS} writers run ${PER_WORKER} changes each`, async () => {
    const db = join(tmp.dir, 'live', 'ddx.db');
    mkdirSync(join(tmp.dir, 'live'));
    mkdirSync(join(tmp.dir, 'copies'));
    await okJson(snap, db, ['migrate']);
    await okJson(snap, db, ['workspace', 'create', 'Root', '--kind', 'org', '--id', 'root']);
    const apps = join(tmp.dir, 'apps.ndjson');
    writeFileSync(
      apps,
      Array.from({ length: APPS }, (_, i) =>
        JSON.stringify({ name: `Filler ${i}`, workspace: 'root', env: 'prod', id: `f${i}` }),
      ).join('\n'),
    );
    await okJson(snap, db, ['app', 'create', '--file', apps]);

    let writing = true;
    const writers = Promise.all(
      Array.from({ length: WORKERS }, (_, i) =>
        runWorker(snap, db, workload(i, PER_WORKER, 'root'), tmp.dir, `w${i}`),
      ),
    ).finally(() => {
      writing = false;
    });

    const copies: { path: string; ms: number; duringWrites: boolean }[] = [];
    const t0 = performance.now();
    while (writing || copies.length < MIN_BACKUPS) {
      const path = join(tmp.dir, 'copies', `b${copies.length}.db`);
      const started = writing;
      const r = await runCli(snap, db, ['backup', path, '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).path).toBe(path);
      copies.push({ path, ms: r.ms, duringWrites: started && writing });
    }
    const wall = performance.now() - t0;
    for (const [i, w] of (await writers).entries()) {
      expect(w.exitCode, `worker ${i}: ${w.stderr}`).toBe(0);
      expect(w.report.failures).toEqual([]);
    }

    // The live chain, to check each copy's chain is a prefix of it.
    const live = withDb(
      db,
      (d) =>
        new Map(
          (
            d.prepare('SELECT seq, hash FROM audit_events').all() as { seq: number; hash: string }[]
          ).map((e) => [e.seq, e.hash]),
        ),
    );
    const seen = new Set<number>();
    for (const c of copies) {
      expect(integrity(c.path), c.path).toBe('ok');
      const events = await verifyAudit(snap, c.path);
      const head = withDb(c.path, (d) =>
        d.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get(),
      ) as { seq: number; hash: string };
      expect(head.seq).toBe(events);
      expect(live.get(head.seq), `${c.path} is not a prefix of the live chain`).toBe(head.hash);
      const check = await runCli(snap, c.path, ['audit', 'check', '--json']);
      expect(check.exitCode, check.stdout).toBe(0);
      // One applied event per change in the copy too: apps and workspaces match their events.
      expect(count(c.path, 'SELECT count(*) FROM apps')).toBe(
        count(c.path, "SELECT count(*) FROM audit_events WHERE action = 'app.create'"),
      );
      seen.add(events);
    }
    const during = copies.filter((c) => c.duringWrites);
    const ms = copies.map((c) => c.ms).sort((a, b) => a - b);
    figures('backup during writes', {
      writers: WORKERS,
      changesPerWriter: PER_WORKER,
      fillerApps: APPS,
      backups: copies.length,
      backupsWhileWriting: during.length,
      distinctSnapshots: seen.size,
      backupMsMedian: ms[Math.floor(ms.length / 2)],
      backupMsMax: ms.at(-1),
      liveDbBytes: fileSize(db),
      wallSeconds: wall / 1000,
    });
    expect(during.length).toBeGreaterThan(0);
  });
});
