import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freshCopy, schemaChecksum } from './fixtures.mjs';
import { pairs } from './measure.mjs';
import { ratioRow } from './report.mjs';

// Bulk approvals on PostgreSQL within 3x of SQLite. The PostgreSQL database is filled through
// the CLI's own bulk imports with exactly the rows of the SQLite bulk database (so it needs no
// knowledge of the PostgreSQL schema), kept as a template database named after the SQLite
// file's cache key, and cloned afresh (CREATE DATABASE ... TEMPLATE) before every timed run.
// Skipped with a note while the backend answers that it is not available.

const RUN_DB = 'ddx_bench_run';

export async function postgresCase(ctx, { bulk, files }) {
  const skip = (why) => [
    {
      figure: '20,000 approvals on PostgreSQL',
      measured: '-',
      baseline: '-',
      vs: '-',
      target: '<= 3.0x SQLite',
      pass: null,
      status: 'skipped',
      note: why,
    },
  ];
  let pg;
  try {
    pg = (await import('pg')).default;
  } catch {
    return skip('the pg package is not installed');
  }
  const admin = new pg.Client({ connectionString: `${ctx.pgUrl}/postgres` });
  try {
    await admin.connect();
  } catch (err) {
    return skip(`no PostgreSQL server at ${ctx.pgUrl} (${err.message})`);
  }
  try {
    // Named after the SQLite file's key and the PostgreSQL schema: either changing means refill.
    const key = bulk.file.match(/-([0-9a-f]{12})\.db$/)[1];
    const template = `ddx_bench_tpl_${key}_${schemaChecksum('postgres').slice(0, 12)}`;
    const old = await admin.query(
      'SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname <> $2',
      ['ddx\\_bench\\_tpl\\_%', template],
    );
    for (const { datname } of old.rows) await admin.query(`DROP DATABASE ${datname} WITH (FORCE)`);
    const ready = await admin.query(
      "SELECT shobj_description(oid, 'pg_database') AS note FROM pg_database WHERE datname = $1",
      [template],
    );
    if (ready.rows[0]?.note !== 'ready') {
      const made = await fill(ctx, admin, template, bulk);
      if (made) return skip(made);
    }
    const pgRun = `${ctx.pgUrl}/${RUN_DB}`;
    const sqliteCopy = join(ctx.scratch, 'bulk-pg-sqlite.db');
    const n = 20_000;
    const run = (db) => {
      const r = ctx.cli(['--db', db, 'set-scope', '--file', files.csvFile, '--json']);
      if (JSON.parse(r.stdout).applied !== n) throw new Error(`not all applied: ${r.stdout}`);
      return r;
    };
    const p = await pairs({
      n: ctx.pairs,
      prepare: async (side) => {
        if (side === 'b') return freshCopy(bulk.file, sqliteCopy);
        await admin.query(`DROP DATABASE IF EXISTS ${RUN_DB} WITH (FORCE)`);
        await admin.query(`CREATE DATABASE ${RUN_DB} TEMPLATE ${template}`);
      },
      a: () => run(pgRun),
      b: () => run(sqliteCopy),
    });
    const note = `${ctx.pgUrl}, template ${template}; baseline: the same file on SQLite`;
    return [ratioRow('20,000 approvals on PostgreSQL', p, 3.0, note)];
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${RUN_DB} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

/** Creates and fills the template; returns why it cannot, or undefined when it is ready. */
async function fill(ctx, admin, template, bulk) {
  await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${template}`);
  const url = `${ctx.pgUrl}/${template}`;
  const probe = ctx.cli(['--db', url, 'migrate', '--json'], { ok: 'any' });
  if (probe.status !== 0) {
    await admin.query(`DROP DATABASE IF EXISTS ${template}`);
    let said = probe.stderr.trim();
    try {
      said = JSON.parse(said).error.message;
    } catch {
      // not the JSON error document; keep the text
    }
    return `the backend is unavailable: ${said}`;
  }
  ctx.log(`filling PostgreSQL template ${template} through the CLI (once) ...`);
  const db = new Database(bulk.file, { readonly: true });
  const ws = db.prepare('SELECT id, name, kind, parent_id FROM workspaces ORDER BY rowid').all();
  const apps = db.prepare('SELECT id, name, workspace_id, environment FROM apps ORDER BY id').all();
  db.close();
  const wsCsv = join(ctx.scratch, 'pg-workspaces.csv');
  const appCsv = join(ctx.scratch, 'pg-apps.csv');
  writeFileSync(
    wsCsv,
    ['id,name,kind,parent', ...ws.map((w) => `${w.id},${w.name},${w.kind},${w.parent_id ?? ''}`)]
      .join('\n')
      .concat('\n'),
  );
  writeFileSync(
    appCsv,
    [
      'id,name,workspace,env',
      ...apps.map((a) => `${a.id},${a.name},${a.workspace_id},${a.environment}`),
    ]
      .join('\n')
      .concat('\n'),
  );
  ctx.cli(['--db', url, 'workspace', 'create', '--file', wsCsv, '--json']);
  ctx.cli(['--db', url, 'app', 'create', '--file', appCsv, '--json']);
  // Marked only once complete, so a run stopped half-way refills it next time.
  await admin.query(`COMMENT ON DATABASE ${template} IS 'ready'`);
  return undefined;
}
