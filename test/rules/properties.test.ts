// Property tests for the rules engine. fast-check prints the seed and the shrunk counterexample
// on failure; replay with FC_RUNS and the printed seed/path if needed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RULE_CODES, type RuleCode } from '../../src/rules/codes.js';
import {
  decideActor,
  decideCreateApp,
  decideCreateWorkspace,
  decideInstall,
  decideSetScope,
  decideUninstall,
  decideUpdateApp,
  type ScopeFacts,
  type ScopeRequest,
} from '../../src/rules/decide.js';
import {
  ENVIRONMENTS,
  SCOPES,
  WORKSPACE_KINDS,
  type App,
  type Environment,
  type RuleId,
  type Scope,
  type WorkspaceKind,
  type WorkspaceRef,
} from '../../src/rules/types.js';
import {
  accessOf,
  canInstall,
  explainAccess,
  inAdminApi,
  sees,
} from '../../src/rules/visibility.js';
import { makeApp, withSharing } from './fixtures.js';

const RUNS = Number(process.env.FC_RUNS ?? 200);
const params = { numRuns: RUNS };

// ---------------------------------------------------------------------------------------------
// Generated worlds
// ---------------------------------------------------------------------------------------------

interface GenWorkspace {
  id: string;
  kind: WorkspaceKind;
  parentId: string | null;
}

interface World {
  nodes: GenWorkspace[];
  /** Built by the engine's own decideCreateWorkspace, parents first. */
  refs: Map<string, WorkspaceRef>;
}

/** Up to 30 workspaces; each one's parent is an earlier one or none. */
const forestArb: fc.Arbitrary<GenWorkspace[]> = fc
  .array(
    fc.record({
      kind: fc.constantFrom(...WORKSPACE_KINDS),
      parent: fc.option(fc.nat(), { nil: null, freq: 4 }),
    }),
    { minLength: 1, maxLength: 30 },
  )
  .map((raw) =>
    raw.map((r, i) => ({
      id: `w${i}`,
      kind: r.kind,
      parentId: i === 0 || r.parent === null ? null : `w${r.parent % i}`,
    })),
  );

function build(nodes: GenWorkspace[]): World {
  const refs = new Map<string, WorkspaceRef>();
  for (const n of nodes) {
    const d = decideCreateWorkspace(n, {
      idTaken: refs.has(n.id),
      parent: n.parentId === null ? null : refs.get(n.parentId),
    });
    if (!d.ok) throw new Error(`could not build the forest: ${d.code}`);
    refs.set(n.id, d.ref);
  }
  return { nodes, refs };
}

type Op =
  | { kind: 'scope'; req: ScopeRequest }
  | { kind: 'install'; ws: number }
  | { kind: 'uninstall'; ws: number };

const maybe = <T>(arb: fc.Arbitrary<T>, weight = 1): fc.Arbitrary<T | undefined> =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: arb, weight });

/** Requests over the world's ids plus one that does not exist, biased towards sensible ones. */
function requestArb(ids: readonly string[], owner: string): fc.Arbitrary<ScopeRequest> {
  const others = ids.length > 1 ? ids.filter((id) => id !== owner) : ids;
  const id = fc.oneof(
    { arbitrary: fc.constantFrom(...others), weight: 12 },
    { arbitrary: fc.constant(owner), weight: 1 },
    { arbitrary: fc.constant('ghost'), weight: 1 },
  );
  const list = fc.array(id, { maxLength: 4 });
  const smallList = fc.array(id, { minLength: 1, maxLength: 2 });
  const scope = fc.constantFrom(...SCOPES);
  const revokeInstalls = fc.boolean();
  const environment = maybe(fc.constantFrom(...ENVIRONMENTS));
  return fc.oneof(
    { arbitrary: fc.record({ scope, revokeInstalls, environment }), weight: 4 },
    {
      arbitrary: fc.record({
        scope: fc.constant<Scope>('CustomWorkspaceAccess'),
        workspaces: fc.uniqueArray(fc.constantFrom(...others), { minLength: 1, maxLength: 5 }),
        revokeInstalls,
      }),
      weight: 3,
    },
    { arbitrary: fc.record({ add: smallList, revokeInstalls }), weight: 2 },
    { arbitrary: fc.record({ remove: smallList, revokeInstalls }), weight: 2 },
    {
      arbitrary: fc.record(
        { scope, workspaces: list, add: list, remove: list, environment, revokeInstalls },
        { requiredKeys: [] },
      ),
      weight: 2,
    },
  );
}

