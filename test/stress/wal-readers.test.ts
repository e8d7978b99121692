import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChange } from '../../src/commands/run-change.js';
import { setScope } from '../../src/service/changes.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import {
  BUSY_TIMEOUT_MS,
  figures,
  fileSize,
  integrity,
  okJson,
  runCli,
  scaled,
  snapshotCli,
  spawnCli,
  tempFolder,
  verifyAudit,
  type Snapshot,
} from './helpers.js';

// Readers that overlap without a gap keep some snapshot of the WAL in use at every moment. The
// WAL can only be reset when a checkpoint has copied all of it back and no reader still needs
// it, so a steady stream of overlapping `list` processes during many small writes is the case
// that grows a WAL without bound. It must stay bounded, and the writer must never wait long.

const WRITES = scaled(50_000, 2_000);
const APPS = scaled(10_000, 1_000);
const FLIPPED = 1_000;
const READER_LANES = 2;
const WAL_LIMIT = 64 * 1024 * 1024;

let snap: Snapshot;
const tmp = tempFolder('ddx-wal-');

beforeAll(async () => {
  snap = await snapshotCli();
});
afterAll(() => {
  snap?.cleanup();
  tmp.cleanup();
});

describe('WAL with overlapping readers', () => {
  it(`${WRITES} writes while ${READER_LANES} lanes of list processes overlap`, async () => {
    const db = join(tmp.dir, 'ddx.db');
    await okJson(snap, db, ['migrate']);
    await okJson(snap, db, ['workspace', 'create', 'Org', '--kind', 'org', '--id', 'org']);
    const apps = join(tmp.dir, 'apps.ndjson');
    writeFileSync(
      apps,
      Array.from({ length: APPS }, (_, i) =>
        JSON.stringify({ name: `App ${i}`, workspace: 'org', env: 'prod', id: `a${i}` }),
      ).join('\n'),
    );
    await okJson(snap, db, ['app', 'create', '--file', apps]);

    let writing = true;
    let lists = 0;
    let maxListMs = 0;
    const listFailures: string[] = [];
    const lanes = Array.from({ length: READER_LANES }, async (_, lane) => {
      // Stagger the lanes so one list is always open while the other starts.
      await new Promise((r) => setTimeout(r, lane * 300));
      const out = join(tmp.dir, `list-${lane}.ndjson`);
      while (writing) {
        // Output goes straight to a file: a pipe that this busy process drained late would hold
        // each reader's snapshot open for as long as the writer loop kept it from draining.
        const t = performance.now();
        const r = await spawnCli(snap, db, ['list', '--format', 'ndjson'], {
          stdout: { file: out },
        });
        const ms = performance.now() - t;
        if (r.exitCode !== 0) listFailures.push(String(r.stderr));
        else expect(readFileSync(out, 'utf8').trim().split('\n').length).toBe(APPS);
        lists++;
        maxListMs = Math.max(maxListMs, ms);
      }
    });

    const store = SqliteStore.open(db);
    let maxWal = 0;
    const trace: string[] = [];
    let maxWriteMs = 0;
    const slow: number[] = [];
    const meta = { actor: 'writer@ddx.example', at: '', ticket: null, reason: null, batch: null };
    const t0 = performance.now();
    try {
      // Let the first readers get going before the writes start.
      await new Promise((r) => setTimeout(r, 1000));
      for (let i = 0; i < WRITES; i++) {
        const app = `a${i % FLIPPED}`;
        // Each pass over the flipped apps alternates their scope, so every write changes one.
        const scope = Math.floor(i / FLIPPED) % 2 === 0 ? 'AllWorkspaces' : 'CurrentWorkspaceOnly';
        const w0 = performance.now();
        const r = await runChange(store, (w) =>
          setScope(w, app, { scope }, { ...meta, at: new Date().toISOString() }, { write: true }),
        );
        const ms = performance.now() - w0;
        expect(r.changed).toBe(true);
        maxWriteMs = Math.max(maxWriteMs, ms);
        if (ms > 1000) slow.push(ms);
        if (i % 25 === 0) {
          maxWal = Math.max(maxWal, fileSize(`${db}-wal`));
          if (i % Math.ceil(WRITES / 10) === 0) trace.push((maxWal / 1024 / 1024).toFixed(1));
          // Give the event loop a turn: the reader lanes start their processes from it.
          await tick();
        }
      }
    } finally {
      writing = false;
      maxWal = Math.max(maxWal, fileSize(`${db}-wal`));
      await Promise.all(lanes);
      await store.close();
    }
    const wall = performance.now() - t0;
    expect(listFailures).toEqual([]);
    expect(lists).toBeGreaterThan(READER_LANES);
    expect(await verifyAudit(snap, db)).toBe(1 + APPS + WRITES);
    expect(integrity(db)).toBe('ok');
    const check = await runCli(snap, db, ['audit', 'check', '--json']);
    expect(check.exitCode).toBe(0);
    figures('wal-readers', {
      writes: WRITES,
      apps: APPS,
      listProcesses: lists,
      maxListMs,
      maxWalBytes: maxWal,
      maxWalMiB: maxWal / 1024 / 1024,
      maxWalMiBAtEachTenth: trace.join(' '),
      walLimitMiB: WAL_LIMIT / 1024 / 1024,
      maxWriteMs,
      writesOver1s: slow.length,
      writesPerSecond: WRITES / (wall / 1000),
      wallSeconds: wall / 1000,
    });
    expect(maxWal).toBeLessThan(WAL_LIMIT);
    expect(maxWriteMs).toBeLessThan(BUSY_TIMEOUT_MS);
  });
});
