import Database from 'better-sqlite3';
import { execa } from 'execa';
import {
  closeSync,
  ftruncateSync,
  fstatSync,
  mkdirSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import {
  cliEnv,
  count,
  figures,
  integrity,
  okJson,
  runCli,
  snapshotCli,
  tempFolder,
  verifyAudit,
  type Run,
  type Snapshot,
} from './helpers.js';

// The disk under the database fills up. Every command must then either work or stop with exit
// 5 and one plain sentence (no stack trace), leave nothing half written, and work again once
// space is freed. The disk is a 2 MiB tmpfs mounted for the test (we run as root); where mount
// is not allowed the test falls back to RLIMIT_FSIZE (prlimit --fsize), under which a write past
// the limit fails with EFBIG. STRESS_DISK_FULL=rlimit forces the fallback.

let snap: Snapshot;
const tmp = tempFolder('ddx-disk-full-');
const mnt = join(tmp.dir, 'mnt');
let mode: 'tmpfs' | 'rlimit' = 'tmpfs';

beforeAll(async () => {
  snap = await snapshotCli();
  mkdirSync(mnt);
  if (process.env.STRESS_DISK_FULL !== 'rlimit') {
    const r = await execa('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], {
      reject: false,
    });
    if (r.exitCode !== 0) mode = 'rlimit';
  } else mode = 'rlimit';
});
afterAll(async () => {
  snap?.cleanup();
  if (mode === 'tmpfs') await execa('umount', [mnt], { reject: false });
  tmp.cleanup();
});

/** Fills the file system holding `dir`, then gives back `leave` bytes. */
function fill(dir: string, leave: number): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'a');
  try {
    for (const size of [256 * 1024, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 0x55);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
    if (leave > 0) ftruncateSync(fd, Math.max(0, fstatSync(fd).size - leave));
  } finally {
    closeSync(fd);
  }
  return path;
}

/** Runs a command the way the mode needs: plainly on the small disk, or under prlimit. */
function run(db: string, args: string[], limit?: number): Promise<Run> {
  if (limit === undefined) return runCli(snap, db, args);
  const t0 = performance.now();
  return execa('prlimit', [`--fsize=${limit}`, 'node', snap.bin, ...args], {
    env: cliEnv(db),
    extendEnv: false,
    reject: false,
    cwd: ROOT,
    timeout: 120_000,
  }).then((r) => ({
    exitCode: r.exitCode ?? -1,
    stdout: String(r.stdout),
    stderr: String(r.stderr),
    ms: performance.now() - t0,
  }));
}

interface Attempt {
  name: string;
  args: string[];
  /** Applied events it adds when it works. */
  events: number;
  apps: number;
}

function attempts(tag: string, bulkFile: string, scope: string): Attempt[] {
  return [
    {
      name: 'app create',
      args: [
        'app',
        'create',
        `X ${tag}`,
        '--workspace',
        'org',
        '--env',
        'prod',
        '--id',
        `x-${tag}`,
      ],
      events: 1,
      apps: 1,
    },
    {
      name: 'workspace create',
      args: [
        'workspace',
        'create',
        `W ${tag}`,
        '--kind',
        'org',
        '--parent',
        'org',
        '--id',
        `w-${tag}`,
      ],
      events: 1,
      apps: 0,
    },
    { name: 'set-scope', args: ['set-scope', 'seed', scope, '--reason', tag], events: 1, apps: 0 },
    {
      name: 'bulk app create',
      args: ['app', 'create', '--file', bulkFile],
      events: 2000,
      apps: 2000,
    },
  ];
}

/** One failure as people see it: exit 5, a sentence and a hint (or one JSON line), no stack. */
function expectClean(r: Run, what: string, json: boolean): void {
  expect([0, 5], `${what}: exit ${r.exitCode}\n${r.stderr}`).toContain(r.exitCode);
  if (r.exitCode === 0) return;
  expect(r.stderr, what).not.toMatch(/^\s+at /m);
  expect(r.stderr, what).not.toMatch(/unexpected error|This is a bug/);
  const lines = r.stderr.trim().split('\n');
  if (json) {
    expect(lines.length, what).toBe(1);
    expect(JSON.parse(lines[0]!).error.message, what).toMatch(/^[^\n]+\.$/);
  } else {
    expect(lines.length, what).toBeLessThanOrEqual(2);
    expect(lines[0], what).toMatch(/^ddx-share: [^\n]+\.$/);
  }
}