function opArb(ids: readonly string[], owner: string): fc.Arbitrary<Op> {
  const ws = fc.nat({ max: ids.length - 1 });
  return fc.oneof(
    {
      arbitrary: requestArb(ids, owner).map((req) => ({ kind: 'scope' as const, req })),
      weight: 3,
    },
    { arbitrary: ws.map((i) => ({ kind: 'install' as const, ws: i })), weight: 3 },
    { arbitrary: ws.map((i) => ({ kind: 'uninstall' as const, ws: i })), weight: 1 },
  );
}

interface Scenario {
  nodes: GenWorkspace[];
  owner: number;
  environment: Environment;
  ops: Op[];
}

/**
 * A forest, an owner, an environment and up to 25 operations. Production is favoured, and so is an
 * organizational owner for it, so that most scenarios share something; the rest exercise R1.
 */
function scenarioArb(env?: Environment): fc.Arbitrary<Scenario> {
  return forestArb.chain((nodes) => {
    const ids = nodes.map((n) => n.id);
    const anyIndex = fc.nat({ max: nodes.length - 1 });
    const orgs = nodes.flatMap((n, i) => (n.kind === 'organizational' ? [i] : []));
    const environment: fc.Arbitrary<Environment> = env
      ? fc.constant(env)
      : fc.oneof(
          { arbitrary: fc.constant<Environment>('production'), weight: 3 },
          { arbitrary: fc.constant<Environment>('development'), weight: 1 },
        );
    return environment.chain((environment) => {
      const owner =
        environment === 'production' && orgs.length > 0
          ? fc.oneof(
              { arbitrary: fc.constantFrom(...orgs), weight: 6 },
              { arbitrary: anyIndex, weight: 1 },
            )
          : anyIndex;
      return owner.chain((owner) =>
        fc.record({
          nodes: fc.constant(nodes),
          owner: fc.constant(owner),
          environment: fc.constant(environment),
          ops: fc.array(opArb(ids, ids[owner]!), { minLength: 1, maxLength: 25 }),
        }),
      );
    });
  });
}

/** Creates the app through decideCreateApp; a refused production app becomes development. */
function createApp(world: World, s: Scenario): App {
  const node = s.nodes[s.owner]!;
  const owner = world.refs.get(node.id);
  const d = decideCreateApp(
    { id: 'app', workspaceId: node.id, environment: s.environment },
    { idTaken: false, owner },
  );
  const environment = d.ok ? s.environment : 'development';
  return makeApp({ id: 'app', workspaceId: node.id, environment, scope: 'CurrentWorkspaceOnly' });
}

// `named` holds every existing workspace. With the service's exact contract (only the ids the
// request names) the engine wrongly reports existing list members as unknown; that bug is pinned
// down in decide.test.ts, so it is kept out of these properties.
function facts(world: World, app: App, installs: ReadonlySet<string>): ScopeFacts {
  return {
    app,
    named: world.refs,
    installs: [...installs].map((id) => world.refs.get(id)!),
  };
}

/** Runs the scenario through the engine, calling `check` after every step. */
function runEngine(
  world: World,
  s: Scenario,
  check: (app: App, installs: ReadonlySet<string>, step: Op | null) => void,
): void {
  let app = createApp(world, s);
  const installs = new Set<string>();
  check(app, installs, null);
  for (const op of s.ops) {
    if (op.kind === 'scope') {
      const d = decideSetScope(op.req, facts(world, app, installs));
      if (d.ok) {
        for (const id of d.revokedInstalls) installs.delete(id);
        app = withSharing(app, d.after);
      }
    } else {
      const ws = world.refs.get(s.nodes[op.ws]!.id)!;
      const installed = installs.has(ws.id);
      if (op.kind === 'install' && decideInstall(app, ws, installed).ok) installs.add(ws.id);
      if (op.kind === 'uninstall' && decideUninstall(app, ws, installed).ok) {
        installs.delete(ws.id);
      }
    }
    check(app, installs, op);
  }
}

