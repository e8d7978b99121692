import fc from 'fast-check';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../../src/audit/chain.js';
import type { EventInput } from '../../src/audit/event.js';
import { DdxError } from '../../src/errors.js';
import type { Environment, Scope, WorkspaceKind } from '../../src/rules/types.js';
import { sees } from '../../src/rules/visibility.js';
import {
  createApp,
  createWorkspace,
  install,
  setScope,
  updateApp,
  type Meta,
  type Outcome,
} from '../../src/service/changes.js';
import { scanData } from '../../src/service/check.js';
import { audience } from '../../src/service/views.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { refOf, type Writer } from '../../src/store/store.js';

// Random sequences of changes, one at a time or in all-or-nothing batches as the bulk commands
// make them, run through the service functions on a real SqliteStore. After every step, three
// oracles must agree that no development app is visible outside its owner, no production app
// sits in a personal workspace, and no install is left that its app's scope does not cover:
// the product's own scanData, the product's audience view, and direct SQL checked here with its
// own reading of the rules. A refused step must change nothing, and an unexpected exception (a
// database guard catching what the rules let through) fails the run.

const RUNS = Number(process.env.FC_RUNS ?? 1000);
const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const dir = mkdtempSync(join(base, 'ddx-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCOPES: Scope[] = [
  'CurrentWorkspaceOnly',
  'AllChildWorkspaces',
  'AllWorkspaces',
  'CustomWorkspaceAccess',
];

/** A command as applied: ids resolved against the database of the moment. */
type Cmd =
  | { t: 'ws'; id: string; kind: WorkspaceKind; parent: string | null }
  | { t: 'app'; id: string; ws: string; env: Environment }
  | {
      t: 'scope';
      app: string;
      scope?: Scope | undefined;
      workspaces?: string[] | undefined;
      add?: string[] | undefined;
      remove?: string[] | undefined;
      env?: Environment | undefined;
      revoke: boolean;
    }
  | { t: 'install' | 'uninstall'; app: string; ws: string }
  | { t: 'update'; app: string; name?: string | undefined; env?: Environment | undefined };

// Generated commands name workspaces and apps by a number, resolved to one that exists when the
// step runs (so most commands are about real things), or now and then by a wild id that may or
// may not exist, or by a fresh id for creations.
type Ref = { n: number } | { id: string } | { prod: number };
const WILD = ['w0', 'w1', 'x', 'a0', 'a1', 'nope', 'w9'];
const ref: fc.Arbitrary<Ref> = fc.oneof(
  { weight: 9, arbitrary: fc.nat(999).map((n) => ({ n })) },
  { weight: 1, arbitrary: fc.constantFrom(...WILD).map((id) => ({ id })) },
);
/** An app, most often a production one: only those have sharing to speak of. */
const appRef: fc.Arbitrary<Ref> = fc.oneof(
  { weight: 3, arbitrary: fc.nat(999).map((prod) => ({ prod })) },
  { weight: 1, arbitrary: ref },
);
const fresh: fc.Arbitrary<Ref | null> = fc.oneof(
  { weight: 9, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constantFrom(...WILD).map((id) => ({ id })) },
);
const env = fc.constantFrom<Environment>('development', 'production', 'production', 'production');
const kind = fc.constantFrom<WorkspaceKind>('organizational', 'organizational', 'personal');
const refs = fc.array(ref, { maxLength: 3 });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

type Gen =
  | { t: 'ws'; id: Ref | null; kind: WorkspaceKind; parent: Ref | null }
  | { t: 'app'; id: Ref | null; ws: Ref; env: Environment }
  | {
      t: 'scope';
      app: Ref;
      scope?: Scope | undefined;
      workspaces?: Ref[] | undefined;
      add?: Ref[] | undefined;
      remove?: Ref[] | undefined;
      env?: Environment | undefined;
      revoke: boolean;
    }
  | { t: 'install' | 'uninstall'; app: Ref; ws: Ref; smart: boolean }
  | { t: 'update'; app: Ref; name?: string | undefined; env?: Environment | undefined };

const gen: fc.Arbitrary<Gen> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('ws' as const),
      id: fresh,
      kind,
      parent: fc.option(ref, { nil: null, freq: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('app' as const), id: fresh, ws: ref, env }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('scope' as const),
      app: appRef,
      scope: fc.constantFrom(...SCOPES),
      revoke: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        t: fc.constant('scope' as const),
        app: appRef,
        scope: fc.constant('CustomWorkspaceAccess' as const),
        workspaces: fc.array(ref, { minLength: 1, maxLength: 3 }),
        revoke: fc.boolean(),
      },
      { requiredKeys: ['t', 'app', 'workspaces', 'revoke'] },
    ),
  },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        t: fc.constant('scope' as const),
        app: appRef,
        add: refs,
        remove: refs,
        revoke: fc.boolean(),
      },
      { requiredKeys: ['t', 'app', 'revoke'] },
    ),
  },
  {
    // Anything at all, most of it refused.
    weight: 1,
    arbitrary: fc.record(
      {
        t: fc.constant('scope' as const),
        app: appRef,
        scope: opt(fc.constantFrom(...SCOPES)),
        workspaces: opt(refs),
        add: opt(refs),
        remove: opt(refs),
        env: opt(env),
        revoke: fc.boolean(),
      },
      { requiredKeys: ['t', 'app', 'revoke'] },
    ),
  },
  {
    weight: 9,
    arbitrary: fc.record({
      t: fc.constantFrom('install' as const, 'install' as const, 'uninstall' as const),
      app: appRef,
      ws: ref,
      // Mostly a workspace the app's sharing reaches (or, to uninstall, one that installed it).
      smart: fc.constantFrom(true, true, true, true, false),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        t: fc.constant('update' as const),
        app: ref,
        name: opt(fc.string({ maxLength: 8 })),
        env: opt(env),
      },
      { requiredKeys: ['t', 'app'] },
    ),
  },
);

