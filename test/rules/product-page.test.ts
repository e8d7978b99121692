// One test per cell of the product page's "development vs production app" table.
import { describe, expect, it } from 'vitest';
import {
  decideActor,
  decideCreateApp,
  decideInstall,
  decideSetScope,
  type ScopeRequest,
} from '../../src/rules/decide.js';
import type { App, Environment, Scope } from '../../src/rules/types.js';
import { canInstall, explainAccess, inAdminApi, sees } from '../../src/rules/visibility.js';
import { acme, factsAsService, makeApp, withSharing } from './fixtures.js';

const OTHERS = acme.ids.filter((id) => id !== 'acme');
const ORGANIZATIONAL = acme.nodes.filter((n) => n.kind === 'organizational').map((n) => n.id);
const PERSONAL = acme.nodes.filter((n) => n.kind === 'personal').map((n) => n.id);

const GRANTS: readonly { scope: Scope; req: ScopeRequest; covered: string[] }[] = [
  {
    scope: 'AllChildWorkspaces',
    req: { scope: 'AllChildWorkspaces' },
    covered: ['acme-eu', 'acme-eu-paris', 'acme-us'],
  },
  { scope: 'AllWorkspaces', req: { scope: 'AllWorkspaces' }, covered: OTHERS },
  {
    scope: 'CustomWorkspaceAccess',
    req: { scope: 'CustomWorkspaceAccess', workspaces: ['listed-ws', 'acme-us'] },
    covered: ['acme-us', 'listed-ws'],
  },
];

function create(environment: Environment, workspaceId: string): App {
  const d = decideCreateApp(
    { id: 'app-1', workspaceId, environment },
    { idTaken: false, owner: acme.ref(workspaceId) },
  );
  if (!d.ok) throw new Error(`fixture: could not create: ${d.code}`);
  return makeApp({ environment, workspaceId, scope: d.scope, workspaces: [] });
}

/** A staff member (R11) asks for the scope; returns the app as stored afterwards. */
function grant(app: App, req: ScopeRequest): App {
  expect(decideActor('Staff.Member@ddx.example')).toEqual({
    ok: true,
    actor: 'staff.member@ddx.example',
  });
  const d = decideSetScope(req, factsAsService(acme, app, req));
  if (!d.ok) throw new Error(`grant refused: ${d.code}`);
  return withSharing(app, d.after);
}

function seenBy(app: App): string[] {
  return acme.ids.filter((id) => sees(app, acme.ref(id))).sort();
}

function installableBy(app: App): string[] {
  return acme.ids.filter((id) => canInstall(app, acme.ref(id), false)).sort();
}

function adminApiFor(app: App): string[] {
  return acme.ids.filter((id) => inAdminApi(app, acme.ref(id))).sort();
}

