import Database from 'better-sqlite3';
import { join } from 'node:path';
import { approvals, auditHead, cachedDb, freshCopy, smallDb } from './fixtures.mjs';
import { median, pairs, peak, timed } from './measure.mjs';
import { deltaRow, fmtMiB, fmtMs, fmtRate, ratioRow } from './report.mjs';
import { postgresCase } from './postgres.mjs';

// Each figure: what it runs, against what, and the target it must meet. A case returns table
// rows; `pass` is true, false, or null with a `status` for a figure that was skipped.

const SQLITE3 = '/usr/bin/sqlite3';
const BULK_AT = '2026-12-03T12:00:00.000Z';

const nodeNothing = (ctx) => () => ctx.node(['-e', '0']);

// Memoised per run: the databases several figures share.
const once = (make) => {
  let v;
  return (ctx) => (v ??= make(ctx));
};
const small = once((ctx) => {
  const file = join(ctx.scratch, 'small.db');
  return { file, ...smallDb(file, ctx.cli) };
});
const large = once((ctx) =>
  cachedDb(ctx.quick ? 'large-quick' : 'large', ctx.large, ctx.cli, ctx.log),
);
const bulk = once((ctx) => cachedDb('bulk', ctx.bulk, ctx.cli, ctx.log));

/** The approval files for n records on the bulk database (and the baseline SQL if asked). */
function approvalFiles(ctx, n, withSql) {
  const db = bulk(ctx);
  const csvFile = join(ctx.scratch, `approvals-${n}.csv`);
  const sqlFile = withSql ? join(ctx.scratch, `approvals-${n}.sql`) : undefined;
  approvals({
    db: db.file,
    production: db.counts.production,
    n,
    seed: n,
    csvFile,
    sqlFile,
    at: BULK_AT,
  });
  return { db, csvFile, sqlFile };
}

/** One bulk run of ddx-share on a fresh copy; checks every record applied. */
function bulkRun(ctx, dbArg, csvFile, n) {
  const r = ctx.cli(['--db', dbArg, 'set-scope', '--file', csvFile, '--json']);
  const out = JSON.parse(r.stdout);
  if (out.applied !== n) throw new Error(`bulk applied ${out.applied} of ${n}: ${r.stdout}`);
  return r;
}