type Step = { bulk: boolean; cmds: Gen[] };
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: gen.map((c) => ({ bulk: false, cmds: [c] })) },
  {
    weight: 1,
    arbitrary: fc.array(gen, { minLength: 1, maxLength: 5 }).map((cmds) => ({ bulk: true, cmds })),
  },
);

/** A world to start from: a few workspaces, each under an earlier one or at the root. */
const world = fc.record({
  workspaces: fc.array(fc.record({ kind, parent: fc.option(fc.nat(99), { nil: null }) }), {
    minLength: 2,
    maxLength: 7,
  }),
  apps: fc.array(fc.record({ ws: fc.nat(99), env }), { minLength: 1, maxLength: 6 }),
});

interface State {
  ws: string[];
  apps: string[];
  prodApps: string[];
  /** app id -> workspaces other than the owner that its sharing reaches. */
  reach: Map<string, string[]>;
  installs: Map<string, string[]>;
  nextWs: number;
  nextApp: number;
}

function state(store: SqliteStore, s: Pick<State, 'nextWs' | 'nextApp'>): State {
  const db = store.connection;
  const reach = new Map<string, string[]>();
  for (const pair of directCheck(store).visible) {
    const [app, ws] = pair.split('>') as [string, string];
    if (!reach.has(app)) reach.set(app, []);
    reach.get(app)!.push(ws);
  }
  const owners = new Map(
    (
      db.prepare('SELECT id, workspace_id FROM apps').all() as {
        id: string;
        workspace_id: string;
      }[]
    ).map((a) => [a.id, a.workspace_id]),
  );
  for (const [app, list] of reach)
    reach.set(
      app,
      list.filter((w) => w !== owners.get(app)),
    );
  const installs = new Map<string, string[]>();
  for (const i of db.prepare('SELECT app_id, workspace_id FROM installs').all() as {
    app_id: string;
    workspace_id: string;
  }[]) {
    if (!installs.has(i.app_id)) installs.set(i.app_id, []);
    installs.get(i.app_id)!.push(i.workspace_id);
  }
  return {
    ws: db.prepare('SELECT id FROM workspaces ORDER BY id').pluck().all() as string[],
    apps: db.prepare('SELECT id FROM apps ORDER BY id').pluck().all() as string[],
    prodApps: db
      .prepare("SELECT id FROM apps WHERE environment = 'production' ORDER BY id")
      .pluck()
      .all() as string[],
    reach,
    installs,
    ...s,
  };
}

function resolve(r: Ref, among: string[]): string {
  if ('id' in r) return r.id;
  const n = 'n' in r ? r.n : r.prod;
  return among.length === 0 ? 'none' : among[n % among.length]!;
}

