// The built binary, command by command, as a staff member would use it. Each test reads as a
// small piece of documentation: the command line, its exit code, what it prints on stdout and
// what on stderr.
import Database from 'better-sqlite3';
import { parse as parseCsv } from 'csv-parse/sync';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChange } from '../../src/commands/run-change.js';
import {
  createApp,
  createWorkspace,
  install,
  setScope,
  type Meta,
} from '../../src/service/changes.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { ACTOR, cli, cliJson, jsonError, tempDir } from '../helpers/cli.js';

type Json = any;

/**
 * The seeded organisation every test starts from (a private copy when the test writes):
 *
 * acme "Acme Corp" (org)
 * ├── acme-eu "Acme Europe" (org)
 * │   └── acme-eu-paris "Acme Paris" (org)
 * └── acme-us "Acme US" (org)
 * globex "Globex" (org)
 * pat "Pat's sandbox" (personal)
 *
 * billing  production  acme    CurrentWorkspaceOnly
 * crm      production  globex  CustomWorkspaceAccess (acme-us)
 * ledger   development acme    CurrentWorkspaceOnly
 * shared   production  acme    AllChildWorkspaces, installed by acme-eu-paris
 */
const WORKSPACES: [string, string, 'organizational' | 'personal', string | null][] = [
  ['acme', 'Acme Corp', 'organizational', null],
  ['acme-eu', 'Acme Europe', 'organizational', 'acme'],
  ['acme-us', 'Acme US', 'organizational', 'acme'],
  ['acme-eu-paris', 'Acme Paris', 'organizational', 'acme-eu'],
  ['globex', 'Globex', 'organizational', null],
  ['pat', "Pat's sandbox", 'personal', null],
];

async function seed(db: string): Promise<void> {
  const store = SqliteStore.open(db);
  const meta: Meta = { actor: ACTOR, at: '2024-01-01T00:00:00.000Z' };
  try {
    for (const [id, name, kind, parentId] of WORKSPACES) {
      await runChange(store, (w) => createWorkspace(w, { id, name, kind, parentId }, meta));
    }
    for (const [id, name, workspaceId, environment] of [
      ['billing', 'Billing Sync', 'acme', 'production'],
      ['crm', 'Globex CRM', 'globex', 'production'],
      ['ledger', 'Ledger', 'acme', 'development'],
      ['shared', 'Shared Tools', 'acme', 'production'],
    ] as const) {
      await runChange(store, (w) => createApp(w, { id, name, workspaceId, environment }, meta));
    }
    const share = (app: string, req: Parameters<typeof setScope>[2]) =>
      runChange(store, (w) => setScope(w, app, req, meta, { write: true }));
    await share('crm', { scope: 'CustomWorkspaceAccess', workspaces: ['acme-us'] });
    await share('shared', { scope: 'AllChildWorkspaces' });
    await runChange(store, (w) => install(w, 'shared', 'acme-eu-paris', meta));
  } finally {
    await store.close();
  }
}

let tmp: ReturnType<typeof tempDir>;
let seeded: string;
let copies = 0;

/** A private copy of the seeded database, for a test that writes. */
function copy(): string {
  const db = join(tmp.dir, `copy-${++copies}.db`);
  copyFileSync(seeded, db);
  return db;
}

function raw<T>(db: string, fn: (d: Database.Database) => T): T {
  const d = new Database(db);
  try {
    return fn(d);
  } finally {
    d.close();
  }
}

/** Everything but the audit trail, to prove that a refusal changed nothing. */
function data(db: string): Record<string, unknown[]> {
  return raw(db, (d) =>
    Object.fromEntries(
      ['workspaces', 'apps', 'app_access', 'installs'].map((t) => [
        t,
        d.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all(),
      ]),
    ),
  );
}

interface EventRow {
  seq: number;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  code: string | null;
}

function eventsAfter(db: string, seq: number): EventRow[] {
  return raw(db, (d) =>
    d
      .prepare('SELECT seq, actor, action, target, outcome, code FROM audit_events WHERE seq > ?')
      .all(seq),
  ) as EventRow[];
}

function headSeq(db: string): number {
  const row = raw(db, (d) =>
    d.prepare('SELECT COALESCE(MAX(seq), 0) AS n FROM audit_events').get(),
  );
  return (row as { n: number }).n;
}

/**
 * Runs a command that the rules refuse, with --json, and checks the whole contract: the exit
 * code, the error document on stderr and nothing on stdout, one `denied` audit event naming
 * the actor and the code (none when `recorded` is false), and no other change at all.
 */
async function refused(
  db: string,
  args: string[],
  exit: number,
  code: string,
  opts: { recorded?: boolean; action?: string; actor?: string | null } = {},
): Promise<{ message: string; rule: string | null }> {
  const before = data(db);
  const seq = headSeq(db);
  const r = await cli(
    db,
    [...args, '--json'],
    opts.actor === undefined ? {} : { actor: opts.actor },
  );
  expect({ args, exit: r.exitCode, stdout: r.stdout }).toEqual({ args, exit, stdout: '' });
  const err = jsonError(r.stderr);
  expect(err.code).toBe(code);
  expect(data(db)).toEqual(before);
  const events = eventsAfter(db, seq);
  if (opts.recorded === false) {
    expect(events).toEqual([]);
  } else {
    expect(events).toEqual([
      expect.objectContaining({ actor: ACTOR, outcome: 'denied', code, seq: seq + 1 }),
    ]);
    if (opts.action) expect(events[0]!.action).toBe(opts.action);
  }
  return err;
}

