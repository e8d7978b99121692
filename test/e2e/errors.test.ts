// The golden table of failures: every error code the CLI can reach, with its exit code. Each row
// runs twice on its own copy of a seeded database: with --json (stderr is exactly the error
// document, stdout is empty) and without (one or two lines on stderr, the first starting
// `ddx-share: `, and never a stack trace). A failure never exits 0.
//
// Not in the table: CANCELLED (130) needs a terminal, see prompts.test.ts; DB_FULL needs a full
// disk; INTERNAL is a bug by definition; AUDIT_CHAIN_BROKEN and INTEGRITY_VIOLATION are not
// error documents but the exit code (6) of `audit verify` and `audit check`, tested below.
import Database from 'better-sqlite3';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChange } from '../../src/commands/run-change.js';
import { EXIT, exitCodeFor, type ErrorCode } from '../../src/errors.js';
import { RULE_CODES } from '../../src/rules/codes.js';
import { createApp, createWorkspace, install, setScope } from '../../src/service/changes.js';
import type { Meta } from '../../src/service/changes.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { ACTOR, cli, ROOT, tempDir, type CliResult } from '../helpers/cli.js';

interface Row {
  args: string[];
  exit: number;
  code: ErrorCode;
  /** Checked against the --json message (the message and its hint). */
  message?: RegExp;
  /** The database to copy for the row (default: the seeded one), or a path used as it is. */
  db?: () => string;
  copy?: boolean;
  env?: () => Record<string, string>;
  actor?: null;
  /** Hold the write lock on the row's database while it runs. */
  locked?: boolean;
}

let tmp: ReturnType<typeof tempDir>;
let seeded: string;
const paths: Record<string, string> = {};
const at = (name: string) => (): string => paths[name]!;
const migrations = (name: string) => (): Record<string, string> => ({
  DDX_SHARE_MIGRATIONS: paths[name]!,
});

const ID65 = 'a'.repeat(65);