export const CASES = [
  {
    id: 'version',
    what: '`ddx-share --version` against `node -e 0`',
    async run(ctx) {
      const p = await pairs({ n: ctx.pairs, a: () => ctx.cli(['--version']), b: nodeNothing(ctx) });
      return [ratioRow('--version', p, 1.3)];
    },
  },
  {
    id: 'list-small',
    what: '`list --json` on a small database against `node -e 0`',
    async run(ctx) {
      const db = small(ctx);
      const a = () => ctx.cli(['--db', db.file, 'list', '--json']);
      const p = await pairs({ n: ctx.pairs, a, b: nodeNothing(ctx) });
      const n = JSON.parse(p.runs.a[0].stdout).length;
      return [ratioRow('list --json (small db)', p, 1.6, `${n} apps listed`)];
    },
  },
  {
    id: 'set-scope',
    what: '`set-scope <app> all|children --json` on a small database against `node -e 0`',
    async run(ctx) {
      const db = small(ctx);
      // Toggled on every run, so every run writes a change and its audit event.
      let k = 0;
      const a = () => {
        const scope = k++ % 2 ? 'children' : 'all';
        const r = ctx.cli(['--db', db.file, 'set-scope', db.toggleApp, scope, '--json']);
        if (!JSON.parse(r.stdout).changed)
          throw new Error(`set-scope changed nothing: ${r.stdout}`);
        return r;
      };
      const p = await pairs({ n: ctx.pairs, a, b: nodeNothing(ctx) });
      return [ratioRow('set-scope <app> all --json', p, 1.8, 'each run commits one change')];
    },
  },
  {
    id: 'bulk-20k',
    what: '20,000 approvals from CSV against the sqlite3 shell running the same writes',
    async run(ctx) {
      const n = 20_000;
      const { db, csvFile, sqlFile } = approvalFiles(ctx, n, true);
      const copy = { a: join(ctx.scratch, 'bulk-a.db'), b: join(ctx.scratch, 'bulk-b.db') };
      let checked = false;
      const p = await pairs({
        n: ctx.pairs,
        prepare: (side) => freshCopy(db.file, copy[side]),
        a: () => bulkRun(ctx, copy.a, csvFile, n),
        b: () => {
          const r = timed(SQLITE3, ['-bail', copy.b, `.read ${sqlFile}`], { env: ctx.env });
          if (!checked) checked = sameResult(ctx, db.file, copy, n);
          return r;
        },
      });
      const rate = n / (p.a / 1000);
      return [
        ratioRow(
          '20,000 approvals (set-scope --file)',
          p,
          1.0,
          `baseline: ${SQLITE3} .read of ${n} UPDATEs and hashed INSERTs, one transaction, ` +
            `WAL, synchronous=FULL; bulk db ${db.counts.workspaces} workspaces / ` +
            `${db.counts.apps} apps`,
        ),
        {
          figure: '20,000 approvals, throughput',
          measured: fmtRate(rate),
          baseline: '-',
          vs: '-',
          target: '>= 20,000/s',
          pass: rate >= 20_000,
          note: 'whole process, start-up included',
        },
      ];
    },
  },
  {
    id: 'visible-to',
    what: '`list --visible-to <ws> --json` on the large database against opening it',
    async run(ctx) {
      const db = large(ctx);
      const a = () => ctx.cli(['--db', db.file, 'list', '--visible-to', db.visibleTo, '--json']);
      const p = await pairs({ n: ctx.pairs, a, b: opening(ctx, db) });
      const rows = JSON.parse(p.runs.a[0].stdout).length;
      return [
        deltaRow(
          `list --visible-to (${short(db)})`,
          p,
          50,
          `${rows} rows for ${db.visibleTo} at depth ${db.visibleToDepth}; ` + OPENING,
        ),
      ];
    },
  },
  {
    id: 'audience',
    what: '`audience <app> --json` for an AllChildWorkspaces app near the root',
    async run(ctx) {
      const db = large(ctx);
      const a = () => ctx.cli(['--db', db.file, 'audience', db.audienceApp, '--json']);
      const p = await pairs({ n: ctx.pairs, a, b: opening(ctx, db) });
      const rows = JSON.parse(p.runs.a[0].stdout).workspaces.length;
      return [
        deltaRow(
          `audience (${short(db)})`,
          p,
          100,
          `${rows} workspaces see ${db.audienceApp} (owner ${db.audienceOwner}, depth 2)`,
        ),
      ];
    },
  },
  {
    id: 'ndjson',
    what: '`list --format ndjson` of every app in the large database, piped and counted',
    async run(ctx) {
      const db = large(ctx);
      const want = db.counts.apps + 1; // with the audience app
      const runs = [];
      for (let i = 0; i < ctx.repeats; i++) {
        const args = [ctx.bin, '--db', db.file, 'list', '--format', 'ndjson'];
        const r = await peak(process.execPath, args, { env: ctx.env, scratch: ctx.scratch });
        if (r.lines !== want) throw new Error(`listed ${r.lines} lines, expected ${want}`);
        runs.push(r);
      }
      return memoryAndTime(`list --format ndjson, ${want.toLocaleString('en-US')} apps`, runs, {
        maxMiB: 150,
        maxMs: 3000,
      });
    },
  },
  {
    id: 'bulk-100k',
    what: '100,000 approvals from CSV: peak memory',
    async run(ctx) {
      const n = 100_000;
      const { db, csvFile } = approvalFiles(ctx, n, false);
      const copy = join(ctx.scratch, 'bulk-100k.db');
      const runs = [];
      for (let i = 0; i < ctx.repeats; i++) {
        freshCopy(db.file, copy);
        const args = [ctx.bin, '--db', copy, 'set-scope', '--file', csvFile, '--json'];
        const r = await peak(process.execPath, args, { env: ctx.env, scratch: ctx.scratch });
        runs.push(r);
      }
      if (auditHead(copy).seq !== auditHead(db.file).seq + n) throw new Error('not all applied');
      const rows = memoryAndTime('100,000 approvals', runs, { maxMiB: 200 });
      rows[0].note =
        `${fmtMs(rows[0].ms)}, ${fmtRate(n / (rows[0].ms / 1000))} (median of ${runs.length}` +
        `${rows[0].cpu}); ${rows[0].note}`;
      return rows;
    },
  },
  {
    id: 'postgres',
    what: '20,000 approvals on PostgreSQL against the same on SQLite',
    run: (ctx) => postgresCase(ctx, { bulk: bulk(ctx), files: approvalFiles(ctx, 20_000, false) }),
  },
];

