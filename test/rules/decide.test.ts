// Focused unit tests for every code and edge of src/rules/decide.ts and the explanations of
// src/rules/visibility.ts.
import { describe, expect, it } from 'vitest';
import { deny, RULE_CODES } from '../../src/rules/codes.js';
import {
  decideActor,
  decideCreateApp,
  decideCreateWorkspace,
  decideInstall,
  decideSetScope,
  decideUninstall,
  decideUpdateApp,
  type ScopeRequest,
} from '../../src/rules/decide.js';
import type { App, Scope } from '../../src/rules/types.js';
import {
  accessOf,
  explainAccess,
  isCrossWorkspace,
  type Reason,
} from '../../src/rules/visibility.js';
import { acme, factsAll, factsAsService, makeApp, sharing, withSharing } from './fixtures.js';

const prod = (over: Partial<App> = {}): App => makeApp({ environment: 'production', ...over });
const dev = (over: Partial<App> = {}): App => makeApp({ environment: 'development', ...over });
const custom = (...workspaces: string[]): App =>
  prod({ scope: 'CustomWorkspaceAccess', workspaces: [...workspaces].sort() });

function setScope(app: App, req: ScopeRequest, installs: string[] = []) {
  return decideSetScope(req, factsAll(acme, app, installs));
}

describe('decideSetScope: add and remove', () => {
  it('add without a scope implies CustomWorkspaceAccess', () => {
    expect(setScope(prod(), { add: ['acme-eu'] })).toEqual({
      ok: true,
      changed: true,
      after: { ...sharing(prod()), scope: 'CustomWorkspaceAccess', workspaces: ['acme-eu'] },
      revokedInstalls: [],
    });
  });

  it('workspaces without a scope implies CustomWorkspaceAccess', () => {
    expect(setScope(prod({ scope: 'AllWorkspaces' }), { workspaces: ['pat'] })).toMatchObject({
      ok: true,
      after: { scope: 'CustomWorkspaceAccess', workspaces: ['pat'] },
    });
  });

  it('add keeps the current members and sorts the result', () => {
    expect(setScope(custom('listed-ws'), { add: ['pat', 'acme-eu'] })).toMatchObject({
      ok: true,
      changed: true,
      after: { workspaces: ['acme-eu', 'listed-ws', 'pat'] },
    });
  });

  it('add to a non-custom scope starts from an empty list', () => {
    const d = setScope(prod({ scope: 'AllWorkspaces' }), { add: ['pat'] });
    expect(d).toMatchObject({ ok: true, after: { scope: CUSTOM, workspaces: ['pat'] } });
  });

  it('add of a workspace already listed changes nothing', () => {
    const app = custom('listed-ws');
    expect(setScope(app, { add: ['listed-ws'] })).toEqual({
      ok: true,
      changed: false,
      after: sharing(app),
      revokedInstalls: [],
    });
  });

  it('workspaces replaces the list, sorted', () => {
    expect(
      setScope(custom('listed-ws'), { workspaces: ['pat', 'globex', 'acme-eu'] }),
    ).toMatchObject({ ok: true, after: { workspaces: ['acme-eu', 'globex', 'pat'] } });
  });

  it('workspaces, add and remove combine: (workspaces + add) - remove', () => {
    const req = { workspaces: ['pat', 'globex'], add: ['acme-us'], remove: ['globex'] };
    expect(setScope(custom('listed-ws'), req)).toMatchObject({
      ok: true,
      after: { workspaces: ['acme-us', 'pat'] },
    });
  });

  it('remove takes one workspace off the list', () => {
    expect(setScope(custom('acme-eu', 'globex'), { remove: ['globex'] })).toMatchObject({
      ok: true,
      changed: true,
      after: { scope: CUSTOM, workspaces: ['acme-eu'] },
    });
  });

  it('remove of the last listed workspace -> CUSTOM_ACCESS_REQUIRES_WORKSPACES', () => {
    expect(setScope(custom('globex'), { remove: ['globex'] })).toMatchObject({
      ok: false,
      rule: 'R5',
      code: 'CUSTOM_ACCESS_REQUIRES_WORKSPACES',
    });
  });

  it('remove of a nonexistent workspace -> UNKNOWN_WORKSPACE', () => {
    expect(setScope(custom('globex', 'pat'), { remove: ['ghost'] })).toMatchObject({
      ok: false,
      rule: 'R12',
      code: 'UNKNOWN_WORKSPACE',
      details: { workspaces: ['ghost'] },
    });
  });

  it('remove of an existing but unlisted workspace changes nothing', () => {
    expect(setScope(custom('globex', 'pat'), { remove: ['acme-eu'] })).toMatchObject({
      ok: true,
      changed: false,
    });
  });

  it('remove on a non-custom scope empties to nothing -> CUSTOM_ACCESS_REQUIRES_WORKSPACES', () => {
    expect(setScope(prod({ scope: 'AllWorkspaces' }), { remove: ['pat'] })).toMatchObject({
      ok: false,
      code: 'CUSTOM_ACCESS_REQUIRES_WORKSPACES',
    });
  });

  it('the same id in add and remove -> DUPLICATE_WORKSPACE', () => {
    expect(setScope(custom('globex'), { add: ['pat'], remove: ['pat'] })).toMatchObject({
      ok: false,
      rule: 'R5',
      code: 'DUPLICATE_WORKSPACE',
      details: { workspaces: ['pat'] },
    });
  });

  it('a duplicate in --workspaces -> DUPLICATE_WORKSPACE', () => {
    const req = { workspaces: ['pat', 'globex', 'pat'] };
    expect(setScope(prod(), req)).toMatchObject({
      ok: false,
      rule: 'R5',
      code: 'DUPLICATE_WORKSPACE',
      details: { workspaces: ['pat'] },
    });
  });

  it('a duplicate across --workspaces and --add -> DUPLICATE_WORKSPACE', () => {
    expect(setScope(prod(), { workspaces: ['pat'], add: ['pat'] })).toMatchObject({
      ok: false,
      code: 'DUPLICATE_WORKSPACE',
    });
  });

  it('a duplicate in --add or --remove -> DUPLICATE_WORKSPACE', () => {
    const app = custom('globex', 'pat');
    expect(setScope(app, { add: ['acme-eu', 'acme-eu'] })).toMatchObject({
      code: 'DUPLICATE_WORKSPACE',
    });
    expect(setScope(app, { remove: ['pat', 'pat'] })).toMatchObject({
      code: 'DUPLICATE_WORKSPACE',
    });
  });

  it('DUPLICATE_WORKSPACE is reported before UNKNOWN_WORKSPACE', () => {
    expect(setScope(prod(), { workspaces: ['ghost', 'ghost'] })).toMatchObject({
      code: 'DUPLICATE_WORKSPACE',
    });
  });
});