/* prettier-ignore */
const TABLE: Row[] = [
  // USAGE: the command line itself is wrong.
  { args: ['frobnicate'], exit: 2, code: 'USAGE', message: /unknown command 'frobnicate'/ },
  { args: ['instal', 'billing'], exit: 2, code: 'USAGE', message: /Did you mean install\?/ },
  { args: ['workspace'], exit: 2, code: 'USAGE', message: /workspace needs a command: create/ },
  { args: ['list', '--frob'], exit: 2, code: 'USAGE', message: /unknown option '--frob'/ },
  { args: ['workspace', 'show'], exit: 2, code: 'USAGE', message: /missing required argument/ },
  { args: ['install', 'billing'], exit: 2, code: 'USAGE', message: /'--workspace <id>'/ },
  { args: ['list', 'extra'], exit: 2, code: 'USAGE', message: /too many arguments/ },
  { args: ['workspace', 'show', '-x'], exit: 2, code: 'USAGE', message: /unknown option '-x'/ },
  { args: ['workspace', 'create', 'X'], exit: 2, code: 'USAGE', message: /--kind/ },
  { args: ['app', 'create', 'X', '--workspace', 'acme'], exit: 2, code: 'USAGE', message: /--env/ },
  { args: ['app', 'update', 'billing'], exit: 2, code: 'USAGE', message: /Nothing to update/ },
  {
    args: ['set-scope', 'billing', 'al'], exit: 2, code: 'USAGE',
    message: new RegExp(
      '^Unknown scope "al": use one of CurrentWorkspaceOnly \\(current\\), .*' +
        'Did you mean AllWorkspaces \\(all\\)\\?$',
    ),
  },
  {
    args: ['set-scope', 'billing', 'chidlren'], exit: 2, code: 'USAGE',
    message: /Did you mean AllChildWorkspaces \(children\)\?/,
  },
  { args: ['list', '--scope', 'everyone'], exit: 2, code: 'USAGE', message: /Unknown scope/ },
  { args: ['set-scope', 'billing'], exit: 2, code: 'USAGE', message: /needs a scope/ },
  { args: ['set-scope', 'billing', 'custom'], exit: 2, code: 'USAGE', message: /--workspaces/ },
  { args: ['set-scope'], exit: 2, code: 'USAGE', message: /needs an app id/ },
  {
    args: ['set-scope', 'billing', 'all', '--save-plan', 'p.json'], exit: 2, code: 'USAGE',
    message: /--save-plan goes with --file/,
  },
  { args: ['list', '--format', 'xml'], exit: 2, code: 'USAGE', message: /Unknown format "xml"/ },
  { args: ['audit', 'log', '--limit', '0'], exit: 2, code: 'USAGE', message: /--limit/ },
  { args: ['audit', 'log', '--action', 'app.delete'], exit: 2, code: 'USAGE', message: /action/ },
  { args: ['audit', 'log', '--since', 'yesterday'], exit: 2, code: 'USAGE', message: /--since/ },
  { args: ['audit', 'verify', '--head', '12'], exit: 2, code: 'USAGE', message: /--head/ },
  { args: ['backup', ROOT], exit: 2, code: 'USAGE', message: /already exists/ },

  // INVALID_INPUT: a value has the wrong shape.
  { args: ['workspace', 'show', 'Bad Id'], exit: 2, code: 'INVALID_INPUT', message: /an id is/ },
  { args: ['app', 'show', ID65], exit: 2, code: 'INVALID_INPUT', message: /1 to 64 characters/ },
  { args: ['workspace', 'show', ''], exit: 2, code: 'INVALID_INPUT', message: /workspace id/ },
  { args: ['install', 'billing', '--workspace', '-'], exit: 2, code: 'INVALID_INPUT' },
  {
    args: ['set-scope', 'billing', 'custom', '--workspaces', 'globex,Bad'], exit: 2,
    code: 'INVALID_INPUT', message: /--workspaces/,
  },
  {
    args: ['workspace', 'create', 'X', '--kind', 'team'], exit: 2, code: 'INVALID_INPUT',
    message: /the workspace kind must be one of organizational, personal/,
  },
  {
    args: ['app', 'create', 'X', '--workspace', 'acme', '--env', 'staging'], exit: 2,
    code: 'INVALID_INPUT', message: /development, production/,
  },
  {
    args: ['workspace', 'create', 'bell\u0007', '--kind', 'org'], exit: 2, code: 'INVALID_INPUT',
    message: /control characters/,
  },
  {
    args: ['workspace', 'create', 'x'.repeat(201), '--kind', 'org'], exit: 2,
    code: 'INVALID_INPUT', message: /at most 200/,
  },
  { args: ['workspace', 'create', '   ', '--kind', 'org'], exit: 2, code: 'INVALID_INPUT' },
  {
    args: ['set-scope', 'billing', 'all', '--ticket', 'x'.repeat(201)], exit: 2,
    code: 'INVALID_INPUT', message: /ticket/,
  },

  // The rules (R1 to R12): refused, exit 3; unknown ids exit 4; no actor exit 2.
  {
    args: ['app', 'create', 'P', '--workspace', 'pat', '--env', 'production'], exit: 3,
    code: 'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE',
  },
  { args: ['app', 'update', 'billing', '--env', 'dev'], exit: 3, code: 'ENVIRONMENT_IMMUTABLE' },
  { args: ['set-scope', 'ledger', 'children'], exit: 3, code: 'DEVELOPMENT_APP_NOT_SHAREABLE' },
  {
    args: ['set-scope', 'crm', '--remove', 'acme-us'], exit: 3,
    code: 'CUSTOM_ACCESS_REQUIRES_WORKSPACES',
  },
  {
    args: ['set-scope', 'billing', 'custom', '--workspaces', 'pat,pat'], exit: 3,
    code: 'DUPLICATE_WORKSPACE',
  },
  {
    args: ['set-scope', 'billing', '--workspaces', 'acme'], exit: 3,
    code: 'OWNER_IN_ACCESS_LIST',
  },
  {
    args: ['set-scope', 'billing', 'children', '--add', 'pat'], exit: 3,
    code: 'WORKSPACES_REQUIRE_CUSTOM_SCOPE',
  },
  {
    args: ['set-scope', 'shared', 'current'], exit: 3, code: 'SCOPE_CHANGE_STRANDS_INSTALLS',
    message: /--revoke-installs/,
  },
  { args: ['install', 'billing', '--workspace', 'acme-eu'], exit: 3, code: 'NOT_INSTALLABLE' },
  { args: ['install', 'shared', '--workspace', 'acme-eu'], exit: 3, code: 'ALREADY_INSTALLED' },
  { args: ['uninstall', 'shared', '--workspace', 'acme-us'], exit: 3, code: 'NOT_INSTALLED' },
  {
    args: ['install', 'shared', '--workspace', 'acme-us'], exit: 2, code: 'ACTOR_REQUIRED',
    actor: null, message: /--actor <email> or set DDX_ACTOR/,
  },
  {
    args: ['install', 'shared', '--workspace', 'acme-us', '--actor', 'kim'], exit: 2,
    code: 'ACTOR_REQUIRED', actor: null, message: /an email address/,
  },
  {
    args: ['workspace', 'create', 'Acme', '--kind', 'org', '--id', 'acme'], exit: 3,
    code: 'ALREADY_EXISTS',
  },
  { args: ['explain', 'billing', '--workspace', 'nowhere'], exit: 4, code: 'UNKNOWN_WORKSPACE' },
  { args: ['list', '--visible-to', 'nowhere'], exit: 4, code: 'UNKNOWN_WORKSPACE' },
  {
    args: ['set-scope', 'billing', 'custom', '--workspaces', 'nowhere'], exit: 4,
    code: 'UNKNOWN_WORKSPACE',
  },
  { args: ['audience', 'nope'], exit: 4, code: 'UNKNOWN_APP', message: /No app has the id nope/ },
  { args: ['uninstall', 'nope', '--workspace', 'acme'], exit: 4, code: 'UNKNOWN_APP' },

  // Saved plans.
  {
    args: ['apply-plan', 'no-such-plan.json'], exit: 2, code: 'PLAN_INVALID',
    message: /no such file/,
  },
  { args: ['apply-plan', '-'], exit: 2, code: 'PLAN_INVALID' },
  { args: ['apply-plan', ''], exit: 2, code: 'PLAN_INVALID', db: at('stale'), message: /./ },

  // The database.
  { args: ['list'], exit: 5, code: 'DB_NOT_A_DATABASE', db: at('garbage') },
  {
    args: ['list'], exit: 5, code: 'DB_NOT_A_DATABASE', db: at('foreign'),
    message: /no ddx-share history/,
  },
  { args: ['list'], exit: 5, code: 'DB_UNAVAILABLE', db: at('under-a-file'), copy: false },
  {
    args: ['list'], exit: 5, code: 'DB_NEEDS_MIGRATE', env: migrations('next'),
    message: /Run `ddx-share migrate` first/,
  },
  { args: ['list'], exit: 5, code: 'DB_NEWER', db: at('db-newer') },
  { args: ['list'], exit: 5, code: 'DB_MIGRATION_MODIFIED', env: migrations('modified') },
  {
    args: ['list'], exit: 5, code: 'DB_MIGRATION_MISSING', db: at('db-three'),
    env: migrations('gap'),
  },
  {
    args: ['list'], exit: 5, code: 'DB_MIGRATION_OUT_OF_ORDER', db: at('db-gapped'),
    env: migrations('three'),
  },
  { args: ['migrate'], exit: 5, code: 'DB_MIGRATION_MODIFIED', env: migrations('modified') },
  {
    args: ['workspace', 'create', 'X', '--kind', 'org'], exit: 5, code: 'DB_LOCKED', locked: true,
    message: /locked by another writer/,
  },
];