// ---------------------------------------------------------------------------------------------
// A deliberately naive reference model: explicit parent pointers and explicit covered sets.
// ---------------------------------------------------------------------------------------------

interface ModelState {
  owner: string;
  env: Environment;
  scope: Scope;
  list: string[];
  installs: Set<string>;
}

const MODEL_RULE: Record<RuleCode, RuleId> = {
  PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE: 'R1',
  ENVIRONMENT_IMMUTABLE: 'R3',
  DEVELOPMENT_APP_NOT_SHAREABLE: 'R4',
  CUSTOM_ACCESS_REQUIRES_WORKSPACES: 'R5',
  DUPLICATE_WORKSPACE: 'R5',
  OWNER_IN_ACCESS_LIST: 'R5',
  WORKSPACES_REQUIRE_CUSTOM_SCOPE: 'R5',
  SCOPE_CHANGE_STRANDS_INSTALLS: 'R7',
  NOT_INSTALLABLE: 'R9',
  ALREADY_INSTALLED: 'R9',
  NOT_INSTALLED: 'R9',
  ACTOR_REQUIRED: 'R11',
  ALREADY_EXISTS: 'R12',
  UNKNOWN_WORKSPACE: 'R12',
  UNKNOWN_APP: 'R12',
};

class Model {
  readonly parent = new Map<string, string | null>();
  readonly kind = new Map<string, WorkspaceKind>();

  constructor(nodes: readonly GenWorkspace[]) {
    for (const n of nodes) {
      this.parent.set(n.id, n.parentId);
      this.kind.set(n.id, n.kind);
    }
  }

  isUnder(id: string, ancestor: string): boolean {
    let p = this.parent.get(id) ?? null;
    while (p !== null) {
      if (p === ancestor) return true;
      p = this.parent.get(p) ?? null;
    }
    return false;
  }

  /** The explicit set of workspaces that see the app. */
  covered(s: Pick<ModelState, 'owner' | 'env' | 'scope' | 'list'>): Set<string> {
    const out = new Set<string>();
    for (const id of this.parent.keys()) {
      if (id === s.owner) out.add(id);
      else if (s.env !== 'production') continue;
      else if (s.scope === 'AllWorkspaces') out.add(id);
      else if (s.scope === 'AllChildWorkspaces' && this.isUnder(id, s.owner)) out.add(id);
      else if (s.scope === 'CustomWorkspaceAccess' && s.list.includes(id)) out.add(id);
    }
    return out;
  }

  createApp(owner: string, env: Environment): RuleCode | null {
    return env === 'production' && this.kind.get(owner) !== 'organizational'
      ? 'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE'
      : null;
  }

  /** Every rule the request breaks; the engine may report any one of them. */
  setScope(
    m: ModelState,
    req: ScopeRequest,
  ):
    | { ok: false; violations: Set<RuleCode> }
    | { ok: true; changed: boolean; scope: Scope; list: string[]; revoked: string[] } {
    const v = new Set<RuleCode>();
    if (req.environment !== undefined && req.environment !== m.env) v.add('ENVIRONMENT_IMMUTABLE');
    const edits = req.workspaces !== undefined || req.add !== undefined || req.remove !== undefined;
    const scope = req.scope ?? (edits ? 'CustomWorkspaceAccess' : m.scope);
    const add = req.add ?? [];
    const remove = req.remove ?? [];
    if (m.env === 'development' && (scope !== 'CurrentWorkspaceOnly' || add.length > 0)) {
      v.add('DEVELOPMENT_APP_NOT_SHAREABLE');
    }
    if (scope !== 'CustomWorkspaceAccess' && edits) v.add('WORKSPACES_REQUIRE_CUSTOM_SCOPE');
    let list: string[] = [];
    if (scope === 'CustomWorkspaceAccess') {
      const named = [...(req.workspaces ?? []), ...add];
      const hasDup = (xs: readonly string[]) => new Set(xs).size !== xs.length;
      if (hasDup(named) || hasDup(remove) || add.some((x) => remove.includes(x))) {
        v.add('DUPLICATE_WORKSPACE');
      }
      const start = req.workspaces ?? (m.scope === 'CustomWorkspaceAccess' ? m.list : []);
      list = [...start, ...add].filter((x, i, all) => all.indexOf(x) === i);
      list = list.filter((x) => !remove.includes(x));
      if ([...list, ...remove].some((x) => !this.parent.has(x))) v.add('UNKNOWN_WORKSPACE');
      if (list.includes(m.owner)) v.add('OWNER_IN_ACCESS_LIST');
      if (list.length === 0) v.add('CUSTOM_ACCESS_REQUIRES_WORKSPACES');
      list.sort();
    }
    if (v.size > 0) return { ok: false, violations: v };

    const same =
      scope === m.scope && list.length === m.list.length && list.every((x) => m.list.includes(x));
    if (same) return { ok: true, changed: false, scope, list, revoked: [] };
    const reach = this.covered({ ...m, scope, list });
    const revoked = [...m.installs].filter((id) => !reach.has(id)).sort();
    if (revoked.length > 0 && !req.revokeInstalls) {
      return { ok: false, violations: new Set(['SCOPE_CHANGE_STRANDS_INSTALLS']) };
    }
    return { ok: true, changed: true, scope, list, revoked };
  }

