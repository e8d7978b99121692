// The audit trail is a complete record: replaying only its applied events, from nothing, rebuilds
// exactly the workspaces, apps and installs the database holds. Random sequences of changes go
// through the same service functions every command uses, in-process, on a fresh database of
// each backend per run (a SQLite file, a PostgreSQL schema).
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { verifyChain } from '../../src/audit/chain.js';
import type { AuditEvent, EventInput } from '../../src/audit/event.js';
import type { App, Environment, Scope, WorkspaceKind } from '../../src/rules/types.js';
import {
  createApp,
  createWorkspace,
  install,
  setScope,
  updateApp,
  type Meta,
} from '../../src/service/changes.js';
import { openStore } from '../../src/store/open.js';
import type { Writer } from '../../src/store/store.js';
import { describeBackends } from '../helpers/backends.js';

const RUNS = Number(process.env.FC_RUNS ?? 25);
const WS = ['w0', 'w1', 'w2', 'w3', 'w4', 'w5'];
const APPS = ['a0', 'a1', 'a2', 'a3'];
const SCOPES: Scope[] = [
  'CurrentWorkspaceOnly',
  'AllChildWorkspaces',
  'AllWorkspaces',
  'CustomWorkspaceAccess',
];

type Op =
  | { op: 'ws'; id: string; kind: WorkspaceKind; parent: string | null }
  | { op: 'app'; id: string; ws: string; env: Environment }
  | {
      op: 'scope';
      app: string;
      scope: Scope | undefined;
      workspaces: string[] | undefined;
      add: string[] | undefined;
      remove: string[] | undefined;
      revoke: boolean;
    }
  | { op: 'install'; app: string; ws: string; uninstall: boolean }
  | { op: 'rename'; app: string; name: string };

const wsId = fc.constantFrom(...WS);
const appId = fc.constantFrom(...APPS);
const ids = fc.uniqueArray(wsId, { maxLength: 3 });

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('ws' as const),
      id: wsId,
      kind: fc.constantFrom<WorkspaceKind>('organizational', 'organizational', 'personal'),
      parent: fc.option(wsId, { nil: null }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('app' as const),
      id: appId,
      ws: wsId,
      env: fc.constantFrom<Environment>('production', 'production', 'development'),
    }),
  },
  {
    weight: 5,
    arbitrary: fc
      .tuple(
        appId,
        fc.constantFrom(...SCOPES, 'AllWorkspaces', 'AllChildWorkspaces'),
        fc.constantFrom('plain', 'plain', 'list', 'add', 'remove', 'mixed'),
        fc.uniqueArray(wsId, { minLength: 1, maxLength: 3 }),
        ids,
        fc.boolean(),
      )
      .map(([app, scope, shape, list, other, revoke]): Op => {
        const none = { workspaces: undefined, add: undefined, remove: undefined };
        const o = { op: 'scope' as const, app, revoke, ...none };
        switch (shape) {
          case 'plain':
            return { ...o, scope };
          case 'list':
            return { ...o, scope: 'CustomWorkspaceAccess', workspaces: list };
          case 'add':
            return { ...o, scope: undefined, add: list };
          case 'remove':
            return { ...o, scope: undefined, remove: list };
          default:
            return { ...o, scope, workspaces: list, add: other, remove: other.slice(1) };
        }
      }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('install' as const),
      app: appId,
      ws: wsId,
      uninstall: fc.constantFrom(false, false, true),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('rename' as const),
      app: appId,
      name: fc.constantFrom('Alpha', 'Beta'),
    }),
  },
);

// A setup that mostly succeeds (each workspace's parent is an earlier one, or none; each app
// is made in one of them, shared with everyone, and installed here and there), then random
// changes of every kind, many of which are refused.
const setup: fc.Arbitrary<Op[]> = fc
  .tuple(
    fc.tuple(
      ...WS.map((id, i) =>
        fc.record({
          op: fc.constant('ws' as const),
          id: fc.constant(id),
          kind: fc.constantFrom<WorkspaceKind>('organizational', 'organizational', 'personal'),
          parent:
            i === 0
              ? fc.constant(null)
              : fc.option(fc.constantFrom(...WS.slice(0, i)), { nil: null, freq: 3 }),
        }),
      ),
    ),
    fc.tuple(
      ...APPS.map((id) =>
        fc.record({
          op: fc.constant('app' as const),
          id: fc.constant(id),
          ws: wsId,
          env: fc.constantFrom<Environment>('production', 'production', 'development'),
        }),
      ),
    ),
    fc.array(fc.tuple(appId, wsId), { minLength: 2, maxLength: 6 }),
  )
  .map(([w, a, installs]) => [
    ...w,
    ...a,
    // Share every app with everyone (refused for development apps), then install some.
    ...APPS.map((app): Op => ({
      op: 'scope',
      app,
      scope: 'AllWorkspaces',
      workspaces: undefined,
      add: undefined,
      remove: undefined,
      revoke: false,
    })),
    ...installs.map(([app, ws]): Op => ({ op: 'install', app, ws, uninstall: false })),
  ]);

// The state as a plain model, rebuilt from nothing but events.
interface ModelWs {
  id: string;
  name: string;
  kind: string;
  parentId: string | null;
  createdAt: string;
  ancestors: string[];
}
interface Model {
  workspaces: Map<string, ModelWs>;
  apps: Map<string, App>;
  installs: Set<string>;
}