const CUSTOM: Scope = 'CustomWorkspaceAccess';

describe('decideSetScope: R5 list rules', () => {
  it('an empty list -> CUSTOM_ACCESS_REQUIRES_WORKSPACES', () => {
    for (const req of [{ workspaces: [] }, { scope: CUSTOM, workspaces: [] }]) {
      expect(setScope(prod(), req)).toMatchObject({
        ok: false,
        rule: 'R5',
        code: 'CUSTOM_ACCESS_REQUIRES_WORKSPACES',
      });
    }
  });

  it(
    'CustomWorkspaceAccess without a list from another scope -> ' +
      'CUSTOM_ACCESS_REQUIRES_WORKSPACES',
    () => {
      for (const scope of [
        'CurrentWorkspaceOnly',
        'AllChildWorkspaces',
        'AllWorkspaces',
      ] as const) {
        expect(setScope(prod({ scope }), { scope: CUSTOM })).toMatchObject({
          ok: false,
          code: 'CUSTOM_ACCESS_REQUIRES_WORKSPACES',
        });
      }
    },
  );

  it('unknown workspaces -> UNKNOWN_WORKSPACE naming each of them once', () => {
    const d = setScope(prod(), { workspaces: ['pat', 'nope', 'ghost'], remove: ['ghost2'] });
    expect(d).toMatchObject({ ok: false, rule: 'R12', code: 'UNKNOWN_WORKSPACE' });
    expect(d.ok === false && [...(d.details!.workspaces as string[])].sort()).toEqual([
      'ghost',
      'ghost2',
      'nope',
    ]);
  });

  it('the owner in the list -> OWNER_IN_ACCESS_LIST', () => {
    for (const req of [{ workspaces: ['acme', 'pat'] }, { add: ['acme'] }]) {
      expect(setScope(custom('pat'), req)).toMatchObject({
        ok: false,
        rule: 'R5',
        code: 'OWNER_IN_ACCESS_LIST',
        details: { workspaces: ['acme'] },
      });
    }
  });

  it('a list with any other scope -> WORKSPACES_REQUIRE_CUSTOM_SCOPE', () => {
    for (const scope of ['CurrentWorkspaceOnly', 'AllChildWorkspaces', 'AllWorkspaces'] as const) {
      const reqs: ScopeRequest[] = [
        { scope, workspaces: ['pat'] },
        { scope, workspaces: [] },
        { scope, add: ['pat'] },
        { scope, remove: ['pat'] },
      ];
      for (const req of reqs) {
        expect(setScope(custom('pat'), req), JSON.stringify(req)).toMatchObject({
          ok: false,
          rule: 'R5',
          code: 'WORKSPACES_REQUIRE_CUSTOM_SCOPE',
        });
      }
    }
  });

  it('leaving CustomWorkspaceAccess clears the list', () => {
    for (const scope of ['CurrentWorkspaceOnly', 'AllChildWorkspaces', 'AllWorkspaces'] as const) {
      expect(setScope(custom('pat'), { scope })).toMatchObject({
        ok: true,
        changed: true,
        after: { scope, workspaces: [] },
      });
    }
  });

  it('a listed workspace may be any existing one: a child, a personal one, another org', () => {
    const d = setScope(prod(), { workspaces: ['acme-eu-paris', 'pat', 'globex'] });
    expect(d).toMatchObject({
      ok: true,
      after: { workspaces: ['acme-eu-paris', 'globex', 'pat'] },
    });
  });
});

