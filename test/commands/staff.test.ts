// The staff commands called in-process, with a real Context on a real database of each backend
// (a SQLite file, a PostgreSQL schema): quick coverage of every result shape, and of who gains
// and loses an app on a deeper tree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppCommand, showAppCommand, updateAppCommand } from '../../src/commands/app.js';
import { auditHeadCommand, auditLogCommand } from '../../src/commands/audit.js';
import type { Context, Result } from '../../src/commands/context.js';
import { audienceCommand, explainCommand } from '../../src/commands/explain.js';
import { installCommand } from '../../src/commands/install.js';
import { listCommand } from '../../src/commands/list.js';
import { setScopeCommand, type SetScopeOptions } from '../../src/commands/set-scope.js';
import {
  createWorkspaceCommand,
  listWorkspacesCommand,
  showWorkspaceCommand,
} from '../../src/commands/workspace.js';
import { DdxError } from '../../src/errors.js';
import { PLAIN } from '../../src/io/render.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { describeBackends, type FreshDb } from '../helpers/backends.js';

const ACTOR = 'staff@ddx.example';

/**
 * acme (org)
 * ├── acme-eu (org)
 * │   └── acme-eu-paris (org)     grandchild of acme
 * └── acme-us (org)               sibling of acme-eu
 * globex (org)                    unrelated to acme
 * └── globex-labs (org)
 * pat (personal)                  unrelated, personal
 *
 * Apps: billing (production, acme), eu-tool (production, acme-eu), ledger (development, acme),
 * all on CurrentWorkspaceOnly.
 */
const TREE: [id: string, kind: string, parent?: string][] = [
  ['acme', 'organizational'],
  ['acme-eu', 'organizational', 'acme'],
  ['acme-us', 'organizational', 'acme'],
  ['acme-eu-paris', 'organizational', 'acme-eu'],
  ['globex', 'organizational'],
  ['globex-labs', 'organizational', 'globex'],
  ['pat', 'personal'],
];
const EVERYONE = TREE.map(([id]) => id).sort();
const others = (...but: string[]): string[] => EVERYONE.filter((id) => !but.includes(id));

type Json = any;

function contextFor(db: string, stores: Store[], over: Partial<Context> = {}): Context {
  return {
    db,
    actor: ACTOR,
    json: true,
    yes: true,
    interactive: false,
    style: PLAIN,
    now: () => new Date().toISOString(),
    openStore: async (o) => {
      const s = await openStore(db, o);
      stores.push(s);
      return s;
    },
    note: () => {},
    stderrIsTTY: false,
    ...over,
  };
}

/** Runs one command the way the CLI does and returns its JSON; stores are closed after. */
async function call(
  db: string,
  fn: (ctx: Context) => Promise<Result>,
  over: Partial<Context> = {},
): Promise<Json> {
  const stores: Store[] = [];
  try {
    const r = await fn(contextFor(db, stores, over));
    if (r.kind === 'value') return r.json;
    let text = '';
    for await (const chunk of r.lines) text += chunk;
    return JSON.parse(text);
  } finally {
    for (const s of stores) await s.close();
  }
}

/** The DdxError a command throws (it must throw one). */
async function refusal(
  db: string,
  fn: (ctx: Context) => Promise<Result>,
  over: Partial<Context> = {},
): Promise<DdxError> {
  try {
    await call(db, fn, over);
  } catch (err) {
    if (err instanceof DdxError) return err;
    throw err;
  }
  throw new Error('expected the command to be refused');
}

const scope = (db: string, opts: SetScopeOptions): Promise<Json> =>
  call(db, (ctx) => setScopeCommand(ctx, opts));
const show = (db: string, id: string): Promise<Json> => call(db, (c) => showAppCommand(c, id));
const head = (db: string): Promise<{ seq: number; hash: string }> =>
  call(db, (c) => auditHeadCommand(c));
const events = (db: string, app?: string): Promise<Json[]> =>
  call(db, (c) => auditLogCommand(c, app === undefined ? {} : { app }));

/** The tree and the three apps, made through the commands themselves on one open store. */
async function seed(db: string): Promise<void> {
  const store = await openStore(db);
  const over: Partial<Context> = { openStore: async () => store };
  try {
    for (const [id, kind, parent] of TREE) {
      const ws = { name: `${id} workspace`, kind, parent, id };
      await call(db, (c) => createWorkspaceCommand(c, ws), over);
    }
    for (const [id, workspace, env] of [
      ['billing', 'acme', 'production'],
      ['eu-tool', 'acme-eu', 'production'],
      ['ledger', 'acme', 'development'],
    ] as const) {
      await call(db, (c) => createAppCommand(c, { name: `${id} app`, workspace, env, id }), over);
    }
  } finally {
    await store.close();
  }
}