/** Fixes a generated command's ids against the state; fresh ids are taken in order. */
function bind(g: Gen, st: State): Cmd {
  const ws = (r: Ref) => resolve(r, st.ws);
  const app = (r: Ref) => resolve(r, 'prod' in r && st.prodApps.length > 0 ? st.prodApps : st.apps);
  switch (g.t) {
    case 'ws':
      return {
        t: 'ws',
        id: g.id ? resolve(g.id, st.ws) : `w${st.nextWs++}`,
        kind: g.kind,
        parent: g.parent === null ? null : ws(g.parent),
      };
    case 'app':
      return {
        t: 'app',
        id: g.id ? resolve(g.id, st.apps) : `a${st.nextApp++}`,
        ws: ws(g.ws),
        env: g.env,
      };
    case 'scope': {
      const c: Cmd = { t: 'scope', app: app(g.app), revoke: g.revoke };
      if (g.scope !== undefined) c.scope = g.scope;
      if (g.workspaces !== undefined) c.workspaces = g.workspaces.map(ws);
      if (g.add !== undefined) c.add = g.add.map(ws);
      if (g.remove !== undefined) c.remove = g.remove.map(ws);
      if (g.env !== undefined) c.env = g.env;
      return c;
    }
    case 'install':
    case 'uninstall': {
      const a = app(g.app);
      const near = (g.t === 'install' ? st.reach : st.installs).get(a) ?? [];
      const w = g.smart && near.length > 0 ? resolve(g.ws, near) : ws(g.ws);
      return { t: g.t, app: a, ws: w };
    }
    case 'update': {
      const c: Cmd = { t: 'update', app: app(g.app) };
      if (g.name !== undefined) c.name = g.name;
      if (g.env !== undefined) c.env = g.env;
      return c;
    }
  }
}

type Result = Outcome<unknown> & { revokeEvents?: EventInput[] };

function apply(w: Writer, c: Cmd, meta: Meta): Promise<Result> {
  switch (c.t) {
    case 'ws':
      return createWorkspace(w, { id: c.id, name: c.id, kind: c.kind, parentId: c.parent }, meta);
    case 'app':
      return createApp(w, { id: c.id, name: c.id, workspaceId: c.ws, environment: c.env }, meta);
    case 'scope': {
      const req: Parameters<typeof setScope>[2] = { revokeInstalls: c.revoke };
      if (c.scope !== undefined) req.scope = c.scope;
      if (c.workspaces !== undefined) req.workspaces = c.workspaces;
      if (c.add !== undefined) req.add = c.add;
      if (c.remove !== undefined) req.remove = c.remove;
      if (c.env !== undefined) req.environment = c.env;
      return setScope(w, c.app, req, meta, { write: true });
    }
    case 'install':
    case 'uninstall':
      return install(w, c.app, c.ws, meta, c.t === 'uninstall');
    case 'update': {
      const req: { name?: string; environment?: Environment } = {};
      if (c.name !== undefined) req.name = c.name;
      if (c.env !== undefined) req.environment = c.env;
      return updateApp(w, c.app, req, meta);
    }
  }
}

class RollBack extends Error {}

const stats = { steps: 0, applied: 0, denied: 0, bulkApplied: 0, bulkRolledBack: 0 };
const appliedKinds = new Map<string, number>();
const refusals = new Map<string, number>();

/** Runs a step as the CLI would: one transaction; a refusal records only its denied events. */
async function run(
  store: SqliteStore,
  s: { bulk: boolean; cmds: Cmd[] },
  meta: Meta,
): Promise<boolean> {
  const denied: EventInput[] = [];
  let ok = true;
  try {
    await store.write(async (w) => {
      for (const c of s.cmds) {
        const o = await apply(w, c, meta);
        if (!o.ok) {
          const key = `${c.t}:${o.denial.code}`;
          refusals.set(key, (refusals.get(key) ?? 0) + 1);
          ok = false;
          denied.push(o.event);
          if (!s.bulk) break;
          continue;
        }
        if (!ok) continue;
        if (o.event) {
          await w.appendEvent(o.event);
          const kind =
            c.t === 'scope' ? `scope:${(o.event.after as { scope: string }).scope}` : c.t;
          appliedKinds.set(kind, (appliedKinds.get(kind) ?? 0) + 1);
        }
        for (const e of o.revokeEvents ?? []) {
          await w.appendEvent(e);
          appliedKinds.set('revoked install', (appliedKinds.get('revoked install') ?? 0) + 1);
        }
      }
      if (!ok) throw new RollBack();
    });
  } catch (err) {
    if (!(err instanceof RollBack)) throw err;
  }
  if (denied.length > 0) {
    await store.write(async (w) => {
      for (const e of denied) await w.appendEvent(e);
    });
  }
  return ok;
}

/** Everything the rules govern, as text, to see that a refusal changed nothing. */
function dump(store: SqliteStore): string {
  const db = store.connection;
  return ['workspaces', 'apps', 'app_access', 'installs']
    .map((t) => JSON.stringify(db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()))
    .join('\n');
}

interface RawApp {
  id: string;
  workspace_id: string;
  environment: string;
  scope: string;
}