describe('decideSetScope: R6 setting what the app already has', () => {
  const states: App[] = [
    prod(),
    prod({ scope: 'AllChildWorkspaces' }),
    prod({ scope: 'AllWorkspaces' }),
    custom('globex', 'pat'),
    dev(),
  ];

  it.each(states.map((app) => [`${app.environment} ${app.scope}`, app] as const))(
    '%s -> same scope: changed=false',
    (_, app) => {
      const req: ScopeRequest =
        app.scope === CUSTOM ? { scope: CUSTOM, workspaces: app.workspaces } : { scope: app.scope };
      expect(setScope(app, req)).toEqual({
        ok: true,
        changed: false,
        after: sharing(app),
        revokedInstalls: [],
      });
    },
  );

  it('the same list in another order is unchanged', () => {
    expect(setScope(custom('globex', 'pat'), { workspaces: ['pat', 'globex'] })).toMatchObject({
      ok: true,
      changed: false,
    });
  });

  it('an empty request is unchanged', () => {
    expect(setScope(custom('pat'), {})).toMatchObject({ ok: true, changed: false });
    expect(setScope(dev(), {})).toMatchObject({ ok: true, changed: false });
  });

  it('CustomWorkspaceAccess without a list keeps the current list', () => {
    expect(setScope(custom('globex', 'pat'), { scope: CUSTOM })).toMatchObject({
      ok: true,
      changed: false,
      after: { workspaces: ['globex', 'pat'] },
    });
  });

  it('a no-op is allowed even with revokeInstalls and never revokes', () => {
    const d = setScope(prod({ scope: 'AllWorkspaces' }), { scope: 'AllWorkspaces' }, ['pat']);
    expect(d).toMatchObject({ ok: true, changed: false, revokedInstalls: [] });
  });
});