// The PLAN_STALE row needs its plan's path, known only once the plan is saved.
const STALE: Row = {
  args: [],
  exit: 3,
  code: 'PLAN_STALE',
  db: at('stale'),
  message: /out of date/,
};
TABLE.push(STALE);
// Fill in the empty apply-plan path above: a plan edited by hand.
const EDITED = TABLE.find((r) => r.args[0] === 'apply-plan' && r.args[1] === '')!;

async function seed(db: string): Promise<void> {
  const store = SqliteStore.open(db);
  const meta: Meta = { actor: ACTOR, at: '2024-01-01T00:00:00.000Z' };
  const ws: [string, 'organizational' | 'personal', string | null][] = [
    ['acme', 'organizational', null],
    ['acme-eu', 'organizational', 'acme'],
    ['acme-us', 'organizational', 'acme'],
    ['globex', 'organizational', null],
    ['pat', 'personal', null],
  ];
  try {
    for (const [id, kind, parentId] of ws) {
      await runChange(store, (w) => createWorkspace(w, { id, name: id, kind, parentId }, meta));
    }
    for (const [id, workspaceId, environment] of [
      ['billing', 'acme', 'production'],
      ['crm', 'globex', 'production'],
      ['ledger', 'acme', 'development'],
      ['shared', 'acme', 'production'],
    ] as const) {
      await runChange(store, (w) => createApp(w, { id, name: id, workspaceId, environment }, meta));
    }
    const req = { scope: 'CustomWorkspaceAccess' as const, workspaces: ['acme-us'] };
    await runChange(store, (w) => setScope(w, 'crm', req, meta, { write: true }));
    const all = { scope: 'AllChildWorkspaces' as const };
    await runChange(store, (w) => setScope(w, 'shared', all, meta, { write: true }));
    await runChange(store, (w) => install(w, 'shared', 'acme-eu', meta));
  } finally {
    await store.close();
  }
}