describe(`disk full`, () => {
  it('fails cleanly while full, loses nothing, and works once space is freed', async () => {
    const dir = mode === 'tmpfs' ? mnt : join(tmp.dir, 'rl');
    mkdirSync(dir, { recursive: true });
    const db = join(dir, 'ddx.db');
    await okJson(snap, db, ['migrate']);
    await okJson(snap, db, ['workspace', 'create', 'Org', '--kind', 'org', '--id', 'org']);
    await okJson(snap, db, [
      'app',
      'create',
      'Seed',
      '--workspace',
      'org',
      '--env',
      'prod',
      '--id',
      'seed',
    ]);
    let events = 2;
    let apps = 1;
    let seedScope = 'current';
    const outcomes: string[] = [];
    // Under prlimit no file may grow past the limit: the WAL fills at 64 KiB.
    const limit = mode === 'rlimit' ? 64 * 1024 : undefined;

    // Each round fills the disk to a different level, tries every kind of write, reads, and
    // checks that what failed left no trace.
    // The last round keeps a connection open meanwhile, so the -wal and -shm files stay (and
    // their space with them) between commands, as when someone else has the database open.
    const rounds = mode === 'tmpfs' ? [0, 8 * 1024, 48 * 1024, 160 * 1024, 0] : [0];
    for (const [i, leave] of rounds.entries()) {
      const holder = i === 4 ? new Database(db) : undefined;
      holder?.prepare('SELECT count(*) FROM apps').get();
      const tag = `r${i}`;
      const bulk = join(tmp.dir, `bulk-${tag}.ndjson`);
      writeFileSync(
        bulk,
        Array.from({ length: 2000 }, (_, k) =>
          JSON.stringify({
            name: `Bulk ${tag} ${k}`,
            workspace: 'org',
            env: 'dev',
            id: `b-${tag}-${k}`,
          }),
        ).join('\n'),
      );
      const filler = mode === 'tmpfs' ? fill(dir, leave) : undefined;
      const flip = seedScope === 'current' ? 'all' : 'current';
      for (const a of attempts(tag, bulk, flip)) {
        for (const json of [true, false]) {
          const r = await run(db, json ? [...a.args, '--json'] : a.args, limit);
          expectClean(r, `${a.name} (leave ${leave})`, json);
          if (r.exitCode === 0) {
            events += a.events;
            apps += a.apps;
            if (a.name === 'set-scope') seedScope = flip;
            outcomes.push(`${a.name}@${leave}:ok`);
            break; // it is stored now: the second try would be refused as a duplicate
          }
          if (json) {
            const err = JSON.parse(r.stderr).error as { code: string };
            expect(['DB_FULL', 'DB_UNAVAILABLE']).toContain(err.code);
            if (mode === 'tmpfs') expect(err.code, r.stderr).toBe('DB_FULL');
            outcomes.push(`${a.name}@${leave}:${err.code}`);
          }
        }
      }
      const list = await run(db, ['list', '--json'], limit);
      expectClean(list, `list (leave ${leave})`, true);
      if (list.exitCode === 0) expect(JSON.parse(list.stdout)).toHaveLength(apps);
      outcomes.push(`list@${leave}:${list.exitCode === 0 ? 'ok' : 'failed'}`);
      if (holder) outcomes.push('(the last round with another connection open)');
      if (filler) rmSync(filler);
      holder?.close();

      // Space is back: every figure is what the successful commands made, and nothing more.
      expect(await verifyAudit(snap, db)).toBe(events);
      expect(count(db, "SELECT count(*) FROM audit_events WHERE outcome = 'applied'")).toBe(events);
      expect(count(db, 'SELECT count(*) FROM apps')).toBe(apps);
      expect(integrity(db)).toBe('ok');
      const check = await runCli(snap, db, ['audit', 'check', '--json']);
      expect(check.exitCode, check.stdout).toBe(0);
    }

    // And the tool works as before with the space freed.
    const again = await runCli(snap, db, [
      'app',
      'create',
      'After',
      '--workspace',
      'org',
      '--env',
      'prod',
      '--id',
      'after',
      '--json',
    ]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(await verifyAudit(snap, db)).toBe(events + 1);
    figures('disk-full', {
      mode: mode === 'tmpfs' ? 'tmpfs size=2m (mount)' : 'prlimit --fsize=65536 (RLIMIT_FSIZE)',
      freeBytesLeftPerRound: rounds.join(' '),
      outcomes: outcomes.join(', '),
      eventsAtEnd: events + 1,
    });
  });
});
