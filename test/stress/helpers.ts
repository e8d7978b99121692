import Database from 'better-sqlite3';
import { execa, type ResultPromise } from 'execa';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ACTOR, ROOT } from '../helpers/cli.js';

// What every stress file shares: the scale knob, a private snapshot of the built CLI (others
// rebuild dist/ while these run for minutes), process runners, and direct looks at the file.

/** STRESS_SCALE=0.1 shrinks every figure for development; the default is the full run. */
export const SCALE = Number(process.env.STRESS_SCALE ?? 1);

export function scaled(n: number, min = 1): number {
  return Math.max(min, Math.round(n * SCALE));
}

export const FIXTURES = join(ROOT, 'test', 'stress', 'fixtures');
export const BUSY_TIMEOUT_MS = 10_000;

/** Prints one test's figures in a form the README can quote. */
export function figures(name: string, values: Record<string, unknown>): void {
  const body = Object.entries(values)
    .map(
      ([k, v]) =>
        `  ${k}: ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(1) : String(v)}`,
    )
    .join('\n');
  console.log(`[stress] ${name} (STRESS_SCALE=${SCALE})\n${body}`);
}

export interface Snapshot {
  /** bin/ddx-share.js inside the snapshot. */
  bin: string;
  /** dist/cli.js inside the snapshot, for workers that call main() in a loop. */
  cliJs: string;
  cleanup(): void;
}

function listing(dir: string): string {
  return readdirSync(dir)
    .sort()
    .map((f) => `${f}:${statSync(join(dir, f)).mtimeMs}:${statSync(join(dir, f)).size}`)
    .join('\n');
}

/**
 * Copies bin/, dist/ and migrations/ into a private folder (with node_modules linked back), so a
 * concurrent `npm run build`, which empties dist/ first, cannot pull the CLI out from under a
 * run. STRESS_DIST points at another build. Waits up to five minutes for a build to appear.
 */
export async function snapshotCli(): Promise<Snapshot> {
  const dist = process.env.STRESS_DIST ?? join(ROOT, 'dist');
  const deadline = Date.now() + 300_000;
  const dir = mkdtempSync(join(tmpdir(), 'ddx-stress-cli-'));
  for (;;) {
    const ready = existsSync(join(dist, 'cli.js')) && existsSync(join(dist, 'version.js'));
    if (ready) {
      const before = listing(dist);
      rmSync(join(dir, 'dist'), { recursive: true, force: true });
      try {
        // Times are kept: the code cache is used only beside the very bundle it was made for.
        cpSync(dist, join(dir, 'dist'), { recursive: true, preserveTimestamps: true });
        if (listing(dist) === before) break;
      } catch {
        // dist/ changed while it was copied: try again.
      }
    }
    if (Date.now() > deadline) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`No complete build in ${dist}: run \`npm run build\` first.`);
    }
    await sleep(2000);
  }
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(ROOT, 'bin', 'ddx-share.js'), join(dir, 'bin', 'ddx-share.js'));
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  cpSync(join(ROOT, 'migrations'), join(dir, 'migrations'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return {
    bin: join(dir, 'bin', 'ddx-share.js'),
    cliJs: join(dir, 'dist', 'cli.js'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
  ms: number;
  signal?: string | undefined;
}

export function cliEnv(db: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NO_COLOR: '1',
    DDX_SHARE_DB: db,
    DDX_ACTOR: ACTOR,
    XDG_DATA_HOME: join(db, '..', 'xdg'),
    ...extra,
  };
}

/** Starts `ddx-share <args>` as its own process; await it for the result. */
export function spawnCli(
  snap: Snapshot,
  db: string,
  args: readonly string[],
  opts: {
    input?: string;
    env?: Record<string, string>;
    timeout?: number;
    stdout?: { file: string };
  } = {},
): ResultPromise<{ reject: false }> {
  return execa('node', [snap.bin, ...args], {
    env: cliEnv(db, opts.env),
    extendEnv: false,
    reject: false,
    input: opts.input ?? '',
    ...(opts.stdout ? { stdout: opts.stdout } : {}),
    cwd: ROOT,
    timeout: opts.timeout ?? 600_000,
    stripFinalNewline: false,
  }) as ResultPromise<{ reject: false }>;
}

export async function runCli(
  snap: Snapshot,
  db: string,
  args: readonly string[],
  opts: { input?: string; env?: Record<string, string>; timeout?: number } = {},
): Promise<Run> {
  const t0 = performance.now();
  const r = await spawnCli(snap, db, args, opts);
  return {
    exitCode: r.exitCode ?? -1,
    stdout: String(r.stdout),
    stderr: String(r.stderr),
    ms: performance.now() - t0,
    signal: r.signal ?? undefined,
  };
}

/** Runs a command that must succeed, and parses its --json output. */
export async function okJson<T = any>(
  snap: Snapshot,
  db: string,
  args: readonly string[],
  opts: Parameters<typeof runCli>[3] = {},
): Promise<T> {
  const r = await runCli(snap, db, [...args, '--json'], opts);
  if (r.exitCode !== 0) {
    throw new Error(`ddx-share ${args.join(' ')} exited ${r.exitCode}:\n${r.stdout}\n${r.stderr}`);
  }
  return JSON.parse(r.stdout) as T;
}

export interface WorkerReport {
  commands: number;
  failures: { argv: string[]; code: number; output: string }[];
  maxMs: number;
  totalMs: number;
  ms: number[];
}

/**
 * One process that runs many commands through dist/cli.js's main(), so hundreds of commands
 * cost one node start-up. Resolves with the worker's report and its stderr.
 */
export async function runWorker(
  snap: Snapshot,
  db: string,
  commands: string[][],
  dir: string,
  name: string,
): Promise<{ report: WorkerReport; stderr: string; exitCode: number }> {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(commands));
  const r = await execa('node', [join(FIXTURES, 'run-many.mjs'), snap.cliJs, file, db, ACTOR], {
    env: cliEnv(db),
    extendEnv: false,
    reject: false,
    cwd: ROOT,
    timeout: 1_200_000,
  });
  const last = String(r.stdout).trim().split('\n').at(-1) ?? '';
  let report: WorkerReport;
  try {
    report = JSON.parse(last) as WorkerReport;
  } catch {
    throw new Error(
      `worker ${name} exited ${r.exitCode} without a report:\n${r.stdout}\n${r.stderr}`,
    );
  }
  return { report, stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
}

/** Opens the file directly, runs fn, closes. */
export function withDb<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

export function integrity(path: string): string {
  return withDb(path, (db) => String(db.pragma('integrity_check', { simple: true })));
}

export function count(path: string, sql: string, ...params: unknown[]): number {
  return withDb(path, (db) =>
    Number(
      db
        .prepare(sql)
        .pluck()
        .get(...params),
    ),
  );
}

/** `audit verify --json` on the file: the number of events, or an error saying what broke. */
export async function verifyAudit(snap: Snapshot, db: string): Promise<number> {
  const r = await runCli(snap, db, ['audit', 'verify', '--json']);
  if (r.exitCode !== 0)
    throw new Error(`audit verify exited ${r.exitCode}: ${r.stdout}${r.stderr}`);
  const doc = JSON.parse(r.stdout) as { ok: boolean; events: number };
  if (!doc.ok) throw new Error(`audit verify: ${r.stdout}`);
  return doc.events;
}

export function tempFolder(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs at most `limit` of the tasks at once. */
export async function pool<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]!();
    }
  });
  await Promise.all(lanes);
  return out;
}

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * A worker's share of a contention run: every command changes something, so each must add
 * exactly one applied event. The worker owns workspace w<i> (under `parent`) and everything in
 * it, so no two workers' commands conflict; they only compete for the write lock.
 */