/** A folder of migrations: the real first one (or an edited copy) and empty later ones. */
function migrationDir(name: string, versions: number[], edit = false): string {
  const dir = join(tmp.dir, `migrations-${name}`);
  mkdirSync(join(dir, 'sqlite'), { recursive: true });
  for (const v of versions) {
    const file = v === 1 ? '0001_initial.sql' : `000${v}_extra_${v}.sql`;
    const sql =
      v === 1
        ? readFileSync(join(ROOT, 'migrations', 'sqlite', '0001_initial.sql'), 'utf8')
        : `CREATE TABLE extra_${v} (x INTEGER) STRICT;\n`;
    writeFileSync(join(dir, 'sqlite', file), edit && v === 1 ? `${sql}\n-- edited\n` : sql);
  }
  paths[name] = dir;
  return dir;
}

/** A copy of the seeded database, migrated with the given folder of migrations. */
async function migratedWith(name: string, dir: string): Promise<void> {
  const db = join(tmp.dir, `${name}.db`);
  copyFileSync(seeded, db);
  const saved = process.env.DDX_SHARE_MIGRATIONS;
  process.env.DDX_SHARE_MIGRATIONS = dir;
  try {
    const store = SqliteStore.open(db, { forMigrate: true });
    await store.migrate();
    await store.close();
  } finally {
    if (saved === undefined) delete process.env.DDX_SHARE_MIGRATIONS;
    else process.env.DDX_SHARE_MIGRATIONS = saved;
  }
  paths[name] = db;
}

let copies = 0;
async function runRow(row: Row, json: boolean): Promise<CliResult> {
  const source = row.db ? row.db() : seeded;
  let db = source;
  if (row.copy !== false) {
    db = join(tmp.dir, `row-${++copies}.db`);
    copyFileSync(source, db);
  }
  const lock = row.locked ? new Database(db) : undefined;
  lock?.exec('BEGIN IMMEDIATE');
  try {
    const opts: Parameters<typeof cli>[2] = { cwd: tmp.dir };
    if (row.env) opts.env = row.env();
    if (row.actor === null) opts.actor = null;
    return await cli(db, json ? [...row.args, '--json'] : row.args, opts);
  } finally {
    lock?.exec('ROLLBACK');
    lock?.close();
  }
}