describe('product page', () => {
  it('who can create: development -> any workspace', () => {
    for (const id of acme.ids) {
      const d = decideCreateApp(
        { id: 'app-1', workspaceId: id, environment: 'development' },
        { idTaken: false, owner: acme.ref(id) },
      );
      expect(d, id).toEqual({ ok: true, scope: 'CurrentWorkspaceOnly' });
    }
  });

  it('who can create: production -> organizational only', () => {
    for (const id of ORGANIZATIONAL) {
      const d = decideCreateApp(
        { id: 'app-1', workspaceId: id, environment: 'production' },
        { idTaken: false, owner: acme.ref(id) },
      );
      expect(d, id).toEqual({ ok: true, scope: 'CurrentWorkspaceOnly' });
    }
    expect(PERSONAL).toEqual(['pat']);
    for (const id of PERSONAL) {
      const d = decideCreateApp(
        { id: 'app-1', workspaceId: id, environment: 'production' },
        { idTaken: false, owner: acme.ref(id) },
      );
      expect(d, id).toMatchObject({
        ok: false,
        rule: 'R1',
        code: 'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE',
      });
    }
  });

  it('visibility on creation: development -> own workspace only', () => {
    for (const owner of ['acme', 'pat']) {
      const app = create('development', owner);
      expect(app.scope).toBe('CurrentWorkspaceOnly');
      expect(seenBy(app)).toEqual([owner]);
    }
  });

  it('visibility on creation: production -> own workspace only', () => {
    for (const owner of ['acme', 'acme-eu', 'globex']) {
      const app = create('production', owner);
      expect(app.scope).toBe('CurrentWorkspaceOnly');
      expect(seenBy(app)).toEqual([owner]);
    }
  });

  it('installable by other workspaces: development -> never', () => {
    const app = create('development', 'acme');
    for (const g of GRANTS) {
      expect(decideSetScope(g.req, factsAsService(acme, app, g.req))).toMatchObject({
        ok: false,
        code: 'DEVELOPMENT_APP_NOT_SHAREABLE',
      });
    }
    expect(installableBy(app)).toEqual([]);
    for (const id of OTHERS) {
      expect(decideInstall(app, acme.ref(id), false), id).toMatchObject({
        ok: false,
        code: 'NOT_INSTALLABLE',
      });
    }
  });

  it(
    'installable by other workspaces: production -> ' +
      'after a staff member grants a scope that covers them',
    () => {
      const created = create('production', 'acme');
      expect(installableBy(created)).toEqual([]);
      for (const id of OTHERS) {
        expect(decideInstall(created, acme.ref(id), false).ok, id).toBe(false);
      }
      for (const g of GRANTS) {
        const app = grant(created, g.req);
        expect(app.scope).toBe(g.scope);
        expect(installableBy(app), g.scope).toEqual([...g.covered].sort());
        for (const id of OTHERS) {
          expect(decideInstall(app, acme.ref(id), false).ok, `${g.scope} ${id}`).toBe(
            g.covered.includes(id),
          );
        }
        expect(decideInstall(app, acme.ref('acme'), false)).toMatchObject({
          ok: false,
          code: 'NOT_INSTALLABLE',
        });
      }
    },
  );

  it('eligible for all-children/all/custom: development -> never', () => {
    for (const owner of ['acme', 'pat']) {
      const app = create('development', owner);
      const reqs: ScopeRequest[] = [
        ...GRANTS.map((g) => g.req),
        { add: ['listed-ws'] },
        { scope: 'CurrentWorkspaceOnly', add: ['listed-ws'] },
      ];
      for (const req of reqs) {
        expect(
          decideSetScope(req, factsAsService(acme, app, req)),
          JSON.stringify(req),
        ).toMatchObject({ ok: false, rule: 'R4', code: 'DEVELOPMENT_APP_NOT_SHAREABLE' });
      }
    }
  });

  it('eligible for all-children/all/custom: production -> yes, by staff', () => {
    const app = create('production', 'acme');
    for (const g of GRANTS) {
      const d = decideSetScope(g.req, factsAsService(acme, app, g.req));
      expect(d).toMatchObject({ ok: true, changed: true, after: { scope: g.scope } });
    }
    expect(decideActor(undefined)).toMatchObject({ ok: false, code: 'ACTOR_REQUIRED' });
  });

  it('returned by the Admin API: development -> never', () => {
    for (const owner of ['acme', 'pat']) {
      const app = create('development', owner);
      expect(adminApiFor(app)).toEqual([]);
      for (const id of acme.ids) {
        const reasons = explainAccess(app, acme.ref(id), false);
        expect(reasons[2], id).toMatchObject({ rule: 'R10', code: 'ADMIN_API_DEVELOPMENT' });
      }
    }
  });

  it(
    'returned by the Admin API: production -> ' +
      'once shared cross-workspace, to the covered workspaces and the owner',
    () => {
      const created = create('production', 'acme');
      expect(adminApiFor(created)).toEqual([]);
      expect(explainAccess(created, acme.ref('acme'), false)[2]).toMatchObject({
        rule: 'R10',
        code: 'NO_CROSS_WORKSPACE_SCOPE',
      });
      for (const g of GRANTS) {
        const app = grant(created, g.req);
        expect(adminApiFor(app), g.scope).toEqual(['acme', ...g.covered].sort());
      }
      const back = grant(grant(created, { scope: 'AllWorkspaces' }), {
        scope: 'CurrentWorkspaceOnly',
      });
      expect(adminApiFor(back)).toEqual([]);
    },
  );
});