describe('decideSetScope: R7 installs', () => {
  const everywhere = prod({ scope: 'AllWorkspaces' });
  const installs = ['pat', 'acme-eu', 'globex', 'acme-eu-paris'];

  it('a change that strands installs is refused, naming them sorted', () => {
    const d = setScope(everywhere, { scope: 'AllChildWorkspaces' }, installs);
    expect(d).toMatchObject({
      ok: false,
      rule: 'R7',
      code: 'SCOPE_CHANGE_STRANDS_INSTALLS',
      details: { workspaces: ['globex', 'pat'] },
    });
  });

  it('with revokeInstalls the change goes through and lists the revoked installs, sorted', () => {
    const d = setScope(everywhere, { scope: 'AllChildWorkspaces', revokeInstalls: true }, installs);
    expect(d).toMatchObject({
      ok: true,
      changed: true,
      after: { scope: 'AllChildWorkspaces' },
      revokedInstalls: ['globex', 'pat'],
    });
  });

  it('removing a listed workspace that installed the app strands it', () => {
    const app = custom('globex', 'pat');
    expect(setScope(app, { remove: ['globex'] }, ['globex'])).toMatchObject({
      ok: false,
      code: 'SCOPE_CHANGE_STRANDS_INSTALLS',
      details: { workspaces: ['globex'] },
    });
    expect(setScope(app, { remove: ['globex'], revokeInstalls: true }, ['globex'])).toMatchObject({
      ok: true,
      after: { workspaces: ['pat'] },
      revokedInstalls: ['globex'],
    });
  });

  it('back to CurrentWorkspaceOnly strands every install', () => {
    const d = setScope(everywhere, { scope: 'CurrentWorkspaceOnly' }, installs);
    expect(d).toMatchObject({ ok: false, details: { workspaces: [...installs].sort() } });
  });

  it('a change that keeps every install covered needs no revokeInstalls', () => {
    const d = setScope(everywhere, { workspaces: ['globex', 'pat'] }, ['globex', 'pat']);
    expect(d).toMatchObject({ ok: true, changed: true, revokedInstalls: [] });
    const widen = setScope(
      prod({ scope: 'AllChildWorkspaces' }),
      { scope: 'AllWorkspaces', revokeInstalls: true },
      ['acme-eu'],
    );
    expect(widen).toMatchObject({ ok: true, changed: true, revokedInstalls: [] });
  });

  it('revokeInstalls does not override the other rules', () => {
    const d = setScope(everywhere, { workspaces: [], revokeInstalls: true }, installs);
    expect(d).toMatchObject({ ok: false, code: 'CUSTOM_ACCESS_REQUIRES_WORKSPACES' });
  });
});

describe('decideSetScope: R3 and R4', () => {
  it("an environment other than the app's -> ENVIRONMENT_IMMUTABLE", () => {
    expect(setScope(prod(), { environment: 'development' })).toMatchObject({
      ok: false,
      rule: 'R3',
      code: 'ENVIRONMENT_IMMUTABLE',
    });
    expect(setScope(dev(), { environment: 'production', scope: 'AllWorkspaces' })).toMatchObject({
      ok: false,
      rule: 'R3',
      code: 'ENVIRONMENT_IMMUTABLE',
    });
  });

  it("the app's own environment is accepted", () => {
    expect(setScope(prod(), { environment: 'production', scope: 'AllWorkspaces' })).toMatchObject({
      ok: true,
      changed: true,
    });
    expect(setScope(dev(), { environment: 'development' })).toMatchObject({
      ok: true,
      changed: false,
    });
  });

  it('a development app never takes a cross-workspace scope', () => {
    const reqs: ScopeRequest[] = [
      { scope: 'AllChildWorkspaces' },
      { scope: 'AllWorkspaces' },
      { scope: CUSTOM, workspaces: ['pat'] },
      { workspaces: ['pat'] },
      { add: ['pat'] },
      { remove: ['pat'] },
      { scope: 'CurrentWorkspaceOnly', add: ['pat'] },
      { scope: 'AllWorkspaces', revokeInstalls: true },
    ];
    for (const req of reqs) {
      expect(setScope(dev(), req), JSON.stringify(req)).toMatchObject({
        ok: false,
        rule: 'R4',
        code: 'DEVELOPMENT_APP_NOT_SHAREABLE',
      });
    }
  });

  it('a development app in a personal workspace is refused the same way', () => {
    const app = dev({ workspaceId: 'pat' });
    expect(setScope(app, { scope: 'AllWorkspaces' })).toMatchObject({
      code: 'DEVELOPMENT_APP_NOT_SHAREABLE',
      details: { requested: 'AllWorkspaces' },
    });
  });

  it(
    'a development app: a non-add list on CurrentWorkspaceOnly -> ' +
      'WORKSPACES_REQUIRE_CUSTOM_SCOPE',
    () => {
      expect(setScope(dev(), { scope: 'CurrentWorkspaceOnly', remove: ['pat'] })).toMatchObject({
        ok: false,
        code: 'WORKSPACES_REQUIRE_CUSTOM_SCOPE',
      });
    },
  );
});