beforeAll(async () => {
  tmp = tempDir('ddx-e2e-errors-');
  seeded = join(tmp.dir, 'seeded.db');
  await seed(seeded);

  writeFileSync(join(tmp.dir, 'garbage.db'), 'this is a text file, not a database\n'.repeat(200));
  paths.garbage = join(tmp.dir, 'garbage.db');
  const foreign = new Database(join(tmp.dir, 'foreign.db'));
  foreign.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)');
  foreign.close();
  paths.foreign = join(tmp.dir, 'foreign.db');
  writeFileSync(join(tmp.dir, 'a-file'), 'not a folder');
  paths['under-a-file'] = join(tmp.dir, 'a-file', 'ddx.db');

  migrationDir('next', [1, 2]);
  migrationDir('modified', [1], true);
  migrationDir('three', [1, 2, 3]);
  migrationDir('gap', [1, 3]);
  await migratedWith('db-newer', paths.next!);
  await migratedWith('db-three', paths.three!);
  await migratedWith('db-gapped', paths.gap!);

  // A saved plan, then a change that makes it stale; and a copy of the plan edited by hand.
  const stale = join(tmp.dir, 'stale.db');
  copyFileSync(seeded, stale);
  paths.stale = stale;
  writeFileSync(join(tmp.dir, 'approvals.csv'), 'app,scope,ticket\nbilling,all,SUP-1\n');
  const plan = join(tmp.dir, 'approvals.plan.json');
  const saved = await cli(stale, [
    'set-scope',
    '--file',
    join(tmp.dir, 'approvals.csv'),
    '--dry-run',
    '--save-plan',
    plan,
  ]);
  if (saved.exitCode !== 0) throw new Error(`could not save the plan: ${saved.stderr}`);
  const edited = JSON.parse(readFileSync(plan, 'utf8'));
  edited.changes[0].ticket = 'SUP-2';
  writeFileSync(join(tmp.dir, 'edited.plan.json'), JSON.stringify(edited));
  EDITED.args = ['apply-plan', join(tmp.dir, 'edited.plan.json')];
  EDITED.message = /edited after it was saved/;
  const change = await cli(stale, ['set-scope', 'billing', 'children']);
  if (change.exitCode !== 0) throw new Error(`could not change billing: ${change.stderr}`);
  STALE.args = ['apply-plan', plan];
}, 60_000);
afterAll(() => tmp.cleanup());

