// One decision table over environment x owner kind x current scope x requested scope x the asking
// workspace's relationship to the owner. Every expectation comes from the literal oracle below,
// never from the engine.
import { describe, expect, it } from 'vitest';
import type { RuleCode } from '../../src/rules/codes.js';
import {
  decideCreateApp,
  decideInstall,
  decideSetScope,
  type ScopeRequest,
} from '../../src/rules/decide.js';
import type { Environment, RuleId, Scope, WorkspaceKind } from '../../src/rules/types.js';
import { canInstall, inAdminApi, sees } from '../../src/rules/visibility.js';
import { factsAsService, forestWithOwnerKind, makeApp, withSharing } from './fixtures.js';

const ENVS: readonly Environment[] = ['development', 'production'];
const KINDS: readonly WorkspaceKind[] = ['organizational', 'personal'];
const ALL_SCOPES: readonly Scope[] = [
  'CurrentWorkspaceOnly',
  'AllChildWorkspaces',
  'AllWorkspaces',
  'CustomWorkspaceAccess',
];

const RELS = [
  'owner',
  'child',
  'grandchild',
  'sibling',
  'unrelated',
  'listed',
  'unlisted',
] as const;
type Rel = (typeof RELS)[number];

/** The asking workspace for each relationship, in the fixed forest (owner: acme). */
const ASKER: Record<Rel, string> = {
  owner: 'acme',
  child: 'acme-eu',
  grandchild: 'acme-eu-paris',
  sibling: 'globex',
  unrelated: 'pat',
  listed: 'listed-ws',
  unlisted: 'unlisted-ws',
};

/** The custom access list used whenever a state or request is CustomWorkspaceAccess. */
const LIST = ['listed-ws'];

type Bit = 0 | 1;
type Row = readonly [Bit, Bit, Bit, Bit, Bit, Bit, Bit];

// ---------------------------------------------------------------------------------------------
// The oracle. Columns follow RELS: owner, child, grandchild, sibling, unrelated, listed, unlisted.
// A development app only ever exists on CurrentWorkspaceOnly (R2 + R4), so it has one row.
// ---------------------------------------------------------------------------------------------

// prettier-ignore
const SEES: Record<Environment, Partial<Record<Scope, Row>>> = {
  //                               own chi gra sib unr lis unl
  development: {
    CurrentWorkspaceOnly:         [1,  0,  0,  0,  0,  0,  0],
  },
  production: {
    CurrentWorkspaceOnly:         [1,  0,  0,  0,  0,  0,  0],
    AllChildWorkspaces:           [1,  1,  1,  0,  0,  0,  0],
    AllWorkspaces:                [1,  1,  1,  1,  1,  1,  1],
    CustomWorkspaceAccess:        [1,  0,  0,  0,  0,  1,  0],
  },
};

// Nothing is installed yet, so "can install" is "sees it and is not the owner".
// prettier-ignore
const INSTALLS: Record<Environment, Partial<Record<Scope, Row>>> = {
  //                               own chi gra sib unr lis unl
  development: {
    CurrentWorkspaceOnly:         [0,  0,  0,  0,  0,  0,  0],
  },
  production: {
    CurrentWorkspaceOnly:         [0,  0,  0,  0,  0,  0,  0],
    AllChildWorkspaces:           [0,  1,  1,  0,  0,  0,  0],
    AllWorkspaces:                [0,  1,  1,  1,  1,  1,  1],
    CustomWorkspaceAccess:        [0,  0,  0,  0,  0,  1,  0],
  },
};

// The Admin API: production, cross-workspace, and seen (the owner included).
// prettier-ignore
const ADMIN_API: Record<Environment, Partial<Record<Scope, Row>>> = {
  //                               own chi gra sib unr lis unl
  development: {
    CurrentWorkspaceOnly:         [0,  0,  0,  0,  0,  0,  0],
  },
  production: {
    CurrentWorkspaceOnly:         [0,  0,  0,  0,  0,  0,  0],
    AllChildWorkspaces:           [1,  1,  1,  0,  0,  0,  0],
    AllWorkspaces:                [1,  1,  1,  1,  1,  1,  1],
    CustomWorkspaceAccess:        [1,  0,  0,  0,  0,  1,  0],
  },
};

type Verdict = 'changed' | 'unchanged' | { code: RuleCode; rule: RuleId };
const R4: Verdict = { code: 'DEVELOPMENT_APP_NOT_SHAREABLE', rule: 'R4' };

// VERDICT[environment][current][requested]. Owner kind does not change a set-scope verdict.
// prettier-ignore
const VERDICT: Record<Environment, Partial<Record<Scope, Record<Scope, Verdict>>>> = {
  development: {
    CurrentWorkspaceOnly: {
      CurrentWorkspaceOnly: 'unchanged',
      AllChildWorkspaces: R4,
      AllWorkspaces: R4,
      CustomWorkspaceAccess: R4,
    },
  },
  production: {
    CurrentWorkspaceOnly: {
      CurrentWorkspaceOnly: 'unchanged',
      AllChildWorkspaces: 'changed',
      AllWorkspaces: 'changed',
      CustomWorkspaceAccess: 'changed',
    },
    AllChildWorkspaces: {
      CurrentWorkspaceOnly: 'changed',
      AllChildWorkspaces: 'unchanged',
      AllWorkspaces: 'changed',
      CustomWorkspaceAccess: 'changed',
    },
    AllWorkspaces: {
      CurrentWorkspaceOnly: 'changed',
      AllChildWorkspaces: 'changed',
      AllWorkspaces: 'unchanged',
      CustomWorkspaceAccess: 'changed',
    },
    CustomWorkspaceAccess: {
      CurrentWorkspaceOnly: 'changed',
      AllChildWorkspaces: 'changed',
      AllWorkspaces: 'changed',
      CustomWorkspaceAccess: 'unchanged', // same list, R6
    },
  },
};

