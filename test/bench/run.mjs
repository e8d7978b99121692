// The performance figures of ddx-share, each against a baseline measured in the same run.
//
//   npm run bench                     full run: 11 pairs, 100,000 workspaces, 1,000,000 apps
//   BENCH_QUICK=1 npm run bench       5 pairs, 20,000 workspaces, 200,000 apps
//   BENCH_ONLY=bulk|audience          only the figures whose id matches
//   BENCH_PAIRS=n, BENCH_RSS=proc     more pairs; read peak memory from /proc, not GNU time
//   BENCH_BIN=path                    another build of bin/ddx-share.js
//   BENCH_PG_URL=postgres://...       server for the PostgreSQL figure (no database name)
//
// Large databases are cached in test/bench/.cache/, keyed by the migrations, the generator's
// source and its parameters. Exits 1 when a target is missed or a figure could not be taken.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CASES } from './lib/cases.mjs';
import { ACTOR, CACHE, ROOT } from './lib/fixtures.mjs';
import { timed } from './lib/measure.mjs';
import { consoleTable, markdownTable } from './lib/report.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY, 'i') : undefined;
const NODE = process.execPath;
const BIN = process.env.BENCH_BIN ?? join(ROOT, 'bin/ddx-share.js');

// Production apps are 63% of all (90% of owners are organizational, 70% of their apps are
// production); allShare keeps AllWorkspaces apps to about 300 at either size.
const large = (workspaces, apps) => ({
  workspaces,
  apps,
  roots: Math.round(workspaces / 500),
  maxDepth: 12,
  personalShare: 0.1,
  prodShare: 0.7,
  allShare: 300 / (apps * 0.63),
  childShare: 0.04,
  customShare: 0.02,
  customMax: 5,
  installs: true,
  targets: true,
  seed: 1,
});

const config = {
  quick: QUICK,
  pairs: Number(process.env.BENCH_PAIRS ?? (QUICK ? 5 : 11)),
  // Absolute figures (ndjson, memory) are single long runs: a few, not pairs.
  repeats: QUICK ? 1 : 3,
  large: QUICK ? large(20_000, 200_000) : large(100_000, 1_000_000),
  // The bulk figures' database: every app a production app still on CurrentWorkspaceOnly, so
  // every approval applies. Small enough to copy afresh for each run.
  bulk: {
    workspaces: 2_000,
    apps: 110_000,
    roots: 20,
    maxDepth: 12,
    personalShare: 0,
    prodShare: 1,
    allShare: 0,
    childShare: 0,
    customShare: 0,
    customMax: 0,
    installs: false,
    targets: false,
    seed: 2,
  },
  pgUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432',
};

mkdirSync(CACHE, { recursive: true });
// Scratch folders of runs that were killed; a live run's is younger than this.
for (const f of readdirSync(CACHE)) {
  const p = join(CACHE, f);
  if (f.startsWith('run-') && Date.now() - statSync(p).mtimeMs > 6 * 3600e3) {
    rmSync(p, { recursive: true, force: true });
  }
}
const scratch = mkdtempSync(join(CACHE, 'run-'));
const env = { ...process.env, NO_COLOR: '1', DDX_ACTOR: ACTOR, XDG_DATA_HOME: scratch };
for (const k of ['NODE_OPTIONS', 'DDX_SHARE_DB', 'DDX_SHARE_MIGRATIONS', 'DEBUG']) delete env[k];

const log = (s) => process.stdout.write(`· ${s}\n`);
const ctx = {
  ...config,
  scratch,
  env,
  log,
  node: (args, opts) => timed(NODE, args, { env, ...opts }),
  cli: (args, opts) => timed(NODE, [BIN, ...args], { env, ...opts }),
  bin: BIN,
};

log(
  `${QUICK ? 'quick' : 'full'} run: ${config.pairs} pairs, binary ${BIN}, ` +
    `scratch ${scratch} (other load on this machine shows up as noise)`,
);
// Other engineers rebuild dist/ while the bench runs (the build empties it first): a figure
// whose runs hit that window is taken again, from its first pair, once the build is back.
const DIST = join(dirname(BIN), '../dist/cli.js');
const SLEEP = new Int32Array(new SharedArrayBuffer(4));
const rebuilding = (err) => /Cannot find module '[^']*\/dist\//.test(String(err?.message));
function waitForBuild() {
  const until = Date.now() + 10 * 60e3;
  while (!existsSync(DIST) && Date.now() < until) Atomics.wait(SLEEP, 0, 0, 1000);
  Atomics.wait(SLEEP, 0, 0, 3000); // let the build finish writing its chunks
}

async function attempt(c) {
  for (let tries = 1; ; tries++) {
    try {
      return await c.run(ctx);
    } catch (err) {
      if (!rebuilding(err) || tries === 3) throw err;
      log(`  dist/ vanished mid-run (a rebuild?); waiting for it, then retaking ${c.id}`);
      waitForBuild();
    }
  }
}

const rows = [];
let failed = false;
try {
  for (const c of CASES) {
    if (ONLY && !ONLY.test(c.id)) continue;
    log(`${c.id}: ${c.what}`);
    if (!existsSync(DIST)) waitForBuild();
    try {
      for (const row of await attempt(c)) {
        rows.push(row);
        if (row.pass === false) failed = true;
        const vs = row.baseline === '-' ? '' : ` vs ${row.baseline} -> ${row.vs}`;
        log(`  ${row.figure}: ${row.measured}${vs}`);
      }
    } catch (err) {
      failed = true;
      rows.push({ figure: c.id, measured: '-', baseline: '-', vs: '-', target: '-', pass: null });
      rows.at(-1).status = 'ERROR';
      rows.at(-1).note = String(err.message ?? err)
        .split('\n')
        .slice(0, 6)
        .join(' | ');
    }
    globalThis.gc?.();
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

process.stdout.write(`\n${consoleTable(rows)}\n\nFor the README (Performance):\n\n`);
process.stdout.write(`${markdownTable(rows, config)}\n`);
if (QUICK) process.stdout.write('\nQuick mode: reduced data and pairs; not the real verdict.\n');
process.exitCode = failed ? 1 : 0;