describe.concurrent('the golden table', () => {
  // Named by position and code; the arguments are filled in once beforeAll has run.
  it.for(TABLE.map((row, i) => [i + 1, row.code, row] as const))(
    '%i: %s',
    { timeout: 30_000 },
    async ([, code, row]: readonly [number, ErrorCode, Row], { expect }) => {
      expect(row.args.length, 'row has arguments').toBeGreaterThan(0);
      expect(row.exit).toBe(exitCodeFor(code));
      const [asJson, human] = await Promise.all([runRow(row, true), runRow(row, false)]);

      expect(asJson.exitCode, asJson.stderr).toBe(row.exit);
      expect(asJson.stdout).toBe('');
      expect(asJson.stderr.endsWith('\n')).toBe(true);
      expect(asJson.stderr.trimEnd().split('\n')).toHaveLength(1);
      const doc = JSON.parse(asJson.stderr) as { error: Record<string, unknown> };
      expect(Object.keys(doc)).toEqual(['error']);
      expect(Object.keys(doc.error)).toEqual(['code', 'message', 'rule', 'details']);
      expect(doc.error.code).toBe(code);
      expect(doc.error.rule).toBe((RULE_CODES as Record<string, string>)[code] ?? null);
      expect(typeof doc.error.message).toBe('string');
      if (row.message) expect(doc.error.message).toMatch(row.message);

      expect(human.exitCode, human.stderr).toBe(row.exit);
      expect(human.exitCode).not.toBe(0);
      expect(human.stdout).toBe('');
      const lines = human.stderr.trimEnd().split('\n');
      expect(lines.length, human.stderr).toBeGreaterThanOrEqual(1);
      expect(lines.length, human.stderr).toBeLessThanOrEqual(2);
      expect(lines[0]).toMatch(/^ddx-share: \S/);
      expect(human.stderr).not.toMatch(/^\s+at /m);
      expect(human.stderr).not.toMatch(/^\{/);
    },
  );
});

describe('the table is complete', () => {
  it('has a row for every rule code and every tool code the CLI can reach', () => {
    const unreachable = ['CANCELLED', 'DB_FULL', 'INTERNAL', 'AUDIT_CHAIN_BROKEN'];
    const covered = new Set(TABLE.map((r) => r.code));
    for (const code of Object.keys(RULE_CODES)) expect(covered, code).toContain(code);
    for (const code of [
      'USAGE',
      'INVALID_INPUT',
      'PLAN_INVALID',
      'PLAN_STALE',
      'DB_NEEDS_MIGRATE',
      'DB_NEWER',
      'DB_MIGRATION_MODIFIED',
      'DB_MIGRATION_MISSING',
      'DB_MIGRATION_OUT_OF_ORDER',
      'DB_LOCKED',
      'DB_NOT_A_DATABASE',
      'DB_UNAVAILABLE',
    ]) {
      expect(covered, code).toContain(code);
    }
    expect(unreachable.some((c) => covered.has(c as ErrorCode))).toBe(false);
  });
});

describe('a failure prints nothing on stdout, even in a streamed format', () => {
  it('list --format csv for an unknown workspace leaves no header behind', async () => {
    const r = await cli(seeded, ['list', '--visible-to', 'nowhere', '--format', 'csv']);
    expect(r).toEqual({
      exitCode: 4,
      stdout: '',
      stderr: 'ddx-share: No workspace has the id nowhere.\n',
    });
  });
});

describe('integrity failures exit 6 with their report on stdout', () => {
  function tampered(): string {
    const db = join(tmp.dir, `tampered-${++copies}.db`);
    copyFileSync(seeded, db);
    const d = new Database(db);
    try {
      d.exec('DROP TRIGGER audit_events_update_guard');
      d.prepare("UPDATE audit_events SET actor = 'mallory@evil.example' WHERE seq = 2").run();
    } finally {
      d.close();
    }
    return db;
  }

  it('audit verify on a rewritten chain', async () => {
    const db = tampered();
    const j = await cli(db, ['audit', 'verify', '--json']);
    expect(j.exitCode).toBe(EXIT.integrity);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, firstBadSeq: 2 });
    const h = await cli(db, ['audit', 'verify']);
    expect(h.exitCode).toBe(6);
    expect(h.stdout).toMatch(/^The audit chain is broken at event 2: /);
    expect(h.stderr).not.toMatch(/^\s+at /m);
  });

  it('audit check on a database that lost a guard', async () => {
    const j = await cli(tampered(), ['audit', 'check', '--json']);
    expect(j.exitCode).toBe(6);
    const report = JSON.parse(j.stdout);
    expect(report.ok).toBe(false);
    expect(report.violations).toContainEqual(
      expect.objectContaining({
        code: 'GUARD_MISSING',
        target: 'trigger audit_events_update_guard',
      }),
    );
  });

  it('and both exit 0 on a sound database', async () => {
    expect((await cli(seeded, ['audit', 'verify'])).exitCode).toBe(0);
    expect((await cli(seeded, ['audit', 'check'])).exitCode).toBe(0);
  });
});