/** The rules read straight from the tables, without any of the product's code. */
function directCheck(store: SqliteStore): { problems: string[]; visible: string[] } {
  const db = store.connection;
  const problems: string[] = [];
  const ws = new Map(
    (
      db.prepare('SELECT id, kind, parent_id FROM workspaces').all() as {
        id: string;
        kind: string;
        parent_id: string | null;
      }[]
    ).map((w) => [w.id, w]),
  );
  const apps = db
    .prepare('SELECT id, workspace_id, environment, scope FROM apps')
    .all() as RawApp[];
  const lists = new Map<string, Set<string>>();
  for (const r of db.prepare('SELECT app_id, workspace_id FROM app_access').all() as {
    app_id: string;
    workspace_id: string;
  }[]) {
    if (!lists.has(r.app_id)) lists.set(r.app_id, new Set());
    lists.get(r.app_id)!.add(r.workspace_id);
  }
  const under = (child: string, owner: string): boolean => {
    for (let p = ws.get(child)?.parent_id; p; p = ws.get(p)?.parent_id)
      if (p === owner) return true;
    return false;
  };
  const visible = (a: RawApp, w: string): boolean => {
    if (w === a.workspace_id) return true;
    if (a.environment !== 'production') return false;
    if (a.scope === 'AllWorkspaces') return true;
    if (a.scope === 'AllChildWorkspaces') return under(w, a.workspace_id);
    if (a.scope === 'CustomWorkspaceAccess') return lists.get(a.id)?.has(w) ?? false;
    return false;
  };
  for (const a of apps) {
    const list = lists.get(a.id) ?? new Set();
    if (a.environment === 'development' && a.scope !== 'CurrentWorkspaceOnly') {
      problems.push(`development app ${a.id} has ${a.scope}`);
    }
    if (a.environment === 'production' && ws.get(a.workspace_id)?.kind !== 'organizational') {
      problems.push(`production app ${a.id} in ${ws.get(a.workspace_id)?.kind} workspace`);
    }
    if (a.scope !== 'CustomWorkspaceAccess' && list.size > 0) {
      problems.push(`${a.id} keeps a list on ${a.scope}`);
    }
    if (a.scope === 'CustomWorkspaceAccess' && list.size === 0)
      problems.push(`${a.id}: empty list`);
    if (list.has(a.workspace_id)) problems.push(`${a.id}: owner in its list`);
    for (const w of ws.keys()) {
      if (a.environment === 'development' && w !== a.workspace_id && visible(a, w)) {
        problems.push(`development app ${a.id} visible to ${w}`);
      }
    }
  }
  const byId = new Map(apps.map((a) => [a.id, a]));
  for (const i of db.prepare('SELECT app_id, workspace_id FROM installs').all() as {
    app_id: string;
    workspace_id: string;
  }[]) {
    const a = byId.get(i.app_id)!;
    if (i.workspace_id === a.workspace_id) problems.push(`${a.id} installed by its owner`);
    else if (!visible(a, i.workspace_id)) {
      problems.push(`${i.workspace_id} installed ${a.id}, which ${a.scope} does not cover`);
    }
  }
  // The product's views must say exactly what this reading says, app by app.
  const pairs = apps.flatMap((a) =>
    [...ws.keys()].filter((w) => visible(a, w)).map((w) => `${a.id}>${w}`),
  );
  return { problems, visible: pairs };
}

async function productView(store: SqliteStore): Promise<{ findings: string[]; seen: string[] }> {
  return store.read(async (r) => {
    const findings = (await scanData(r)).map((f) => `${f.code} ${f.target}`);
    const seen: string[] = [];
    for await (const app of r.listApps({})) {
      for await (const e of audience(r, app)) if (e.visible) seen.push(`${app.id}>${e.id}`);
      // And what each workspace's own listing shows, which must agree with the audience.
      for await (const w of r.listWorkspaces()) {
        const ref = refOf(w);
        if (sees(app, ref)) {
          let listed = false;
          for await (const v of r.appsVisibleTo(ref, {})) if (v.id === app.id) listed = true;
          if (!listed) findings.push(`${app.id} sees ${w.id} but is not in its listing`);
        }
      }
    }
    return { findings, seen };
  });
}

let runNo = 0;