beforeAll(async () => {
  tmp = tempDir('ddx-e2e-commands-');
  seeded = join(tmp.dir, 'seeded.db');
  await seed(seeded);
});
afterAll(() => tmp.cleanup());

describe('workspace', () => {
  it('create: an organizational workspace, its id made from the name', async () => {
    const db = copy();
    const r = await cli(db, ['workspace', 'create', 'Initech Labs', '--kind', 'organizational']);
    expect(r).toEqual({
      exitCode: 0,
      stdout: 'Created organizational workspace initech-labs (Initech Labs).\n',
      stderr: '',
    });
  });

  it('create --parent --id --json: the workspace document', async () => {
    const db = copy();
    const r = await cliJson(db, [
      'workspace',
      'create',
      'Acme Berlin',
      '--kind',
      'org',
      '--parent',
      'acme-eu',
      '--id',
      'berlin',
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(Object.keys(r.json)).toEqual(['id', 'name', 'kind', 'parentId', 'createdAt']);
    expect(r.json).toMatchObject({
      id: 'berlin',
      name: 'Acme Berlin',
      kind: 'organizational',
      parentId: 'acme-eu',
    });
    const human = await cli(db, ['workspace', 'create', 'Sam', '--kind', 'personal']);
    expect(human.stdout).toBe('Created personal workspace sam (Sam).\n');
  });

  it('create refuses a taken id (ALREADY_EXISTS, 3) and a missing parent (4)', async () => {
    const db = copy();
    const dup = await refused(
      db,
      ['workspace', 'create', 'Acme again', '--kind', 'organizational', '--id', 'acme'],
      3,
      'ALREADY_EXISTS',
      { action: 'workspace.create' },
    );
    expect(dup).toMatchObject({ rule: 'R12', message: 'A workspace with id acme already exists.' });
    await refused(
      db,
      ['workspace', 'create', 'Orphan', '--kind', 'organizational', '--parent', 'nowhere'],
      4,
      'UNKNOWN_WORKSPACE',
    );
  });

  it('list: a table sorted by id; --json: an array of workspace documents', async () => {
    const r = await cli(seeded, ['workspace', 'list']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      [
        'id             name           kind            parent',
        'acme           Acme Corp      organizational  -',
        'acme-eu        Acme Europe    organizational  acme',
        'acme-eu-paris  Acme Paris     organizational  acme-eu',
        'acme-us        Acme US        organizational  acme',
        'globex         Globex         organizational  -',
        "pat            Pat's sandbox  personal        -",
        '',
      ].join('\n'),
    );
    const j = await cliJson(seeded, ['workspace', 'list']);
    expect(j.json.map((w: Json) => [w.id, w.parentId])).toEqual([
      ['acme', null],
      ['acme-eu', 'acme'],
      ['acme-eu-paris', 'acme-eu'],
      ['acme-us', 'acme'],
      ['globex', null],
      ['pat', null],
    ]);
  });

  it('list --tree draws the hierarchy', async () => {
    const r = await cli(seeded, ['workspace', 'list', '--tree']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(
      [
        'acme Acme Corp (organizational)',
        '├── acme-eu Acme Europe (organizational)',
        '│   └── acme-eu-paris Acme Paris (organizational)',
        '└── acme-us Acme US (organizational)',
        'globex Globex (organizational)',
        "pat Pat's sandbox (personal)",
        '',
      ].join('\n'),
    );
  });

  it('show: one workspace with its ancestors', async () => {
    const r = await cli(seeded, ['workspace', 'show', 'acme-eu-paris']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(
      /^field +value\nid +acme-eu-paris\nname +Acme Paris\nkind +organizational\n/,
    );
    expect(r.stdout).toMatch(/\nparent +acme-eu\nancestors +acme, acme-eu\ncreated +2024-/);
    const j = await cliJson(seeded, ['workspace', 'show', 'acme-eu-paris']);
    expect(j.json).toEqual({
      id: 'acme-eu-paris',
      name: 'Acme Paris',
      kind: 'organizational',
      parentId: 'acme-eu',
      createdAt: '2024-01-01T00:00:00.000Z',
    });
    const missing = await cli(seeded, ['workspace', 'show', 'nowhere']);
    expect(missing).toEqual({
      exitCode: 4,
      stdout: '',
      stderr: 'ddx-share: No workspace has the id nowhere.\nSee `ddx-share workspace list`.\n',
    });
  });
});

describe('app', () => {
  it('create: every new app starts on CurrentWorkspaceOnly', async () => {
    const db = copy();
    const r = await cli(db, [
      'app',
      'create',
      'Payroll',
      '--workspace',
      'acme-us',
      '--env',
      'prod',
    ]);
    expect(r).toEqual({
      exitCode: 0,
      stdout:
        'Created production app payroll in acme-us; only acme-us sees it (CurrentWorkspaceOnly).\n',
      stderr: '',
    });
    const j = await cliJson(db, ['app', 'create', 'Scratch', '--workspace', 'pat', '--env', 'dev']);
    expect(Object.keys(j.json)).toEqual([
      'id',
      'name',
      'workspaceId',
      'environment',
      'scope',
      'workspaces',
      'createdAt',
      'updatedAt',
    ]);
    expect(j.json).toMatchObject({
      id: 'scratch',
      workspaceId: 'pat',
      environment: 'development',
      scope: 'CurrentWorkspaceOnly',
      workspaces: [],
    });
  });

  it('create: production needs an organizational workspace (exit 3)', async () => {
    const db = copy();
    const e = await refused(
      db,
      ['app', 'create', 'Pat prod', '--workspace', 'pat', '--env', 'production'],
      3,
      'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE',
      { action: 'app.create' },
    );
    expect(e.rule).toBe('R1');
    expect(e.message).toContain('pat is a personal workspace');
  });

  it('create: a taken id is ALREADY_EXISTS (exit 3)', async () => {
    await refused(
      copy(),
      ['app', 'create', 'Another', '--workspace', 'acme', '--env', 'dev', '--id', 'billing'],
      3,
      'ALREADY_EXISTS',
    );
  });

  it('show: the app document plus its installs', async () => {
    const r = await cli(seeded, ['app', 'show', 'shared']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(
      /\nscope +AllChildWorkspaces\naccess list +-\ninstalled by +acme-eu-paris\n/,
    );
    const j = await cliJson(seeded, ['app', 'show', 'crm']);
    expect(j.json).toEqual({
      id: 'crm',
      name: 'Globex CRM',
      workspaceId: 'globex',
      environment: 'production',
      scope: 'CustomWorkspaceAccess',
      workspaces: ['acme-us'],
      createdAt: '2024-01-01T00:00:00.000Z',
      updatedAt: '2024-01-01T00:00:00.000Z',
      installs: [],
    });
  });

  it('show: an unknown app is UNKNOWN_APP (exit 4)', async () => {
    const r = await cli(seeded, ['app', 'show', 'nope']);
    expect(r).toEqual({
      exitCode: 4,
      stdout: '',
      stderr: 'ddx-share: No app has the id nope.\nSee `ddx-share list`.\n',
    });
    await refused(copy(), ['set-scope', 'nope', 'all'], 4, 'UNKNOWN_APP');
  });

  it('update --name renames; the rename is audited', async () => {
    const db = copy();
    const r = await cli(db, ['app', 'update', 'billing', '--name', 'Billing Sync v2']);
    expect(r).toEqual({ exitCode: 0, stdout: 'Renamed billing to Billing Sync v2.\n', stderr: '' });
    const j = await cliJson(db, ['app', 'show', 'billing']);
    expect(j.json.name).toBe('Billing Sync v2');
    expect(j.json.updatedAt > j.json.createdAt).toBe(true);
    expect(eventsAfter(db, headSeq(db) - 1)[0]).toMatchObject({
      action: 'app.update',
      outcome: 'applied',
    });
    const same = await cli(db, ['app', 'update', 'billing', '--name', 'Billing Sync v2']);
    expect(same.stdout).toBe('Nothing changed: billing already has that name.\n');
  });

  it('update --env is ENVIRONMENT_IMMUTABLE (exit 3), even with a new name', async () => {
    const db = copy();
    const e = await refused(
      db,
      ['app', 'update', 'billing', '--env', 'development', '--name', 'X'],
      3,
      'ENVIRONMENT_IMMUTABLE',
      { action: 'app.update' },
    );
    expect(e.rule).toBe('R3');
    const human = await cli(db, ['app', 'update', 'ledger', '--env', 'production']);
    expect(human.exitCode).toBe(3);
    expect(human.stderr).toBe(
      'ddx-share: ledger is a development app and stays one; an environment never changes. ' +
        'Create a new production app instead.\n',
    );
  });
});

describe('set-scope', () => {
  const SPELLINGS: [string, string][] = [
    ['CurrentWorkspaceOnly', 'CurrentWorkspaceOnly'],
    ['current-workspace-only', 'CurrentWorkspaceOnly'],
    ['current', 'CurrentWorkspaceOnly'],
    ['AllChildWorkspaces', 'AllChildWorkspaces'],
    ['all-child-workspaces', 'AllChildWorkspaces'],
    ['children', 'AllChildWorkspaces'],
    ['ALL-CHILD-WORKSPACES', 'AllChildWorkspaces'],
    ['AllWorkspaces', 'AllWorkspaces'],
    ['all-workspaces', 'AllWorkspaces'],
    ['all', 'AllWorkspaces'],
    ['allworkspaces', 'AllWorkspaces'],
    ['CustomWorkspaceAccess', 'CustomWorkspaceAccess'],
    ['custom-workspace-access', 'CustomWorkspaceAccess'],
    ['Custom', 'CustomWorkspaceAccess'],
  ];
  it.each(SPELLINGS)('accepts the spelling %s as %s', async (spelling, canonical) => {
    const list = canonical === 'CustomWorkspaceAccess' ? ['--workspaces', 'globex'] : [];
    const r = await cliJson(seeded, ['set-scope', 'billing', spelling, ...list, '--dry-run']);
    expect(r.exitCode).toBe(0);
    expect(r.json.after.scope).toBe(canonical);
  });

  it('children: who gains, and that later children will see it too', async () => {
    const db = copy();
    const r = await cli(db, ['set-scope', 'billing', 'children']);
    expect(r).toEqual({
      exitCode: 0,
      stdout: [
        'Changed billing: CurrentWorkspaceOnly -> AllChildWorkspaces',
        '  gain access: acme-eu, acme-eu-paris, acme-us',
        '  lose access: none',
        '  Workspaces created later under acme will see it too.',
        '',
      ].join('\n'),
      stderr: '',
    });
  });

  it('--json: the change document', async () => {
    const db = copy();
    const before = (await cliJson(db, ['app', 'show', 'billing'])).json;
    const r = await cliJson(db, ['set-scope', 'billing', 'all']);
    expect(r.exitCode).toBe(0);
    expect(Object.keys(r.json)).toEqual([
      'changed',
      'dryRun',
      'before',
      'after',
      'gained',
      'lost',
      'revokedInstalls',
    ]);
    const { installs: _, ...app } = before;
    expect(r.json).toMatchObject({
      changed: true,
      dryRun: false,
      before: app,
      after: { ...app, scope: 'AllWorkspaces', updatedAt: expect.any(String) },
      gained: ['acme-eu', 'acme-eu-paris', 'acme-us', 'globex', 'pat'],
      lost: [],
      revokedInstalls: [],
    });
  });

  it('custom --workspaces, then --add and --remove edit the list', async () => {
    const db = copy();
    const set = await cliJson(db, ['set-scope', 'billing', 'custom', '--workspaces', 'globex,pat']);
    expect(set.json).toMatchObject({
      after: { scope: 'CustomWorkspaceAccess', workspaces: ['globex', 'pat'] },
      gained: ['globex', 'pat'],
      lost: [],
    });
    const add = await cliJson(db, ['set-scope', 'billing', '--add', 'acme-us']);
    expect(add.exitCode).toBe(0);
    expect(add.json).toMatchObject({
      after: { workspaces: ['acme-us', 'globex', 'pat'] },
      gained: ['acme-us'],
      lost: [],
    });
    const remove = await cli(db, ['set-scope', 'billing', '--remove', 'globex,pat']);
    expect(remove.stdout).toBe(
      [
        'Changed billing: CustomWorkspaceAccess (acme-us, globex, pat) -> ' +
          'CustomWorkspaceAccess (acme-us)',
        '  gain access: none',
        '  lose access: globex, pat',
        '',
      ].join('\n'),
    );
    const replaced = await cliJson(db, ['set-scope', 'billing', '--workspaces', 'acme-eu pat']);
    expect(replaced.json).toMatchObject({
      after: { workspaces: ['acme-eu', 'pat'] },
      gained: ['acme-eu', 'pat'],
      lost: ['acme-us'],
    });
  });

  it('--dry-run shows the change and writes nothing: the audit head stays put', async () => {
    const db = copy();
    const head = (await cli(db, ['audit', 'head'])).stdout;
    const before = data(db);
    const r = await cli(db, ['set-scope', 'billing', 'all', '--dry-run', '--ticket', 'SUP-9']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(
      [
        'Would change billing: CurrentWorkspaceOnly -> AllWorkspaces',
        '  gain access: acme-eu, acme-eu-paris, acme-us, globex, pat',
        '  lose access: none',
        '  Workspaces created later will see it too.',
        'Dry run: nothing was written.',
        '',
      ].join('\n'),
    );
    const j = await cliJson(db, ['set-scope', 'billing', 'all', '--dry-run']);
    expect(j.json).toMatchObject({ changed: true, dryRun: true });
    expect((await cli(db, ['audit', 'head'])).stdout).toBe(head);
    expect(data(db)).toEqual(before);
  });

  it('--dry-run of a refused change records no denied event', async () => {
    const db = copy();
    await refused(
      db,
      ['set-scope', 'ledger', 'all', '--dry-run'],
      3,
      'DEVELOPMENT_APP_NOT_SHAREABLE',
      {
        recorded: false,
      },
    );
  });

  it('--ticket and --reason land in the audit event, with the actor', async () => {
    const db = copy();
    const r = await cli(db, [
      'set-scope',
      'billing',
      'custom',
      '--workspaces',
      'globex',
      '--ticket',
      'SUP-1234',
      '--reason',
      'Globex signed the reseller contract',
    ]);
    expect(r.exitCode).toBe(0);
    const log = await cliJson(db, [
      'audit',
      'log',
      '--app',
      'billing',
      '--action',
      'app.set-scope',
    ]);
    expect(log.json).toHaveLength(1);
    expect(log.json[0]).toMatchObject({
      actor: ACTOR,
      action: 'app.set-scope',
      target: 'billing',
      outcome: 'applied',
      code: null,
      ticket: 'SUP-1234',
      reason: 'Globex signed the reseller contract',
      before: { scope: 'CurrentWorkspaceOnly', workspaces: [] },
      after: { scope: 'CustomWorkspaceAccess', workspaces: ['globex'] },
    });
  });

  it('a scope stranding installs is refused; --revoke-installs removes them too', async () => {
    const db = copy();
    const e = await refused(
      db,
      ['set-scope', 'shared', 'current'],
      3,
      'SCOPE_CHANGE_STRANDS_INSTALLS',
    );
    expect(e.rule).toBe('R7');
    expect(e.message).toContain('acme-eu-paris');
    const r = await cli(db, ['set-scope', 'shared', 'current', '--revoke-installs']);
    expect(r).toEqual({
      exitCode: 0,
      stdout: [
        'Changed shared: AllChildWorkspaces -> CurrentWorkspaceOnly',
        '  gain access: none',
        '  lose access: acme-eu, acme-eu-paris, acme-us',
        '  installs revoked: acme-eu-paris',
        '',
      ].join('\n'),
      stderr: '',
    });
    expect((await cliJson(db, ['app', 'show', 'shared'])).json.installs).toEqual([]);
    const log = await cliJson(db, ['audit', 'log', '--app', 'shared', '--limit', '2']);
    expect(log.json.map((e: Json) => [e.action, e.outcome, e.before])).toEqual([
      ['app.set-scope', 'applied', { scope: 'AllChildWorkspaces', workspaces: [] }],
      ['app.uninstall', 'applied', { workspace: 'acme-eu-paris' }],
    ]);
  });

  it('--revoke-installs in --json lists what was revoked', async () => {
    const db = copy();
    const r = await cliJson(db, [
      'set-scope',
      'shared',
      'custom',
      '--workspaces',
      'acme-us',
      '--revoke-installs',
    ]);
    expect(r.json).toMatchObject({
      gained: [],
      lost: ['acme-eu', 'acme-eu-paris'],
      revokedInstalls: ['acme-eu-paris'],
    });
  });

  it('every refusal of the sharing rules: exit 3 (4 for an unknown workspace)', async () => {
    const db = copy();
    const cases: [string[], number, string][] = [
      [['set-scope', 'ledger', 'all'], 3, 'DEVELOPMENT_APP_NOT_SHAREABLE'],
      [['set-scope', 'ledger', '--add', 'acme-eu'], 3, 'DEVELOPMENT_APP_NOT_SHAREABLE'],
      [['set-scope', 'crm', '--remove', 'acme-us'], 3, 'CUSTOM_ACCESS_REQUIRES_WORKSPACES'],
      [
        ['set-scope', 'billing', 'custom', '--workspaces', ''],
        3,
        'CUSTOM_ACCESS_REQUIRES_WORKSPACES',
      ],
      [
        ['set-scope', 'billing', 'custom', '--workspaces', 'globex,nowhere'],
        4,
        'UNKNOWN_WORKSPACE',
      ],
      [['set-scope', 'crm', '--remove', 'nowhere'], 4, 'UNKNOWN_WORKSPACE'],
      [
        ['set-scope', 'billing', 'custom', '--workspaces', 'globex,globex'],
        3,
        'DUPLICATE_WORKSPACE',
      ],
      [['set-scope', 'crm', '--add', 'pat', '--remove', 'pat'], 3, 'DUPLICATE_WORKSPACE'],
      [
        ['set-scope', 'billing', 'custom', '--workspaces', 'acme,globex'],
        3,
        'OWNER_IN_ACCESS_LIST',
      ],
      [
        ['set-scope', 'billing', 'all', '--workspaces', 'globex'],
        3,
        'WORKSPACES_REQUIRE_CUSTOM_SCOPE',
      ],
    ];
    for (const [args, exit, code] of cases) {
      const e = await refused(db, args, exit, code, { action: 'app.set-scope' });
      expect(e.rule).toBe(
        'R' +
          (code === 'DEVELOPMENT_APP_NOT_SHAREABLE' ? 4 : code === 'UNKNOWN_WORKSPACE' ? 12 : 5),
      );
    }
  });

  it('a refusal in human form: one line on stderr, nothing on stdout', async () => {
    const r = await cli(copy(), ['set-scope', 'billing', 'custom', '--workspaces', 'acme']);
    expect(r).toEqual({
      exitCode: 3,
      stdout: '',
      stderr: 'ddx-share: acme owns billing and always sees it; leave it out of the list.\n',
    });
  });

  it('no actor, no attempt: ACTOR_REQUIRED (exit 2), nothing recorded', async () => {
    const db = copy();
    await refused(db, ['set-scope', 'billing', 'all'], 2, 'ACTOR_REQUIRED', {
      actor: null,
      recorded: false,
    });
    const bad = await refused(
      db,
      ['install', 'shared', '--workspace', 'acme-us', '--actor', 'not-an-email'],
      2,
      'ACTOR_REQUIRED',
      { actor: null, recorded: false },
    );
    expect(bad.rule).toBe('R11');
    // --actor wins over DDX_ACTOR, and is recorded in lower case.
    const ok = await cli(db, [
      'install',
      'shared',
      '--workspace',
      'acme-us',
      '--actor',
      'Kim@DDX.example',
    ]);
    expect(ok.exitCode).toBe(0);
    expect(eventsAfter(db, headSeq(db) - 1)[0]!.actor).toBe('kim@ddx.example');
  });
});

describe('install and uninstall', () => {
  it('install, then uninstall', async () => {
    const db = copy();
    const r = await cli(db, ['install', 'shared', '--workspace', 'acme-us']);
    expect(r).toEqual({ exitCode: 0, stdout: 'acme-us installed shared.\n', stderr: '' });
    const j = await cliJson(db, ['uninstall', 'shared', '--workspace', 'acme-us']);
    expect(j).toEqual({
      exitCode: 0,
      json: { app: 'shared', workspace: 'acme-us', installed: false },
      stderr: '',
    });
    const again = await cliJson(db, ['install', 'shared', '--workspace', 'acme-us']);
    expect(again.json).toEqual({ app: 'shared', workspace: 'acme-us', installed: true });
    const u = await cli(db, ['uninstall', 'shared', '--workspace', 'acme-us']);
    expect(u.stdout).toBe('acme-us uninstalled shared.\n');
  });

  it('refused: NOT_INSTALLABLE, ALREADY_INSTALLED, NOT_INSTALLED (3), unknowns (4)', async () => {
    const db = copy();
    const cases: [string[], number, string, string][] = [
      [['install', 'shared', '--workspace', 'acme'], 3, 'NOT_INSTALLABLE', 'app.install'],
      [['install', 'shared', '--workspace', 'globex'], 3, 'NOT_INSTALLABLE', 'app.install'],
      [['install', 'ledger', '--workspace', 'acme-eu'], 3, 'NOT_INSTALLABLE', 'app.install'],
      [['install', 'billing', '--workspace', 'acme-eu'], 3, 'NOT_INSTALLABLE', 'app.install'],
      [
        ['install', 'shared', '--workspace', 'acme-eu-paris'],
        3,
        'ALREADY_INSTALLED',
        'app.install',
      ],
      [['uninstall', 'shared', '--workspace', 'acme-us'], 3, 'NOT_INSTALLED', 'app.uninstall'],
      [['install', 'nope', '--workspace', 'acme-us'], 4, 'UNKNOWN_APP', 'app.install'],
      [['install', 'shared', '--workspace', 'nowhere'], 4, 'UNKNOWN_WORKSPACE', 'app.install'],
    ];
    for (const [args, exit, code, action] of cases) {
      const e = await refused(db, args, exit, code, { action });
      expect(e.rule).toBe(code.startsWith('UNKNOWN') ? 'R12' : 'R9');
    }
    const human = await cli(db, ['install', 'shared', '--workspace', 'globex']);
    expect(human.stderr).toBe(
      "ddx-share: globex cannot install shared: shared's scope (AllChildWorkspaces) does not " +
        'cover globex.\n',
    );
  });
});

describe('list', () => {
  const ids = async (args: string[]): Promise<string[]> =>
    (await cliJson(seeded, ['list', ...args])).json.map((a: Json) => a.id);

  it('table: every app, sorted by id', async () => {
    const r = await cli(seeded, ['list']);
    expect(r).toEqual({
      exitCode: 0,
      stdout: [
        'id       name          workspace  environment  scope                  workspaces',
        'billing  Billing Sync  acme       production   CurrentWorkspaceOnly',
        'crm      Globex CRM    globex     production   CustomWorkspaceAccess  acme-us',
        'ledger   Ledger        acme       development  CurrentWorkspaceOnly',
        'shared   Shared Tools  acme       production   AllChildWorkspaces',
        '',
      ].join('\n'),
      stderr: '',
    });
  });

  it('filters: --env, --scope (any spelling), --workspace, --shared, combined', async () => {
    expect(await ids([])).toEqual(['billing', 'crm', 'ledger', 'shared']);
    expect(await ids(['--env', 'development'])).toEqual(['ledger']);
    expect(await ids(['--env', 'prod'])).toEqual(['billing', 'crm', 'shared']);
    expect(await ids(['--scope', 'custom'])).toEqual(['crm']);
    expect(await ids(['--scope', 'AllChildWorkspaces'])).toEqual(['shared']);
    expect(await ids(['--workspace', 'acme'])).toEqual(['billing', 'ledger', 'shared']);
    expect(await ids(['--shared'])).toEqual(['crm', 'shared']);
    expect(await ids(['--shared', '--workspace', 'acme'])).toEqual(['shared']);
    const none = await cli(seeded, ['list', '--workspace', 'pat']);
    expect(none.stdout).toBe('No apps match.\n');
  });

  it('--visible-to: what one workspace sees, and what it may do with each', async () => {
    const r = await cliJson(seeded, ['list', '--visible-to', 'acme-us']);
    expect(
      r.json.map((a: Json) => [a.id, a.visible, a.installable, a.adminApi, a.installed]),
    ).toEqual([
      ['crm', true, true, true, false],
      ['shared', true, true, true, false],
    ]);
    const paris = await cliJson(seeded, ['list', '--visible-to', 'acme-eu-paris']);
    expect(paris.json).toEqual([
      expect.objectContaining({
        id: 'shared',
        visible: true,
        installable: false,
        adminApi: true,
        installed: true,
      }),
    ]);
    // The owner sees its own apps, development ones too, but installs none of them.
    expect(await ids(['--visible-to', 'acme'])).toEqual(['billing', 'ledger', 'shared']);
    expect(await ids(['--visible-to', 'acme', '--env', 'development'])).toEqual(['ledger']);
    expect(await ids(['--visible-to', 'pat'])).toEqual([]);
    const human = await cli(seeded, ['list', '--visible-to', 'acme-eu-paris']);
    expect(human.stdout).toBe(
      [
        'id      name          workspace  environment  scope               workspaces  visible  ' +
          'installable  adminApi  installed',
        'shared  Shared Tools  acme       production   AllChildWorkspaces              yes      ' +
          'no           yes       yes',
        '',
      ].join('\n'),
    );
    const unknown = await cli(seeded, ['list', '--visible-to', 'nowhere']);
    expect(unknown.exitCode).toBe(4);
  });

  it('--format json, ndjson and csv carry the same rows', async () => {
    const json = JSON.parse((await cli(seeded, ['list', '--format', 'json'])).stdout);
    const nd = (await cli(seeded, ['list', '--format', 'ndjson'])).stdout;
    expect(nd.endsWith('\n')).toBe(true);
    expect(
      nd
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(json);
    const csv = await cli(seeded, ['list', '--format', 'csv', '--visible-to', 'acme-us']);
    expect(csv.exitCode).toBe(0);
    expect(parseCsv(csv.stdout, { columns: true })).toEqual([
      {
        id: 'crm',
        name: 'Globex CRM',
        workspace: 'globex',
        environment: 'production',
        scope: 'CustomWorkspaceAccess',
        workspaces: 'acme-us',
        visible: 'true',
        installable: 'true',
        adminApi: 'true',
        installed: 'false',
      },
      expect.objectContaining({ id: 'shared', scope: 'AllChildWorkspaces', workspaces: '' }),
    ]);
    const empty = await cli(seeded, ['list', '--format', 'json', '--workspace', 'pat']);
    expect(empty.stdout).toBe('[]\n');
    const bad = await cli(seeded, ['list', '--format', 'xml']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toBe(
      'ddx-share: Unknown format "xml": use one of table, json, ndjson, csv.\n',
    );
  });
});

describe('explain', () => {
  it('a production app nobody shared yet: "no cross-workspace sharing scope"', async () => {
    const r = await cli(seeded, ['explain', 'billing', '--workspace', 'globex']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('globex and app billing:');
    expect(lines[1]).toMatch(
      /^ {2}sees it: +no +No cross-workspace sharing scope has been granted yet; only acme/,
    );
    expect(lines[2]).toMatch(
      /^ {2}can install it: +no +globex cannot install an app it does not see\.$/,
    );
    expect(lines[3]).toMatch(/^ {2}Admin API returns it: +no +The Admin API returns it to nobody/);
    const j = await cliJson(seeded, ['explain', 'billing', '--workspace', 'globex']);
    expect(j.json).toEqual({
      app: 'billing',
      workspace: 'globex',
      visible: false,
      installable: false,
      adminApi: false,
      reasons: [
        {
          rule: 'R8',
          code: 'NO_CROSS_WORKSPACE_SCOPE',
          message: expect.stringContaining('No cross-workspace sharing scope has been granted yet'),
        },
        { rule: 'R9', code: 'NOT_INSTALLABLE', message: expect.any(String) },
        { rule: 'R10', code: 'NO_CROSS_WORKSPACE_SCOPE', message: expect.any(String) },
      ],
    });
  });

  it('each answer has its reason: child, listed, owner, development', async () => {
    const codes = async (app: string, ws: string): Promise<string[]> =>
      (await cliJson(seeded, ['explain', app, '--workspace', ws])).json.reasons.map(
        (r: Json) => r.code,
      );
    expect(await codes('shared', 'acme-eu-paris')).toEqual([
      'SCOPE_CHILD_WORKSPACE',
      'ALREADY_INSTALLED',
      'ADMIN_API_RETURNED',
    ]);
    expect(await codes('crm', 'acme-us')).toEqual(['LISTED', 'INSTALLABLE', 'ADMIN_API_RETURNED']);
    expect(await codes('crm', 'acme')).toEqual([
      'NOT_LISTED',
      'NOT_INSTALLABLE',
      'ADMIN_API_NOT_SHARED_HERE',
    ]);
    expect(await codes('ledger', 'acme')).toEqual([
      'OWNER',
      'OWNER_CANNOT_INSTALL',
      'ADMIN_API_DEVELOPMENT',
    ]);
    expect(await codes('ledger', 'acme-eu')).toEqual([
      'DEVELOPMENT_APP_NOT_SHAREABLE',
      'NOT_INSTALLABLE',
      'ADMIN_API_DEVELOPMENT',
    ]);
  });

  it('unknown app or workspace: exit 4', async () => {
    expect((await cli(seeded, ['explain', 'nope', '--workspace', 'acme'])).exitCode).toBe(4);
    expect((await cli(seeded, ['explain', 'billing', '--workspace', 'nope'])).exitCode).toBe(4);
  });
});

describe('audience', () => {
  it('AllChildWorkspaces: the owner first, every descendant, and future ones', async () => {
    const r = await cli(seeded, ['audience', 'shared']);
    expect(r).toEqual({
      exitCode: 0,
      stdout: [
        'shared (production, AllChildWorkspaces) is seen by 4 workspace(s):',
        'workspace      via    installable  adminApi  installed',
        'acme           owner  no           yes       no',
        'acme-eu        child  yes          yes       no',
        'acme-eu-paris  child  no           yes       yes',
        'acme-us        child  yes          yes       no',
        'Workspaces created later under acme will see it too.',
        '',
      ].join('\n'),
      stderr: '',
    });
    const j = await cliJson(seeded, ['audience', 'shared']);
    expect(j.json).toMatchObject({ app: 'shared', complete: true, futureDescendants: true });
    expect(j.json.workspaces[0]).toEqual({
      id: 'acme',
      visible: true,
      installable: false,
      adminApi: true,
      installed: false,
    });
  });

  it('a custom list: exactly the owner and the listed workspaces, nobody later', async () => {
    const db = copy();
    await cli(db, ['set-scope', 'crm', '--add', 'pat,acme-eu-paris']);
    const j = await cliJson(db, ['audience', 'crm']);
    expect(j.json).toEqual({
      app: 'crm',
      complete: true,
      futureDescendants: false,
      workspaces: ['globex', 'acme-eu-paris', 'acme-us', 'pat'].map((id) => ({
        id,
        visible: true,
        installable: id !== 'globex',
        adminApi: true,
        installed: false,
      })),
    });
  });

  it('CurrentWorkspaceOnly and development apps: the owner alone', async () => {
    for (const app of ['billing', 'ledger']) {
      const j = await cliJson(seeded, ['audience', app]);
      expect(j.json).toMatchObject({ complete: true, futureDescendants: false });
      expect(j.json.workspaces.map((w: Json) => w.id)).toEqual(['acme']);
    }
    const all = await cliJson(seeded, ['audience', 'billing']);
    expect(all.json.workspaces[0].adminApi).toBe(false);
  });
});

describe('demo', () => {
  it('builds ./ddx-share-demo.db in the current folder and tours it', async () => {
    const t = tempDir('ddx-e2e-demo-');
    try {
      const r = await cli(t.db, ['demo'], { cwd: t.dir });
      expect(r.exitCode).toBe(0);
      expect(r.stderr).toBe('');
      const file = join(t.dir, 'ddx-share-demo.db');
      expect(existsSync(file)).toBe(true);
      expect(existsSync(t.db)).toBe(false);
      expect(r.stdout.split('\n')[0]).toBe(`A sample organisation is in ${file}.`);
      expect(r.stdout).toContain('PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE');
      expect(r.stdout).toContain('DEVELOPMENT_APP_NOT_SHAREABLE');
      // The demo database works with every other command.
      const list = await cliJson(t.db, ['--db', file, 'list', '--visible-to', 'acme-eu-paris']);
      expect(list.json.map((a: Json) => a.id)).toEqual(['billing-sync']);
    } finally {
      t.cleanup();
    }
  });

  it('running it again replaces the earlier demo file', async () => {
    const t = tempDir('ddx-e2e-demo-');
    try {
      const first = await cliJson(t.db, ['demo'], { cwd: t.dir });
      expect(first.json).toMatchObject({ workspaces: 6, apps: 4, visibleToParis: 1 });
      expect(first.json.refused.map((x: Json) => x.code)).toEqual([
        'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE',
        'DEVELOPMENT_APP_NOT_SHAREABLE',
      ]);
      const file = join(t.dir, 'ddx-share-demo.db');
      const extra = ['--db', file, 'workspace', 'create', 'Extra', '--kind', 'personal'];
      expect((await cli(t.db, extra)).exitCode).toBe(0);
      const second = await cli(t.db, ['demo'], { cwd: t.dir });
      expect(second.exitCode).toBe(0);
      expect((await cli(t.db, ['--db', file, 'workspace', 'show', 'extra'])).exitCode).toBe(4);
      expect((await cli(t.db, ['--db', file, 'audit', 'verify'])).exitCode).toBe(0);
    } finally {
      t.cleanup();
    }
  });

  it('refuses a --db file that holds other data (exit 2) and leaves it alone', async () => {
    const db = copy();
    const before = readFileSync(db);
    const r = await cli(db, ['demo', '--db', db]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `ddx-share: ${db} holds data that the demo did not make; it is left alone.\n` +
        'Pass --db with a new file name.\n',
    );
    expect(readFileSync(db).equals(before)).toBe(true);
  });

  it('never runs on the default database', async () => {
    const t = tempDir('ddx-e2e-demo-');
    try {
      // The helper points XDG_DATA_HOME at <dir>/xdg, so that is where the default lives.
      const fallback = join(t.dir, 'xdg', 'ddx-share', 'ddx.db');
      const r = await cli(t.db, ['demo', '--db', fallback, '--json']);
      expect(r.exitCode).toBe(2);
      expect(r.stdout).toBe('');
      expect(jsonError(r.stderr).code).toBe('USAGE');
      expect(existsSync(fallback)).toBe(false);
    } finally {
      t.cleanup();
    }
  });

  it('never runs on a PostgreSQL server: it replaces its database wholesale', async () => {
    const url = 'postgres://postgres@127.0.0.1:5432/postgres';
    const r = await cli(copy(), ['demo', '--db', url, '--json']);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(jsonError(r.stderr).message).toContain('SQLite file');
  });
});

describe('every rule code has an end-to-end test above', () => {
  it('the list is complete', async () => {
    const { RULE_CODES } = await import('../../src/rules/codes.js');
    const source = readFileSync(new URL(import.meta.url), 'utf8');
    const body = source.slice(0, source.indexOf("describe('every rule code"));
    for (const code of Object.keys(RULE_CODES)) expect(body, code).toContain(`'${code}'`);
  });
});