describe('decideSetScope with the facts exactly as the service builds them', () => {
  // src/service/changes.ts builds `named` from request.workspaces + add + remove only, as the
  // ScopeFacts doc says ("Every workspace the request names"); members the app already has are
  // known to exist and need not be named again.
  const app = custom('globex', 'pat');
  const run = (req: ScopeRequest) => decideSetScope(req, factsAsService(acme, app, req));

  it('a full replacement list works', () => {
    expect(run({ workspaces: ['acme-eu', 'pat'] })).toMatchObject({
      ok: true,
      after: { workspaces: ['acme-eu', 'pat'] },
    });
  });

  it('add to an existing custom list keeps its members', () => {
    expect(run({ add: ['acme-eu'] })).toMatchObject({
      ok: true,
      after: { workspaces: ['acme-eu', 'globex', 'pat'] },
    });
  });

  it('remove one of several listed workspaces', () => {
    expect(run({ remove: ['pat'] })).toMatchObject({ ok: true, after: { workspaces: ['globex'] } });
  });

  it('re-asserting CustomWorkspaceAccess is an R6 no-op', () => {
    expect(run({ scope: CUSTOM })).toMatchObject({ ok: true, changed: false });
  });
});

describe('decideUpdateApp', () => {
  it('renames, reporting whether the name changed', () => {
    expect(decideUpdateApp(prod(), { name: 'New' })).toEqual({
      ok: true,
      changed: true,
      name: 'New',
    });
    expect(decideUpdateApp(prod(), { name: 'App One' })).toEqual({
      ok: true,
      changed: false,
      name: 'App One',
    });
    expect(decideUpdateApp(prod(), {})).toEqual({ ok: true, changed: false, name: 'App One' });
  });

  it('R3: the environment never changes', () => {
    expect(decideUpdateApp(dev(), { environment: 'production' })).toMatchObject({
      ok: false,
      rule: 'R3',
      code: 'ENVIRONMENT_IMMUTABLE',
    });
    expect(decideUpdateApp(prod(), { name: 'X', environment: 'development' })).toMatchObject({
      ok: false,
      code: 'ENVIRONMENT_IMMUTABLE',
    });
    expect(decideUpdateApp(dev(), { environment: 'development', name: 'X' })).toMatchObject({
      ok: true,
      changed: true,
    });
  });
});

describe('decideActor (R11)', () => {
  it.each([
    ['alice@ddx.example', 'alice@ddx.example'],
    ['  Alice.Smith@DDX.Example  ', 'alice.smith@ddx.example'],
    ['a+tag@sub.ddx.example', 'a+tag@sub.ddx.example'],
    ['\tbob@x.io\n', 'bob@x.io'],
  ])('accepts %j as %j', (input, actor) => {
    expect(decideActor(input)).toEqual({ ok: true, actor });
  });

  it.each([undefined, '', '   ', '\n\t'])('missing actor %j -> ACTOR_REQUIRED', (input) => {
    const d = decideActor(input);
    expect(d).toMatchObject({ ok: false, rule: 'R11', code: 'ACTOR_REQUIRED' });
    expect(d.ok === false && d.message).toMatch(/must name/);
  });

  it.each([
    'alice',
    'alice@localhost',
    '@ddx.example',
    'alice@',
    'alice smith@ddx.example',
    'alice@ddx@example.com',
    '<alice@ddx.example>',
    'Alice <alice@ddx.example>',
    'alice@ddx.example, bob@ddx.example',
    'alice@ddx.',
  ])('not an email %j -> ACTOR_REQUIRED', (input) => {
    const d = decideActor(input);
    expect(d).toMatchObject({ ok: false, rule: 'R11', code: 'ACTOR_REQUIRED' });
    expect(d.ok === false && d.message).toMatch(/must be an email/);
  });

  it('at most 254 characters', () => {
    const at254 = `${'a'.repeat(242)}@example.com`;
    expect(at254).toHaveLength(254);
    expect(decideActor(at254)).toMatchObject({ ok: true });
    expect(decideActor(`a${at254}`)).toMatchObject({ ok: false, code: 'ACTOR_REQUIRED' });
  });
});