describeBackends('staff commands', (backend) => {
  const made: FreshDb[] = [];
  /** A new database of this backend, seeded. */
  async function fresh(): Promise<string> {
    const db = await backend.fresh();
    made.push(db);
    await seed(db.location);
    return db.location;
  }
  afterAll(async () => {
    for (const db of made.splice(0)) await db.cleanup();
  });

  describe('workspace commands', () => {
    it('create returns the workspace document, with an id made from the name', async () => {
      const db = await fresh();
      const ws = await call(db, (c) =>
        createWorkspaceCommand(c, { name: '  Acme Asia & Pacific ', kind: 'org', parent: 'acme' }),
      );
      expect(Object.keys(ws)).toEqual(['id', 'name', 'kind', 'parentId', 'createdAt']);
      expect(ws).toMatchObject({
        id: 'acme-asia-pacific',
        name: 'Acme Asia & Pacific',
        kind: 'organizational',
        parentId: 'acme',
      });
      expect(Number.isNaN(Date.parse(ws.createdAt))).toBe(false);
      // The same name again gets the next free id.
      const again = await call(db, (c) =>
        createWorkspaceCommand(c, { name: 'Acme Asia & Pacific', kind: 'personal' }),
      );
      expect(again).toMatchObject({ id: 'acme-asia-pacific-2', parentId: null, kind: 'personal' });
    });

    it('list is every workspace sorted by id; show is one', async () => {
      const db = await fresh();
      const all = await call(db, (c) => listWorkspacesCommand(c, {}));
      expect(all.map((w: Json) => w.id)).toEqual(EVERYONE);
      expect(await call(db, (c) => showWorkspaceCommand(c, 'acme-eu-paris'))).toEqual(
        all.find((w: Json) => w.id === 'acme-eu-paris'),
      );
    });

    it('refusals carry their code, rule and exit code', async () => {
      const db = await fresh();
      const dup = await refusal(db, (c) =>
        createWorkspaceCommand(c, { name: 'x', kind: 'organizational', id: 'acme' }),
      );
      expect([dup.code, dup.rule, dup.exitCode]).toEqual(['ALREADY_EXISTS', 'R12', 3]);
      const orphan = await refusal(db, (c) =>
        createWorkspaceCommand(c, { name: 'x', kind: 'organizational', parent: 'nowhere' }),
      );
      expect([orphan.code, orphan.exitCode]).toEqual(['UNKNOWN_WORKSPACE', 4]);
      const missing = await refusal(db, (c) => showWorkspaceCommand(c, 'nowhere'));
      expect([missing.code, missing.exitCode]).toEqual(['UNKNOWN_WORKSPACE', 4]);
      const bad = await refusal(db, (c) => showWorkspaceCommand(c, 'Not An Id'));
      expect([bad.code, bad.exitCode]).toEqual(['INVALID_INPUT', 2]);
    });
  });

  describe('app commands', () => {
    it('create starts every app on CurrentWorkspaceOnly; show adds its installs', async () => {
      const db = await fresh();
      const app = await call(db, (c) =>
        createAppCommand(c, { name: 'Billing Sync', workspace: 'acme-us', env: 'prod' }),
      );
      expect(Object.keys(app)).toEqual([
        'id',
        'name',
        'workspaceId',
        'environment',
        'scope',
        'workspaces',
        'createdAt',
        'updatedAt',
      ]);
      expect(app).toMatchObject({
        id: 'billing-sync',
        workspaceId: 'acme-us',
        environment: 'production',
        scope: 'CurrentWorkspaceOnly',
        workspaces: [],
      });
      expect(app.updatedAt).toBe(app.createdAt);
      expect(await show(db, 'billing-sync')).toEqual({ ...app, installs: [] });
    });

    it('a production app needs an organizational workspace', async () => {
      const db = await fresh();
      const e = await refusal(db, (c) =>
        createAppCommand(c, { name: 'P', workspace: 'pat', env: 'production' }),
      );
      expect([e.code, e.rule, e.exitCode]).toEqual([
        'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE',
        'R1',
        3,
      ]);
      const dev = await call(db, (c) =>
        createAppCommand(c, { name: 'P', workspace: 'pat', env: 'development' }),
      );
      expect(dev).toMatchObject({ id: 'p', environment: 'development' });
    });

    it('update renames; the environment never changes', async () => {
      const db = await fresh();
      const renamed = await call(db, (c) => updateAppCommand(c, 'billing', { name: 'Billing 2' }));
      expect(renamed).toMatchObject({
        id: 'billing',
        name: 'Billing 2',
        environment: 'production',
      });
      expect(renamed.updatedAt >= renamed.createdAt).toBe(true);
      const e = await refusal(db, (c) => updateAppCommand(c, 'billing', { env: 'development' }));
      expect([e.code, e.rule, e.exitCode]).toEqual(['ENVIRONMENT_IMMUTABLE', 'R3', 3]);
      expect((await show(db, 'billing')).environment).toBe('production');
    });
  });

  describe('set-scope: who gains and who loses', () => {
    // One app walked through every scope; each step is checked against the tree by hand.
    it('an app owned by the root', async () => {
      const db = await fresh();
      const steps: [SetScopeOptions, string[], string[]][] = [
        [{ scope: 'children' }, ['acme-eu', 'acme-eu-paris', 'acme-us'], []],
        [{ scope: 'all' }, ['globex', 'globex-labs', 'pat'], []],
        [
          { scope: 'custom', workspaces: 'acme-us,globex-labs' },
          [],
          ['acme-eu', 'acme-eu-paris', 'globex', 'pat'],
        ],
        [
          { workspaces: 'acme-eu-paris globex' },
          ['acme-eu-paris', 'globex'],
          ['acme-us', 'globex-labs'],
        ],
        [{ scope: 'AllChildWorkspaces' }, ['acme-eu', 'acme-us'], ['globex']],
        [{ scope: 'current' }, [], ['acme-eu', 'acme-eu-paris', 'acme-us']],
      ];
      for (const [opts, gained, lost] of steps) {
        const r = await scope(db, { app: 'billing', ...opts });
        expect({ opts, gained: r.gained, lost: r.lost }).toEqual({ opts, gained, lost });
        expect(r).toMatchObject({ changed: true, dryRun: false, revokedInstalls: [] });
        expect(r.after).toEqual({ ...(await show(db, 'billing')), installs: undefined });
      }
    });

    it('an app owned by a middle workspace reaches only below it', async () => {
      const db = await fresh();
      const children = await scope(db, { app: 'eu-tool', scope: 'children' });
      // Not its parent acme, not its sibling acme-us, nothing unrelated.
      expect([children.gained, children.lost]).toEqual([['acme-eu-paris'], []]);
      const all = await scope(db, { app: 'eu-tool', scope: 'all' });
      expect([all.gained, all.lost]).toEqual([others('acme-eu', 'acme-eu-paris'), []]);
      const audience = await call(db, (c) => audienceCommand(c, 'eu-tool'));
      expect(audience.workspaces.map((w: Json) => w.id)).toEqual(['acme-eu', ...others('acme-eu')]);
    });

    it('the result document and the audit event of a change', async () => {
      const db = await fresh();
      const before = await show(db, 'billing');
      const r = await scope(db, {
        app: 'billing',
        scope: 'custom',
        workspaces: 'globex,acme-us',
        ticket: 'SUP-1',
        reason: 'contract signed',
      });
      expect(Object.keys(r)).toEqual([
        'changed',
        'dryRun',
        'before',
        'after',
        'gained',
        'lost',
        'revokedInstalls',
      ]);
      const { installs: _, ...beforeApp } = before;
      expect(r.before).toEqual(beforeApp);
      expect(r.after).toMatchObject({
        scope: 'CustomWorkspaceAccess',
        workspaces: ['acme-us', 'globex'],
      });
      const last = (await events(db, 'billing')).at(-1);
      expect(last).toMatchObject({
        actor: ACTOR,
        action: 'app.set-scope',
        outcome: 'applied',
        code: null,
        ticket: 'SUP-1',
        reason: 'contract signed',
        before: { scope: 'CurrentWorkspaceOnly', workspaces: [] },
        after: { scope: 'CustomWorkspaceAccess', workspaces: ['acme-us', 'globex'] },
      });
    });

    it('--add and --remove edit the custom list the app already has', async () => {
      const db = await fresh();
      await scope(db, { app: 'billing', scope: 'custom', workspaces: 'globex' });
      const added = await scope(db, { app: 'billing', add: 'acme-us' });
      expect(added.after.workspaces).toEqual(['acme-us', 'globex']);
      expect([added.gained, added.lost]).toEqual([['acme-us'], []]);
      const removed = await scope(db, { app: 'billing', remove: 'globex' });
      expect(removed.after.workspaces).toEqual(['acme-us']);
      expect([removed.gained, removed.lost]).toEqual([[], ['globex']]);
    });

    it('--add on an app that is not custom yet starts a new list', async () => {
      const db = await fresh();
      const r = await scope(db, { app: 'billing', add: 'pat' });
      expect(r.after).toMatchObject({ scope: 'CustomWorkspaceAccess', workspaces: ['pat'] });
      expect(r.gained).toEqual(['pat']);
    });

    it('asking for the scope it already has changes nothing and records nothing', async () => {
      const db = await fresh();
      const h = await head(db);
      const r = await scope(db, { app: 'billing', scope: 'CurrentWorkspaceOnly' });
      expect(r).toMatchObject({ changed: false, gained: [], lost: [], revokedInstalls: [] });
      expect(r.after).toEqual(r.before);
      expect(await head(db)).toEqual(h);
    });

    it('a dry run reports the change and writes nothing', async () => {
      const db = await fresh();
      const h = await head(db);
      const r = await scope(db, { app: 'billing', scope: 'all', dryRun: true });
      expect(r).toMatchObject({ changed: true, dryRun: true, gained: others('acme') });
      expect((await show(db, 'billing')).scope).toBe('CurrentWorkspaceOnly');
      expect(await head(db)).toEqual(h);
      // A refused dry run records no denied event either.
      const e = await refusal(db, (c) =>
        setScopeCommand(c, { app: 'ledger', scope: 'all', dryRun: true }),
      );
      expect(e.code).toBe('DEVELOPMENT_APP_NOT_SHAREABLE');
      expect(await head(db)).toEqual(h);
    });

    it('a scope that strands installs is refused unless they are revoked with it', async () => {
      const db = await fresh();
      await scope(db, { app: 'billing', scope: 'all' });
      for (const ws of ['globex-labs', 'acme-us', 'pat']) {
        const r = await call(db, (c) => installCommand(c, 'billing', { workspace: ws }));
        expect(r).toEqual({ app: 'billing', workspace: ws, installed: true });
      }
      const h = await head(db);
      const e = await refusal(db, (c) => setScopeCommand(c, { app: 'billing', scope: 'children' }));
      expect([e.code, e.rule, e.exitCode]).toEqual(['SCOPE_CHANGE_STRANDS_INSTALLS', 'R7', 3]);
      expect(e.details).toEqual({ workspaces: ['globex-labs', 'pat'] });
      expect((await head(db)).seq).toBe(h.seq + 1);
      expect((await show(db, 'billing')).installs).toEqual(['acme-us', 'globex-labs', 'pat']);

      const r = await scope(db, { app: 'billing', scope: 'children', revokeInstalls: true });
      expect(r).toMatchObject({
        changed: true,
        gained: [],
        lost: ['globex', 'globex-labs', 'pat'],
        revokedInstalls: ['globex-labs', 'pat'],
      });
      expect((await show(db, 'billing')).installs).toEqual(['acme-us']);
      const tail = (await events(db, 'billing')).slice(-3);
      expect(tail.map((e: Json) => [e.action, e.outcome, e.before])).toEqual([
        ['app.set-scope', 'applied', { scope: 'AllWorkspaces', workspaces: [] }],
        ['app.uninstall', 'applied', { workspace: 'globex-labs' }],
        ['app.uninstall', 'applied', { workspace: 'pat' }],
      ]);
    });

    it('each refusal of the access-list rules', async () => {
      const db = await fresh();
      const cases: [SetScopeOptions, string, number][] = [
        [{ scope: 'all' }, 'DEVELOPMENT_APP_NOT_SHAREABLE', 3],
        [{ scope: 'custom', workspaces: '' }, 'CUSTOM_ACCESS_REQUIRES_WORKSPACES', 3],
        [{ scope: 'custom', workspaces: 'pat,pat' }, 'DUPLICATE_WORKSPACE', 3],
        [{ add: 'pat', remove: 'pat' }, 'DUPLICATE_WORKSPACE', 3],
        [{ scope: 'custom', workspaces: 'acme,pat' }, 'OWNER_IN_ACCESS_LIST', 3],
        [{ scope: 'all', workspaces: 'pat' }, 'WORKSPACES_REQUIRE_CUSTOM_SCOPE', 3],
        [{ scope: 'custom', workspaces: 'pat,nowhere' }, 'UNKNOWN_WORKSPACE', 4],
      ];
      for (const [opts, code, exit] of cases) {
        const app = code === 'DEVELOPMENT_APP_NOT_SHAREABLE' ? 'ledger' : 'billing';
        const h = await head(db);
        const e = await refusal(db, (c) => setScopeCommand(c, { app, ...opts }));
        expect({ opts, code: e.code, exit: e.exitCode }).toEqual({ opts, code, exit });
        const last = (await events(db, app)).at(-1);
        expect(last).toMatchObject({ seq: h.seq + 1, outcome: 'denied', code });
      }
      expect(await show(db, 'billing')).toMatchObject({ scope: 'CurrentWorkspaceOnly' });
      const unknown = await refusal(db, (c) => setScopeCommand(c, { app: 'nope', scope: 'all' }));
      expect([unknown.code, unknown.exitCode]).toEqual(['UNKNOWN_APP', 4]);
    });

    it('usage errors come before anything is read or written', async () => {
      const db = await fresh();
      const h = await head(db);
      const noScope = await refusal(db, (c) => setScopeCommand(c, { app: 'billing' }));
      expect([noScope.code, noScope.exitCode]).toEqual(['USAGE', 2]);
      const noList = await refusal(db, (c) =>
        setScopeCommand(c, { app: 'billing', scope: 'custom' }),
      );
      expect(noList.hint).toContain('--workspaces');
      const badScope = await refusal(db, (c) =>
        setScopeCommand(c, { app: 'billing', scope: 'al' }),
      );
      expect(badScope.code).toBe('USAGE');
      expect(badScope.hint).toBe('Did you mean AllWorkspaces (all)?');
      expect(await head(db)).toEqual(h);
    });

    it('no actor, no change: refused before the database is even opened', async () => {
      const db = await fresh();
      let opened = 0;
      const over: Partial<Context> = {
        actor: undefined,
        openStore: async () => {
          opened++;
          throw new Error('must not open');
        },
      };
      for (const fn of [
        (c: Context) => setScopeCommand(c, { app: 'billing', scope: 'all' }),
        (c: Context) => installCommand(c, 'billing', { workspace: 'acme-eu' }),
        (c: Context) => createWorkspaceCommand(c, { name: 'X', kind: 'organizational' }),
        (c: Context) => createAppCommand(c, { name: 'X', workspace: 'acme', env: 'development' }),
        (c: Context) => updateAppCommand(c, 'billing', { name: 'X' }),
      ]) {
        const e = await refusal(db, fn, over);
        expect([e.code, e.rule, e.exitCode]).toEqual(['ACTOR_REQUIRED', 'R11', 2]);
      }
      const e = await refusal(db, (c) => installCommand(c, 'billing', { workspace: 'acme-eu' }), {
        actor: 'not an email',
      });
      expect(e.code).toBe('ACTOR_REQUIRED');
      expect(opened).toBe(0);
    });
  });

  describe('install, list, explain, audience', () => {
    let db: string;
    // billing: AllChildWorkspaces, installed by the grandchild; eu-tool: custom [globex].
    const world = async (at: string): Promise<void> => {
      await scope(at, { app: 'billing', scope: 'children' });
      await scope(at, { app: 'eu-tool', scope: 'custom', workspaces: 'globex' });
      await call(at, (c) => installCommand(c, 'billing', { workspace: 'acme-eu-paris' }));
    };
    beforeAll(async () => {
      db = await fresh();
      await world(db);
    });

    it('install refusals', async () => {
      // A database of its own in the same state, since this test writes.
      const copy = await fresh();
      await world(copy);
      const cases: [string, string, string, boolean][] = [
        ['billing', 'acme', 'NOT_INSTALLABLE', false],
        ['billing', 'globex', 'NOT_INSTALLABLE', false],
        ['ledger', 'acme-eu', 'NOT_INSTALLABLE', false],
        ['billing', 'acme-eu-paris', 'ALREADY_INSTALLED', false],
        ['billing', 'acme-us', 'NOT_INSTALLED', true],
        ['nope', 'acme-us', 'UNKNOWN_APP', false],
        ['billing', 'nowhere', 'UNKNOWN_WORKSPACE', false],
      ];
      for (const [app, workspace, code, un] of cases) {
        const e = await refusal(copy, (c) => installCommand(c, app, { workspace }, un));
        expect([app, workspace, e.code]).toEqual([app, workspace, code]);
      }
      const off = await call(copy, (c) =>
        installCommand(c, 'billing', { workspace: 'acme-eu-paris' }, true),
      );
      expect(off).toEqual({ app: 'billing', workspace: 'acme-eu-paris', installed: false });
    });

    it('list with --visible-to adds what that workspace may do', async () => {
      const paris = await call(db, (c) => listCommand(c, { visibleTo: 'acme-eu-paris' }));
      expect(paris).toHaveLength(1);
      expect(paris[0]).toMatchObject({
        id: 'billing',
        visible: true,
        installable: false,
        adminApi: true,
        installed: true,
      });
      const acme = await call(db, (c) => listCommand(c, { visibleTo: 'acme' }));
      expect(acme.map((a: Json) => [a.id, a.installable, a.adminApi])).toEqual([
        ['billing', false, true],
        ['ledger', false, false],
      ]);
      const globex = await call(db, (c) => listCommand(c, { visibleTo: 'globex' }));
      expect(globex.map((a: Json) => a.id)).toEqual(['eu-tool']);
      expect(await call(db, (c) => listCommand(c, { visibleTo: 'pat' }))).toEqual([]);
    });

    it('list filters', async () => {
      const ids = async (o: Parameters<typeof listCommand>[1]): Promise<string[]> =>
        (await call(db, (c) => listCommand(c, o))).map((a: Json) => a.id);
      expect(await ids({})).toEqual(['billing', 'eu-tool', 'ledger']);
      expect(await ids({ env: 'dev' })).toEqual(['ledger']);
      expect(await ids({ scope: 'children' })).toEqual(['billing']);
      expect(await ids({ workspace: 'acme-eu' })).toEqual(['eu-tool']);
      expect(await ids({ shared: true })).toEqual(['billing', 'eu-tool']);
      expect(await ids({ shared: true, env: 'development' })).toEqual([]);
    });

    it('explain answers the three questions with one reason each', async () => {
      const x = await call(db, (c) => explainCommand(c, 'billing', { workspace: 'acme-us' }));
      expect(x).toEqual({
        app: 'billing',
        workspace: 'acme-us',
        visible: true,
        installable: true,
        adminApi: true,
        reasons: [
          expect.objectContaining({ rule: 'R8', code: 'SCOPE_CHILD_WORKSPACE' }),
          expect.objectContaining({ rule: 'R9', code: 'INSTALLABLE' }),
          expect.objectContaining({ rule: 'R10', code: 'ADMIN_API_RETURNED' }),
        ],
      });
      const outside = await call(db, (c) => explainCommand(c, 'billing', { workspace: 'globex' }));
      expect(outside).toMatchObject({ visible: false, installable: false, adminApi: false });
      expect(outside.reasons.map((r: Json) => r.code)).toEqual([
        'NOT_UNDER_OWNER',
        'NOT_INSTALLABLE',
        'ADMIN_API_NOT_SHARED_HERE',
      ]);
    });

    it('audience lists the owner first, then every workspace that sees the app', async () => {
      const children = await call(db, (c) => audienceCommand(c, 'billing'));
      expect(children).toEqual({
        app: 'billing',
        complete: true,
        futureDescendants: true,
        workspaces: [
          { id: 'acme', visible: true, installable: false, adminApi: true, installed: false },
          { id: 'acme-eu', visible: true, installable: true, adminApi: true, installed: false },
          {
            id: 'acme-eu-paris',
            visible: true,
            installable: false,
            adminApi: true,
            installed: true,
          },
          { id: 'acme-us', visible: true, installable: true, adminApi: true, installed: false },
        ],
      });
      const custom = await call(db, (c) => audienceCommand(c, 'eu-tool'));
      expect(custom.futureDescendants).toBe(false);
      expect(custom.workspaces.map((w: Json) => w.id)).toEqual(['acme-eu', 'globex']);
      const dev = await call(db, (c) => audienceCommand(c, 'ledger'));
      expect(dev.workspaces).toEqual([
        { id: 'acme', visible: true, installable: false, adminApi: false, installed: false },
      ]);
    });
  });
});