export function workload(i: number, n: number, parent: string): string[][] {
  const w = `w${i}`;
  const hub = `hub${i}`;
  const out: string[][] = [
    ['workspace', 'create', `W ${i}`, '--kind', 'organizational', '--parent', parent, '--id', w],
    ['app', 'create', `Hub ${i}`, '--workspace', w, '--env', 'production', '--id', hub],
    ['set-scope', hub, 'children', '--ticket', `T-${i}`, '--reason', 'stress'],
  ];
  for (let k = 0; out.length < n; k++) {
    const c = `c${i}-${k}`;
    const p = `p${i}-${k}`;
    out.push(
      ['workspace', 'create', `C ${i} ${k}`, '--kind', 'org', '--parent', w, '--id', c],
      ['install', hub, '--workspace', c],
      ['app', 'create', `P ${i} ${k}`, '--workspace', w, '--env', 'production', '--id', p],
      ['set-scope', p, 'all'],
      ['set-scope', p, 'custom', '--workspaces', c],
      ['set-scope', p, 'current'],
      ['uninstall', hub, '--workspace', c],
      ['app', 'create', `D ${i} ${k}`, '--workspace', c, '--env', 'dev', '--id', `d${i}-${k}`],
      ['app', 'update', p, '--name', `P ${i} ${k} renamed`],
      ['set-scope', p, 'children'],
    );
  }
  return out.slice(0, n);
}

/** Text that says SQLite gave up on a lock, which must never reach a person. */
export const LOCK_TEXT = /SQLITE_BUSY|SQLITE_LOCKED|database is locked|locked/i;

/** Whether some connection holds the file's write lock right now (probed without waiting). */
export function writeLockHeld(path: string): boolean {
  const db = new Database(path, { timeout: 0 });
  try {
    db.exec('BEGIN IMMEDIATE');
    db.exec('ROLLBACK');
    return false;
  } catch (err) {
    if (String((err as { code?: unknown }).code).startsWith('SQLITE_BUSY')) return true;
    throw err;
  } finally {
    db.close();
  }
}

/** CPU time a live process has used, in ms (from /proc), or undefined once it is gone. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

/**
 * Waits until the process has used `targetMs` of CPU time (or has exited). Load on the machine
 * stretches wall time but hardly CPU time, so a moment chosen this way lands at the same point
 * of the work however busy the machine is. Resolves with the last CPU time seen.
 */
export async function untilCpu(pid: number, targetMs: number): Promise<number> {
  let last = 0;
  for (;;) {
    const used = cpuMs(pid);
    if (used === undefined) return last;
    last = used;
    if (used >= targetMs) return used;
    await sleep(5);
  }
}