describe('decideCreateWorkspace', () => {
  it('a root has no ancestors', () => {
    expect(
      decideCreateWorkspace(
        { id: 'new', kind: 'organizational', parentId: null },
        { idTaken: false, parent: null },
      ),
    ).toEqual({ ok: true, ref: { id: 'new', kind: 'organizational', ancestors: [] } });
  });

  it("a child inherits its parent's ancestry, root first", () => {
    expect(
      decideCreateWorkspace(
        { id: 'lyon', kind: 'personal', parentId: 'acme-eu' },
        { idTaken: false, parent: acme.ref('acme-eu') },
      ),
    ).toEqual({ ok: true, ref: { id: 'lyon', kind: 'personal', ancestors: ['acme', 'acme-eu'] } });
  });

  it('a taken id -> ALREADY_EXISTS (before the parent check)', () => {
    for (const parent of [null, undefined, acme.ref('acme')]) {
      expect(
        decideCreateWorkspace(
          { id: 'acme', kind: 'organizational', parentId: 'x' },
          { idTaken: true, parent },
        ),
      ).toMatchObject({ ok: false, rule: 'R12', code: 'ALREADY_EXISTS' });
    }
  });

  it('an unknown parent -> UNKNOWN_WORKSPACE', () => {
    expect(
      decideCreateWorkspace(
        { id: 'new', kind: 'organizational', parentId: 'ghost' },
        { idTaken: false, parent: undefined },
      ),
    ).toMatchObject({
      ok: false,
      rule: 'R12',
      code: 'UNKNOWN_WORKSPACE',
      details: { workspaces: ['ghost'] },
    });
  });
});

describe('decideCreateApp', () => {
  const create = (environment: 'development' | 'production', ws: string, idTaken = false) =>
    decideCreateApp(
      { id: 'app-1', workspaceId: ws, environment },
      { idTaken, owner: acme.refs.get(ws) },
    );

  it('R2: every new app starts on CurrentWorkspaceOnly', () => {
    expect(create('development', 'pat')).toEqual({ ok: true, scope: 'CurrentWorkspaceOnly' });
    expect(create('development', 'acme')).toEqual({ ok: true, scope: 'CurrentWorkspaceOnly' });
    expect(create('production', 'acme-eu')).toEqual({ ok: true, scope: 'CurrentWorkspaceOnly' });
  });

  it(
    'R1: production in a personal workspace -> ' + 'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE',
    () => {
      expect(create('production', 'pat')).toMatchObject({
        ok: false,
        rule: 'R1',
        code: 'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE',
      });
    },
  );

  it('R12: a taken id -> ALREADY_EXISTS, first', () => {
    expect(create('production', 'pat', true)).toMatchObject({ ok: false, code: 'ALREADY_EXISTS' });
    expect(create('production', 'ghost', true)).toMatchObject({ code: 'ALREADY_EXISTS' });
  });

  it('R12: an unknown owner -> UNKNOWN_WORKSPACE', () => {
    expect(create('development', 'ghost')).toMatchObject({
      ok: false,
      rule: 'R12',
      code: 'UNKNOWN_WORKSPACE',
      details: { workspaces: ['ghost'] },
    });
  });
});

describe('decideInstall and decideUninstall (R9)', () => {
  const shared = prod({ scope: 'AllChildWorkspaces' });

  it('a covered workspace installs', () => {
    expect(decideInstall(shared, acme.ref('acme-eu-paris'), false)).toEqual({ ok: true });
  });

  it('the owner -> NOT_INSTALLABLE', () => {
    expect(decideInstall(shared, acme.ref('acme'), false)).toMatchObject({
      ok: false,
      rule: 'R9',
      code: 'NOT_INSTALLABLE',
    });
    expect(decideInstall(shared, acme.ref('acme'), true)).toMatchObject({
      code: 'NOT_INSTALLABLE',
    });
  });

  it('already installed -> ALREADY_INSTALLED, even when no longer covered', () => {
    expect(decideInstall(shared, acme.ref('acme-eu'), true)).toMatchObject({
      ok: false,
      rule: 'R9',
      code: 'ALREADY_INSTALLED',
    });
    expect(decideInstall(shared, acme.ref('globex'), true)).toMatchObject({
      code: 'ALREADY_INSTALLED',
    });
  });

  it('not covered -> NOT_INSTALLABLE', () => {
    for (const id of ['globex', 'pat', 'listed-ws']) {
      expect(decideInstall(shared, acme.ref(id), false), id).toMatchObject({
        ok: false,
        code: 'NOT_INSTALLABLE',
      });
    }
    const d = decideInstall(prod(), acme.ref('acme-eu'), false);
    expect(d.ok === false && d.message).toMatch(/CurrentWorkspaceOnly/);
  });

  it('a development app -> NOT_INSTALLABLE, saying why', () => {
    const d = decideInstall(dev(), acme.ref('acme-eu'), false);
    expect(d).toMatchObject({ ok: false, code: 'NOT_INSTALLABLE' });
    expect(d.ok === false && d.message).toMatch(/development app/);
  });

  it('uninstall needs an install -> NOT_INSTALLED', () => {
    expect(decideUninstall(shared, acme.ref('acme-eu'), false)).toMatchObject({
      ok: false,
      rule: 'R9',
      code: 'NOT_INSTALLED',
    });
    expect(decideUninstall(shared, acme.ref('acme-eu'), true)).toEqual({ ok: true });
    // A stranded install can always be removed.
    expect(decideUninstall(prod(), acme.ref('globex'), true)).toEqual({ ok: true });
  });
});