  install(m: ModelState, ws: string): RuleCode | null {
    if (ws === m.owner) return 'NOT_INSTALLABLE';
    if (m.installs.has(ws)) return 'ALREADY_INSTALLED';
    if (!this.covered(m).has(ws)) return 'NOT_INSTALLABLE';
    return null;
  }

  uninstall(m: ModelState, ws: string): RuleCode | null {
    return m.installs.has(ws) ? null : 'NOT_INSTALLED';
  }
}

function expectDenied(d: { ok: boolean; code?: RuleCode; rule?: RuleId }, allowed: Set<RuleCode>) {
  expect(d.ok).toBe(false);
  expect([...allowed]).toContain(d.code);
  expect(d.rule).toBe(MODEL_RULE[d.code!]);
}

// ---------------------------------------------------------------------------------------------
// Arbitrary (mostly nonsensical) inputs for the totality property
// ---------------------------------------------------------------------------------------------

const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', '__proto__', 'constructor', 'toString', 'ghost'),
);
const anyScope = fc.oneof(
  fc.constantFrom(...SCOPES),
  anyString.map((s) => s as Scope),
);
const anyEnv = fc.oneof(
  fc.constantFrom(...ENVIRONMENTS),
  anyString.map((s) => s as Environment),
);
const anyKind = fc.oneof(
  fc.constantFrom(...WORKSPACE_KINDS),
  anyString.map((s) => s as WorkspaceKind),
);
const anyList = fc.array(anyString, { maxLength: 6 });
const anyRef: fc.Arbitrary<WorkspaceRef> = fc.record({
  id: anyString,
  kind: anyKind,
  ancestors: anyList,
});
const anyApp: fc.Arbitrary<App> = fc
  .record({
    id: anyString,
    name: anyString,
    workspaceId: anyString,
    environment: anyEnv,
    scope: anyScope,
    workspaces: anyList,
  })
  .map((a) => makeApp(a));
const anyRequest: fc.Arbitrary<ScopeRequest> = fc.record(
  {
    scope: anyScope,
    workspaces: anyList,
    add: anyList,
    remove: anyList,
    environment: anyEnv,
    revokeInstalls: fc.boolean(),
  },
  { requiredKeys: [] },
);
const anyFacts = (app: App): fc.Arbitrary<ScopeFacts> =>
  fc.record({
    app: fc.constant(app),
    named: fc.array(anyRef, { maxLength: 6 }).map((rs) => new Map(rs.map((r) => [r.id, r]))),
    installs: fc.array(anyRef, { maxLength: 4 }),
  });

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    if (value instanceof Map) {
      for (const [k, v] of value) {
        deepFreeze(k);
        deepFreeze(v);
      }
    } else {
      for (const v of Object.values(value)) deepFreeze(v);
    }
  }
  return value;
}

// ---------------------------------------------------------------------------------------------