// ---------------------------------------------------------------------------------------------

interface Case {
  name: string;
  env: Environment;
  kind: WorkspaceKind;
  current: Scope;
  requested: Scope;
  rel: Rel;
  verdict: Verdict;
  expected: { sees: boolean; canInstall: boolean; adminApi: boolean };
}

function listFor(scope: Scope): string[] {
  return scope === 'CustomWorkspaceAccess' ? [...LIST] : [];
}

function describeVerdict(v: Verdict): string {
  return typeof v === 'string' ? v : `refused ${v.code}`;
}

function describeAccess(e: Case['expected']): string {
  const parts = [
    e.sees ? 'sees' : 'does not see',
    e.canInstall ? 'can install' : 'cannot install',
    e.adminApi ? 'in Admin API' : 'not in Admin API',
  ];
  return parts.join(', ');
}

const cases: Case[] = [];
for (const env of ENVS) {
  for (const kind of KINDS) {
    // Impossible: R1 forbids a production app in a personal workspace (decideCreateApp refuses
    // it; see the "impossible states" tests below).
    if (env === 'production' && kind === 'personal') continue;
    for (const current of ALL_SCOPES) {
      // Impossible: R2 starts every app on CurrentWorkspaceOnly and R4 keeps a development app
      // there, so a development app on any other scope cannot exist.
      if (env === 'development' && current !== 'CurrentWorkspaceOnly') continue;
      for (const requested of ALL_SCOPES) {
        const verdict = VERDICT[env]![current]![requested];
        const state = verdict === 'changed' ? requested : current;
        for (const rel of RELS) {
          const col = RELS.indexOf(rel);
          const expected = {
            sees: SEES[env][state]![col] === 1,
            canInstall: INSTALLS[env][state]![col] === 1,
            adminApi: ADMIN_API[env][state]![col] === 1,
          };
          const name =
            `${env} app, ${kind} owner, ${current} -> ${requested}, asked by ${rel} ` +
            `(${ASKER[rel]}): ${describeVerdict(verdict)}; ${describeAccess(expected)}`;
          cases.push({ name, env, kind, current, requested, rel, verdict, expected });
        }
      }
    }
  }
}

describe('decision table: set-scope then access of the asking workspace', () => {
  it('enumerates every possible combination', () => {
    // development: 2 owner kinds x 1 current x 4 requested x 7 relationships = 56
    // production:  1 owner kind  x 4 current x 4 requested x 7 relationships = 112
    expect(cases).toHaveLength(168);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases)('$name', (c) => {
    const forest = forestWithOwnerKind(c.kind);
    const app = makeApp({
      environment: c.env,
      workspaceId: 'acme',
      scope: c.current,
      workspaces: listFor(c.current),
    });
    const req: ScopeRequest =
      c.requested === 'CustomWorkspaceAccess'
        ? { scope: c.requested, workspaces: [...LIST] }
        : { scope: c.requested };
    const d = decideSetScope(req, factsAsService(forest, app, req));

    if (typeof c.verdict === 'string') {
      expect(d).toEqual({
        ok: true,
        changed: c.verdict === 'changed',
        after: {
          workspaceId: 'acme',
          environment: c.env,
          scope: c.requested,
          workspaces: listFor(c.requested),
        },
        revokedInstalls: [],
      });
    } else {
      expect(d).toMatchObject({ ok: false, code: c.verdict.code, rule: c.verdict.rule });
    }

    const after = d.ok ? withSharing(app, d.after) : app;
    const ws = forest.ref(ASKER[c.rel]);
    expect({
      sees: sees(after, ws),
      canInstall: canInstall(after, ws, false),
      adminApi: inAdminApi(after, ws),
    }).toEqual(c.expected);
    expect(decideInstall(after, ws, false).ok).toBe(c.expected.canInstall);
  });
});

describe('decision table: the skipped states are unreachable', () => {
  it('a production app in a personal workspace cannot be created (R1)', () => {
    const owner = forestWithOwnerKind('personal').ref('acme');
    const d = decideCreateApp(
      { id: 'app-1', workspaceId: 'acme', environment: 'production' },
      { idTaken: false, owner },
    );
    expect(d).toMatchObject({ ok: false, code: 'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE' });
  });

  it.each(KINDS)('a development app (%s owner) starts on and never leaves Current', (kind) => {
    const forest = forestWithOwnerKind(kind);
    const d = decideCreateApp(
      { id: 'app-1', workspaceId: 'acme', environment: 'development' },
      { idTaken: false, owner: forest.ref('acme') },
    );
    expect(d).toEqual({ ok: true, scope: 'CurrentWorkspaceOnly' });
    const app = makeApp({ environment: 'development' });
    for (const scope of ALL_SCOPES.filter((s) => s !== 'CurrentWorkspaceOnly')) {
      const req: ScopeRequest = {
        scope,
        workspaces: scope === 'CustomWorkspaceAccess' ? LIST : [],
      };
      const reqs: ScopeRequest[] = [{ scope }, req, { add: LIST }];
      for (const r of reqs)
        expect(decideSetScope(r, factsAsService(forest, app, r)).ok).toBe(false);
    }
  });
});