describe('explainAccess', () => {
  const codes = (app: App, id: string, installed = false) =>
    explainAccess(app, acme.ref(id), installed).map((r: Reason) => `${r.rule} ${r.code}`);

  it('the owner', () => {
    expect(codes(prod({ scope: 'AllWorkspaces' }), 'acme')).toEqual([
      'R8 OWNER',
      'R9 OWNER_CANNOT_INSTALL',
      'R10 ADMIN_API_RETURNED',
    ]);
    expect(codes(prod(), 'acme')).toEqual([
      'R8 OWNER',
      'R9 OWNER_CANNOT_INSTALL',
      'R10 NO_CROSS_WORKSPACE_SCOPE',
    ]);
    expect(codes(dev(), 'acme')).toEqual([
      'R8 OWNER',
      'R9 OWNER_CANNOT_INSTALL',
      'R10 ADMIN_API_DEVELOPMENT',
    ]);
  });

  it('a development app, seen from elsewhere', () => {
    expect(codes(dev(), 'acme-eu')).toEqual([
      'R4 DEVELOPMENT_APP_NOT_SHAREABLE',
      'R9 NOT_INSTALLABLE',
      'R10 ADMIN_API_DEVELOPMENT',
    ]);
  });

  it('a production app on CurrentWorkspaceOnly -> NO_CROSS_WORKSPACE_SCOPE twice', () => {
    expect(codes(prod(), 'acme-eu')).toEqual([
      'R8 NO_CROSS_WORKSPACE_SCOPE',
      'R9 NOT_INSTALLABLE',
      'R10 NO_CROSS_WORKSPACE_SCOPE',
    ]);
    expect(explainAccess(prod(), acme.ref('acme-eu'), false)[2]!.message).toMatch(
      /most likely cause/,
    );
  });

  it('AllWorkspaces', () => {
    expect(codes(prod({ scope: 'AllWorkspaces' }), 'pat')).toEqual([
      'R8 SCOPE_ALL_WORKSPACES',
      'R9 INSTALLABLE',
      'R10 ADMIN_API_RETURNED',
    ]);
  });

  it('AllChildWorkspaces: under the owner, and not', () => {
    const app = prod({ scope: 'AllChildWorkspaces' });
    expect(codes(app, 'acme-eu-paris')).toEqual([
      'R8 SCOPE_CHILD_WORKSPACE',
      'R9 INSTALLABLE',
      'R10 ADMIN_API_RETURNED',
    ]);
    expect(codes(app, 'globex')).toEqual([
      'R8 NOT_UNDER_OWNER',
      'R9 NOT_INSTALLABLE',
      'R10 ADMIN_API_NOT_SHARED_HERE',
    ]);
  });

  it('CustomWorkspaceAccess: listed, and not', () => {
    const app = custom('listed-ws');
    expect(codes(app, 'listed-ws')).toEqual([
      'R8 LISTED',
      'R9 INSTALLABLE',
      'R10 ADMIN_API_RETURNED',
    ]);
    expect(codes(app, 'acme-eu')).toEqual([
      'R8 NOT_LISTED',
      'R9 NOT_INSTALLABLE',
      'R10 ADMIN_API_NOT_SHARED_HERE',
    ]);
  });

  it('installed -> ALREADY_INSTALLED, also when the install is stranded', () => {
    expect(codes(custom('listed-ws'), 'listed-ws', true)[1]).toBe('R9 ALREADY_INSTALLED');
    expect(codes(prod(), 'globex', true)[1]).toBe('R9 ALREADY_INSTALLED');
  });

  it('agrees with accessOf for every state and workspace', () => {
    const SEEN = new Set([
      'R8 OWNER',
      'R8 SCOPE_ALL_WORKSPACES',
      'R8 SCOPE_CHILD_WORKSPACE',
      'R8 LISTED',
    ]);
    const apps = [
      dev(),
      prod(),
      prod({ scope: 'AllChildWorkspaces' }),
      prod({ scope: 'AllWorkspaces' }),
      custom('listed-ws', 'pat'),
    ];
    for (const app of apps) {
      for (const id of acme.ids) {
        for (const installed of [false, true]) {
          const a = accessOf(app, acme.ref(id), installed);
          const [seen, install, admin] = codes(app, id, installed);
          const label = `${app.environment} ${app.scope} ${id} ${installed}`;
          expect(SEEN.has(seen!), label).toBe(a.visible);
          expect(install === 'R9 INSTALLABLE', label).toBe(a.installable);
          expect(admin === 'R10 ADMIN_API_RETURNED', label).toBe(a.adminApi);
          expect(a.installed).toBe(installed);
        }
      }
    }
  });
});