function replay(events: readonly AuditEvent[]): Model {
  const m: Model = { workspaces: new Map(), apps: new Map(), installs: new Set() };
  for (const e of events) {
    if (e.outcome !== 'applied') continue;
    const before = e.before === null ? null : (JSON.parse(e.before) as Record<string, any>);
    const after = e.after === null ? null : (JSON.parse(e.after) as Record<string, any>);
    switch (e.action) {
      case 'workspace.create': {
        const parent = after!.parentId === null ? undefined : m.workspaces.get(after!.parentId);
        expect(after!.parentId === null || parent !== undefined).toBe(true);
        m.workspaces.set(e.target, {
          id: after!.id,
          name: after!.name,
          kind: after!.kind,
          parentId: after!.parentId,
          createdAt: e.at,
          ancestors: parent ? [...parent.ancestors, parent.id] : [],
        });
        break;
      }
      case 'app.create':
        m.apps.set(e.target, {
          id: after!.id,
          name: after!.name,
          workspaceId: after!.workspaceId,
          environment: after!.environment,
          scope: after!.scope,
          workspaces: [],
          createdAt: e.at,
          updatedAt: e.at,
        });
        break;
      case 'app.set-scope': {
        const app = m.apps.get(e.target)!;
        expect(before).toEqual({ scope: app.scope, workspaces: app.workspaces });
        m.apps.set(e.target, {
          ...app,
          scope: after!.scope,
          workspaces: after!.workspaces,
          updatedAt: e.at,
        });
        break;
      }
      case 'app.update': {
        const app = m.apps.get(e.target)!;
        m.apps.set(e.target, { ...app, name: after!.name, updatedAt: e.at });
        break;
      }
      case 'app.install':
        m.installs.add(`${e.target}@${after!.workspace}`);
        break;
      case 'app.uninstall':
        expect(m.installs.delete(`${e.target}@${before!.workspace}`)).toBe(true);
        break;
      default:
        throw new Error(`unexpected action ${e.action}`);
    }
  }
  return m;
}

async function apply(w: Writer, o: Op, meta: Meta) {
  switch (o.op) {
    case 'ws':
      return createWorkspace(
        w,
        { id: o.id, name: `WS ${o.id}`, kind: o.kind, parentId: o.parent },
        meta,
      );
    case 'app':
      return createApp(
        w,
        { id: o.id, name: `App ${o.id}`, workspaceId: o.ws, environment: o.env },
        meta,
      );
    case 'scope': {
      const req: Parameters<typeof setScope>[2] = { revokeInstalls: o.revoke };
      if (o.scope !== undefined) req.scope = o.scope;
      if (o.workspaces !== undefined) req.workspaces = o.workspaces;
      if (o.add !== undefined) req.add = o.add;
      if (o.remove !== undefined) req.remove = o.remove;
      return setScope(w, o.app, req, meta, { write: true });
    }
    case 'install':
      return install(w, o.app, o.ws, meta, o.uninstall);
    case 'rename':
      return updateApp(w, o.app, { name: o.name }, meta);
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describeBackends('audit replay', (backend) => {
  it('replaying only the applied events rebuilds exactly the stored data', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        setup,
        fc.array(op, { minLength: 20, maxLength: 60 }),
        async (prefix, rest) => {
          const ops = [...prefix, ...rest];
          const t = await backend.fresh();
          const store = await openStore(t.location);
          try {
            let applied = 0;
            let denied = 0;
            const start = Date.parse('2026-06-01T00:00:00.000Z');
            for (const [i, o] of ops.entries()) {
              const meta: Meta = {
                actor: 'staff@ddx.example',
                at: new Date(start + i * 1000).toISOString(),
                ticket: i % 3 === 0 ? `SUP-${i}` : null,
              };
              await store.write(async (w) => {
                const out = await apply(w, o, meta);
                if (!out.ok) {
                  await w.appendEvent(out.event);
                  denied++;
                  return;
                }
                if (out.event) {
                  await w.appendEvent(out.event);
                  applied++;
                }
                for (const e of (out as { revokeEvents?: EventInput[] }).revokeEvents ?? []) {
                  await w.appendEvent(e);
                  applied++;
                }
              });
            }

            const { events, workspaces, apps, installs, verified } = await store.read(
              async (r) => ({
                events: await collect(r.auditEvents({})),
                workspaces: await collect(r.listWorkspaces()),
                apps: await collect(r.listApps({})),
                installs: await collect(r.listInstalls()),
                verified: await verifyChain(r.auditEvents({})),
              }),
            );
            for (const e of events) {
              const key = `${e.action} ${e.outcome}`;
              seen.set(key, (seen.get(key) ?? 0) + 1);
            }
            expect(verified.ok).toBe(true);
            expect(events.filter((e) => e.outcome === 'applied')).toHaveLength(applied);
            expect(events.filter((e) => e.outcome === 'denied')).toHaveLength(denied);
            expect(events.filter((e) => e.outcome === 'denied').every((e) => e.code)).toBe(true);

            const model = replay(events);
            const byId = <T extends { id: string }>(xs: Iterable<T>) =>
              [...xs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
            expect(byId(workspaces)).toEqual(byId(model.workspaces.values()));
            expect(apps).toEqual(byId(model.apps.values()));
            expect(installs.map((i) => `${i.appId}@${i.workspaceId}`).sort()).toEqual(
              [...model.installs].sort(),
            );
          } finally {
            await store.close();
            await t.cleanup();
          }
        },
      ),
      { numRuns: RUNS },
    );
    // The generator must reach real changes of every kind, not only denials.
    if (process.env.DEBUG_REPLAY) console.log(seen);
    if (RUNS >= 25) {
      for (const action of ['app.set-scope', 'app.install', 'app.uninstall', 'app.update']) {
        expect(seen.get(`${action} applied`) ?? 0, action).toBeGreaterThan(0);
      }
    }
  });
});