const short = (db) =>
  `${(db.counts.workspaces / 1000).toFixed(0)}k ws, ${(db.counts.apps / 1e6).toFixed(1)}M apps`;

// The fairest "doing nothing but opening the database": the same binary, bundle, commander
// parse, migration check and better-sqlite3 open as the figure, plus one indexed lookup. What
// is left over is the command's own work; start-up has its own figures above.
const OPENING = 'baseline `audit head --json` on the same file';
const opening = (ctx, db) => () => ctx.cli(['--db', db.file, 'audit', 'head', '--json']);

function memoryAndTime(figure, runs, { maxMiB, maxMs }) {
  const ms = median(runs.map((r) => r.ms));
  const cpu = runs[0].cpuMs === null ? '' : `, CPU ${fmtMs(median(runs.map((r) => r.cpuMs)))}`;
  const kib = Math.max(...runs.map((r) => r.peakKiB));
  const how = runs[0].method === 'time' ? 'GNU time %M' : '/proc VmHWM polling';
  const rows = [
    {
      figure: `${figure}, peak memory`,
      measured: fmtMiB(kib),
      baseline: '-',
      vs: '-',
      target: `< ${maxMiB} MiB`,
      pass: kib / 1024 < maxMiB,
      note: `max RSS over ${runs.length} run(s), by ${how}`,
      ms,
      cpu,
    },
  ];
  if (maxMs !== undefined) {
    rows.push({
      figure: `${figure}, time`,
      measured: fmtMs(ms),
      baseline: '-',
      vs: '-',
      target: `< ${maxMs / 1000} s`,
      pass: ms < maxMs,
      note: `median of ${runs.length} run(s)${cpu}; stdout piped to the bench and counted`,
    });
  }
  return rows;
}

/** After the first pair: both copies hold the same changes, and the baseline's chain verifies. */
function sameResult(ctx, pristine, copy, n) {
  const facts = (file) => {
    const db = new Database(file, { readonly: true });
    try {
      return db
        .prepare(
          "SELECT (SELECT count(*) FROM apps WHERE scope <> 'CurrentWorkspaceOnly') AS shared, " +
            '(SELECT max(seq) FROM audit_events) AS seq',
        )
        .get();
    } finally {
      db.close();
    }
  };
  const [a, b] = [facts(copy.a), facts(copy.b)];
  const base = auditHead(pristine).seq;
  if (a.shared !== n || b.shared !== n || a.seq !== base + n || b.seq !== base + n) {
    throw new Error(
      `bulk results differ: ddx-share ${JSON.stringify(a)}, sqlite3 ${JSON.stringify(b)}`,
    );
  }
  const v = JSON.parse(
    ctx.cli(['--db', copy.b, 'audit', 'verify', '--json'], { ok: 'any' }).stdout,
  );
  if (!v.ok) throw new Error(`the baseline's audit chain does not verify: ${JSON.stringify(v)}`);
  return true;
}