describe('visibility guards against states the rules never produce', () => {
  it('a development app stored with a cross-workspace scope is seen only by its owner', () => {
    for (const scope of ['AllChildWorkspaces', 'AllWorkspaces', CUSTOM] as const) {
      const app = dev({ scope, workspaces: scope === CUSTOM ? ['acme-eu'] : [] });
      for (const id of acme.ids) {
        const a = accessOf(app, acme.ref(id), false);
        expect(a, `${scope} ${id}`).toEqual({
          visible: id === 'acme',
          installable: false,
          adminApi: false,
          installed: false,
        });
      }
    }
  });
});

describe('codes', () => {
  it('every denial names the rule that owns its code', () => {
    const denials = [
      setScope(dev(), { scope: 'AllWorkspaces' }),
      setScope(prod(), { workspaces: [] }),
      setScope(prod(), { workspaces: ['ghost'] }),
      setScope(prod({ scope: 'AllWorkspaces' }), { scope: 'CurrentWorkspaceOnly' }, ['pat']),
      decideActor('nope'),
      decideInstall(prod(), acme.ref('pat'), false),
    ];
    for (const d of denials) {
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.rule).toBe(RULE_CODES[d.code]);
    }
  });

  it('deny carries details only when given', () => {
    expect(deny('NOT_INSTALLED', 'm')).toEqual({
      ok: false,
      rule: 'R9',
      code: 'NOT_INSTALLED',
      message: 'm',
    });
    expect(deny('UNKNOWN_APP', 'm', { id: 'x' })).toEqual({
      ok: false,
      rule: 'R12',
      code: 'UNKNOWN_APP',
      message: 'm',
      details: { id: 'x' },
    });
  });

  it('isCrossWorkspace: everything but CurrentWorkspaceOnly', () => {
    expect(isCrossWorkspace('CurrentWorkspaceOnly')).toBe(false);
    expect(isCrossWorkspace('AllChildWorkspaces')).toBe(true);
    expect(isCrossWorkspace('AllWorkspaces')).toBe(true);
    expect(isCrossWorkspace(CUSTOM)).toBe(true);
  });

  it('an allowed decision applied to the app is what the service stores', () => {
    const app = custom('pat');
    const d = setScope(app, { add: ['globex'] });
    expect(d.ok && withSharing(app, d.after)).toEqual({ ...app, workspaces: ['globex', 'pat'] });
  });
});

describe('decideActor refuses what would disguise an actor in the audit trail', () => {
  it.each([
    ['a control character', 'kim\u001bc@evil.example'],
    ['a right-to-left override', 'kim\u202e@evil.example'],
    ['a zero-width space', 'k\u200bim@ddx.example'],
    ['a C1 control', 'kim\u009b@ddx.example'],
  ])('%s', (_what, actor) => {
    expect(decideActor(actor)).toMatchObject({ ok: false, code: 'ACTOR_REQUIRED' });
  });

  it('accepts plus addressing and subdomains', () => {
    expect(decideActor('a.b+c@sub.ddx.example')).toMatchObject({ ok: true });
  });
});