describe('rules engine properties', () => {
  it('(a) is deterministic and does not mutate its inputs', () => {
    fc.assert(
      fc.property(
        anyApp.chain((app) => fc.tuple(fc.constant(app), anyRequest, anyFacts(app))),
        anyRef,
        fc.boolean(),
        fc.option(anyString, { nil: undefined }),
        ([app, req, f], ws, installed, actor) => {
          const snapshot = structuredClone({ app, req, f, ws });
          deepFreeze(app);
          deepFreeze(req);
          deepFreeze(f);
          deepFreeze(ws);
          expect(decideSetScope(req, f)).toEqual(decideSetScope(req, f));
          expect(explainAccess(app, ws, installed)).toEqual(explainAccess(app, ws, installed));
          expect(accessOf(app, ws, installed)).toEqual(accessOf(app, ws, installed));
          expect(decideInstall(app, ws, installed)).toEqual(decideInstall(app, ws, installed));
          expect(decideActor(actor)).toEqual(decideActor(actor));
          expect({ app, req, f, ws }).toEqual(snapshot);
        },
      ),
      params,
    );
  });

  it('(a) is deterministic on generated worlds', () => {
    fc.assert(
      fc.property(scenarioArb(), (s) => {
        const world = build(s.nodes);
        const outputs = () => {
          const out: unknown[] = [];
          runEngine(world, s, (app, installs) => {
            out.push(structuredClone(app), [...installs]);
          });
          return out;
        };
        expect(outputs()).toEqual(outputs());
      }),
      params,
    );
  });

  it('(b) never throws, whatever the input', () => {
    const isCode = (d: { ok: boolean; code?: string }) => d.ok || d.code! in RULE_CODES;
    fc.assert(
      fc.property(
        anyApp.chain((app) => fc.tuple(fc.constant(app), anyRequest, anyFacts(app))),
        anyRef,
        fc.boolean(),
        fc.option(anyString, { nil: undefined }),
        fc.record({ name: fc.option(anyString, { nil: undefined }), environment: anyEnv }),
        fc.option(anyRef, { nil: null }),
        ([app, req, f], ws, flag, actor, upd, parent) => {
          expect(isCode(decideSetScope(req, f))).toBe(true);
          expect(isCode(decideActor(actor))).toBe(true);
          expect(isCode(decideUpdateApp(app, upd))).toBe(true);
          expect(isCode(decideInstall(app, ws, flag))).toBe(true);
          expect(isCode(decideUninstall(app, ws, flag))).toBe(true);
          const wsReq = { id: ws.id, kind: ws.kind, parentId: parent?.id ?? null };
          expect(isCode(decideCreateWorkspace(wsReq, { idTaken: flag, parent }))).toBe(true);
          const appReq = { id: app.id, workspaceId: app.workspaceId, environment: app.environment };
          expect(isCode(decideCreateApp(appReq, { idTaken: flag, owner: ws }))).toBe(true);
          expect(isCode(decideCreateApp(appReq, { idTaken: flag, owner: undefined }))).toBe(true);
          sees(app, ws);
          canInstall(app, ws, flag);
          inAdminApi(app, ws);
          accessOf(app, ws, flag);
          expect(explainAccess(app, ws, flag)).toHaveLength(3);
        },
      ),
      params,
    );
  });

  it('(c) a development app never reaches beyond its owner', () => {
    fc.assert(
      fc.property(scenarioArb('development'), (s) => {
        const world = build(s.nodes);
        runEngine(world, s, (app, installs) => {
          expect(app.environment).toBe('development');
          expect(app.scope).toBe('CurrentWorkspaceOnly');
          expect(app.workspaces).toEqual([]);
          expect(installs.size).toBe(0);
          for (const ws of world.refs.values()) {
            const owner = ws.id === app.workspaceId;
            expect(sees(app, ws)).toBe(owner);
            expect(inAdminApi(app, ws)).toBe(false);
            expect(canInstall(app, ws, false)).toBe(false);
            expect(decideInstall(app, ws, false).ok).toBe(false);
          }
        });
      }),
      params,
    );
  });

  it('(d) agrees with a naive reference model', () => {
    fc.assert(
      fc.property(scenarioArb(), (s) => {
        const world = build(s.nodes);
        const model = new Model(s.nodes);
        const ownerId = s.nodes[s.owner]!.id;

        // Creation (R1, R2).
        const created = decideCreateApp(
          { id: 'app', workspaceId: ownerId, environment: s.environment },
          { idTaken: false, owner: world.refs.get(ownerId) },
        );
        const refusal = model.createApp(ownerId, s.environment);
        if (refusal) expectDenied(created, new Set([refusal]));
        else expect(created).toEqual({ ok: true, scope: 'CurrentWorkspaceOnly' });

        let app = createApp(world, s);
        const m: ModelState = {
          owner: ownerId,
          env: app.environment,
          scope: 'CurrentWorkspaceOnly',
          list: [],
          installs: new Set(),
        };

        const compareAccess = () => {
          const reach = model.covered(m);
          for (const ws of world.refs.values()) {
            const installed = m.installs.has(ws.id);
            const visible = reach.has(ws.id);
            expect(accessOf(app, ws, installed), ws.id).toEqual({
              visible,
              installable: visible && ws.id !== m.owner && !installed,
              adminApi: m.env === 'production' && m.scope !== 'CurrentWorkspaceOnly' && visible,
              installed,
            });
          }
        };
        compareAccess();

        for (const op of s.ops) {
          if (op.kind === 'scope') {
            const d = decideSetScope(op.req, facts(world, app, m.installs));
            const want = model.setScope(m, op.req);
            if (!want.ok) {
              expectDenied(d, want.violations);
            } else {
              expect(d).toEqual({
                ok: true,
                changed: want.changed,
                after: {
                  workspaceId: m.owner,
                  environment: m.env,
                  scope: want.scope,
                  workspaces: want.list,
                },
                revokedInstalls: want.revoked,
              });
              m.scope = want.scope;
              m.list = want.list;
              for (const id of want.revoked) m.installs.delete(id);
              if (d.ok) app = withSharing(app, d.after);
            }
          } else {
            const id = s.nodes[op.ws]!.id;
            const ws = world.refs.get(id)!;
            const installed = m.installs.has(id);
            const d =
              op.kind === 'install'
                ? decideInstall(app, ws, installed)
                : decideUninstall(app, ws, installed);
            const want = op.kind === 'install' ? model.install(m, id) : model.uninstall(m, id);
            if (want) {
              expectDenied(d, new Set([want]));
            } else {
              expect(d).toEqual({ ok: true });
              if (op.kind === 'install') m.installs.add(id);
              else m.installs.delete(id);
            }
          }
          compareAccess();
        }
      }),
      params,
    );
  });

  it('(e) R7: after any allowed change every remaining install is still visible', () => {
    fc.assert(
      fc.property(scenarioArb('production'), (s) => {
        const world = build(s.nodes);
        let app = createApp(world, s);
        const installs = new Set<string>();
        for (const op of s.ops) {
          if (op.kind === 'scope') {
            const before = new Set(installs);
            const d = decideSetScope(op.req, facts(world, app, installs));
            if (!d.ok) {
              if (d.code === 'SCOPE_CHANGE_STRANDS_INSTALLS') {
                expect(op.req.revokeInstalls ?? false).toBe(false);
              }
              continue;
            }
            if (!op.req.revokeInstalls || !d.changed) expect(d.revokedInstalls).toEqual([]);
            for (const id of d.revokedInstalls) {
              expect(before.has(id)).toBe(true);
              expect(sees(d.after, world.refs.get(id)!)).toBe(false);
              installs.delete(id);
            }
            app = withSharing(app, d.after);
            for (const id of installs) expect(sees(app, world.refs.get(id)!), id).toBe(true);
          } else {
            const ws = world.refs.get(s.nodes[op.ws]!.id)!;
            const installed = installs.has(ws.id);
            if (op.kind === 'install' && decideInstall(app, ws, installed).ok) installs.add(ws.id);
            if (op.kind === 'uninstall' && decideUninstall(app, ws, installed).ok) {
              installs.delete(ws.id);
            }
          }
        }
      }),
      params,
    );
  });
});