describe('rules hold under random sequences of changes', () => {
  it(`${RUNS} random sequences (seed ${SEED})`, async () => {
    const property = fc.asyncProperty(
      world,
      fc.array(step, { minLength: 1, maxLength: 30, size: 'max' }),
      async (w, steps) => {
        const path = join(dir, `r${runNo++}.db`);
        const store = SqliteStore.open(path);
        let clock = Date.parse('2026-01-01T00:00:00Z');
        const counters = { nextWs: 0, nextApp: 0 };
        // The world is built by the same service functions, each creation one step.
        const setup: Cmd[] = [];
        w.workspaces.forEach((x, i) => {
          const parent = x.parent === null || i === 0 ? null : `w${x.parent % i}`;
          setup.push({ t: 'ws', id: `w${i}`, kind: x.kind, parent });
        });
        counters.nextWs = w.workspaces.length;
        w.apps.forEach((x, i) => {
          setup.push({ t: 'app', id: `a${i}`, ws: `w${x.ws % w.workspaces.length}`, env: x.env });
        });
        counters.nextApp = w.apps.length;
        const plan: (Step | { bulk: false; cmds: Cmd[]; bound: true })[] = [
          ...setup.map((c) => ({ bulk: false as const, cmds: [c], bound: true as const })),
          ...steps,
        ];
        try {
          for (const raw of plan) {
            const st = state(store, counters);
            const s = {
              bulk: raw.bulk,
              cmds: 'bound' in raw ? raw.cmds : (raw.cmds as Gen[]).map((g) => bind(g, st)),
            };
            counters.nextWs = st.nextWs;
            counters.nextApp = st.nextApp;
            const what = JSON.stringify(s);
            const meta: Meta = {
              actor: 'prop@ddx.example',
              at: new Date((clock += 1000)).toISOString(),
            };
            const before = dump(store);
            const eventsBefore = (await store.read((r) => r.auditHead())).seq;
            let ok: boolean;
            try {
              ok = await run(store, s, meta);
            } catch (err) {
              const said = err instanceof DdxError ? `${err.code}: ${err.message}` : String(err);
              throw new Error(`${what} threw instead of being decided: ${said}`);
            }
            stats.steps++;
            const eventsAfter = (await store.read((r) => r.auditHead())).seq;
            if (ok) {
              stats.applied++;
              if (s.bulk) stats.bulkApplied++;
            } else {
              stats.denied++;
              if (s.bulk) stats.bulkRolledBack++;
              expect(dump(store), `refused ${what} changed data`).toBe(before);
              expect(eventsAfter).toBeGreaterThan(eventsBefore);
            }
            if (!s.bulk && dump(store) === before) {
              // A single command that changed nothing added no applied event. (A batch may
              // change something and change it back: install, then uninstall.)
              const added = store.connection
                .prepare("SELECT count(*) FROM audit_events WHERE seq > ? AND outcome = 'applied'")
                .pluck()
                .get(eventsBefore);
              expect(added, `an applied event without a change: ${what}`).toBe(0);
            }
            const direct = directCheck(store);
            expect(direct.problems, what).toEqual([]);
            const view = await productView(store);
            expect(view.findings, what).toEqual([]);
            expect(view.seen.sort(), what).toEqual(direct.visible.sort());
          }
          const chain = await store.read((r) => verifyChain(r.auditEvents({})));
          expect(chain.ok, chain.problem ?? '').toBe(true);
        } finally {
          await store.close();
          rmSync(path, { force: true });
          rmSync(`${path}-wal`, { force: true });
          rmSync(`${path}-shm`, { force: true });
        }
      },
    );
    const t0 = performance.now();
    try {
      await fc.assert(property, { numRuns: RUNS, seed: SEED });
    } catch (err) {
      console.log(`[stress] rules-sequences failed: replay with FC_SEED=${SEED} FC_RUNS=${RUNS}`);
      throw err;
    }
    const kinds = Object.fromEntries([...appliedKinds].sort());
    console.log(
      `[stress] rules-sequences (FC_RUNS=${RUNS}, seed ${SEED})\n` +
        `  steps: ${stats.steps}, applied: ${stats.applied}, refused: ${stats.denied}, ` +
        `bulk applied: ${stats.bulkApplied}, bulk rolled back: ${stats.bulkRolledBack}\n` +
        `  applied changes by kind: ${JSON.stringify(kinds)}\n` +
        `  refusals by kind: ${JSON.stringify(Object.fromEntries([...refusals].sort()))}\n` +
        `  seconds: ${((performance.now() - t0) / 1000).toFixed(1)}`,
    );
    // The sequences must reach the interesting states, not just bounce off empty databases.
    if (RUNS >= 200) {
      expect(appliedKinds.get('install') ?? 0).toBeGreaterThan(RUNS / 10);
      expect(appliedKinds.get('scope:CustomWorkspaceAccess') ?? 0).toBeGreaterThan(RUNS / 20);
      expect(appliedKinds.get('scope:AllChildWorkspaces') ?? 0).toBeGreaterThan(RUNS / 20);
    }
  });
});
