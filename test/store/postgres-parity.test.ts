import { afterAll, expect, it } from 'vitest';
import type { App, Scope, Workspace } from '../../src/rules/types.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { refOf, type Reader, type Store, type Writer } from '../../src/store/store.js';
import { tempDir } from '../helpers/cli.js';
import { T, app, ws } from './pg-fixtures.js';
import { collect, describePg, eventInput, useTestDatabase } from './pg-helpers.js';

// The PostgreSQL store must answer every question exactly as the SQLite one does: the same
// rows in the same order (ids and paths in byte order, across page boundaries), and, inside a
// write, the same answers while its writes are still buffered.

const SCOPES: Scope[] = ['CurrentWorkspaceOnly', 'AllChildWorkspaces', 'AllWorkspaces'];
const tmp = tempDir('ddx-pg-parity-');
afterAll(() => tmp.cleanup());

/** A small seeded generator, so both backends see the very same session. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random valid changes interleaved with lookups, every answer logged. Ids mix '-', '_' and
 * digits, which sort differently in byte order than in most locales.
 */
async function session(w: Writer, seed: number, steps: number): Promise<unknown[]> {
  const rnd = random(seed);
  const log: unknown[] = [];
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rnd() * xs.length)]!;
  const fresh = (p: string): string =>
    `${p}${pick(['', '-', '_', '0', 'z'])}${Math.floor(rnd() * 1e6).toString(36)}`;
  const workspaces: Workspace[] = [];
  const apps: string[] = [];
  for (let i = 0; i < steps; i++) {
    const r = rnd();
    const appId = apps.length > 0 ? pick(apps) : undefined;
    if (workspaces.length < 3 || r < 0.12) {
      const orgs = workspaces.filter((x) => x.kind === 'organizational');
      const parent = orgs.length > 0 && rnd() < 0.85 ? pick(orgs).id : null;
      const ws: Workspace = {
        id: fresh('w'),
        name: `W${i}`,
        kind: rnd() < 0.2 ? 'personal' : 'organizational',
        parentId: parent,
        createdAt: T,
      };
      if ((await w.idTaken('workspaces', [ws.id])).size > 0) continue;
      await w.insertWorkspace(ws);
      workspaces.push(ws);
    } else if (r < 0.3 || appId === undefined) {
      const owner = pick(workspaces);
      const env = owner.kind === 'organizational' && rnd() < 0.8 ? 'production' : 'development';
      const id = fresh('a');
      if ((await w.idTaken('apps', [id])).size > 0) continue;
      const app: App = {
        ...{ id, name: `A${i}`, workspaceId: owner.id, environment: env },
        ...{ scope: 'CurrentWorkspaceOnly', workspaces: [], createdAt: T, updatedAt: T },
      };
      await w.insertApp(app);
      apps.push(id);
    } else if (r < 0.5) {
      const app = (await w.getApp(appId))!;
      log.push(app);
      if (app.environment !== 'production') continue;
      const others = workspaces.filter((x) => x.id !== app.workspaceId).map((x) => x.id);
      const custom = rnd() < 0.4;
      const list = custom ? [...new Set([pick(others), pick(others), pick(others)])] : [];
      const scope = custom ? 'CustomWorkspaceAccess' : pick(SCOPES);
      await w.setSharing(app, scope, list, `2030-02-0${1 + (i % 9)}`);
    } else if (r < 0.6) {
      const app = (await w.getApp(appId))!;
      const ws = pick(workspaces).id;
      const installed = await w.isInstalled(appId, ws);
      log.push(installed);
      if (app.environment === 'production' && ws !== app.workspaceId && !installed) {
        await w.addInstall(appId, ws, T);
      }
    } else if (r < 0.67) {
      const installs = await w.installsOf(appId);
      log.push(installs);
      if (installs.length > 0) await w.removeInstall(appId, pick(installs));
    } else if (r < 0.72) {
      await w.renameApp(appId, `renamed ${i}`, `2030-03-0${1 + (i % 9)}`);
    } else if (r < 0.82) {
      log.push(await w.appendEvent(eventInput(i, { target: appId })));
    } else {
      log.push(await lookup(w, rnd, pick(workspaces), appId));
    }
  }
  return log;
}

async function lookup(
  r: Reader,
  rnd: () => number,
  ws: Workspace,
  appId: string,
): Promise<unknown> {
  const row = (await r.getWorkspace(ws.id))!;
  switch (Math.floor(rnd() * 10)) {
    case 0:
      return collect(r.descendants(ws.id));
    case 1:
      return collect(r.appsVisibleTo(refOf(row), {}));
    case 2:
      return collect(r.listApps({ shared: true }));
    case 3:
      return collect(r.listApps({ workspaceId: ws.id }));
    case 4:
      return [...(await r.installedBy(ws.id, [appId]))];
    case 5:
      return [await r.auditHead(), await collect(r.auditEvents({ target: appId, limit: 3 }))];
    case 6:
      return [await r.countWorkspaces(), [...(await r.getWorkspaces([ws.id, 'nope']))]];
    case 7:
      return collect(r.listInstalls());
    case 8:
      return [await r.getApp(appId), row];
    default:
      return collect(r.listWorkspaces());
  }
}

/** Everything a reader can list, for comparing two whole databases. */
async function everything(store: Store): Promise<unknown> {
  return store.read(async (r) => {
    const workspaces = await collect(r.listWorkspaces());
    const visible = [];
    // A sample: with hundreds of apps shared to all, every workspace sees most of them.
    for (const ws of workspaces.filter((_, i) => i % 25 === 0)) {
      visible.push(await collect(r.appsVisibleTo(refOf(ws), {})));
    }
    return {
      workspaces,
      visible,
      descendants: await collect(r.descendants(workspaces[0]?.id ?? '')),
      apps: await collect(r.listApps({})),
      shared: await collect(r.listApps({ shared: true })),
      all: await collect(r.listApps({ scope: 'AllWorkspaces', environment: 'production' })),
      installs: await collect(r.listInstalls()),
      events: await collect(r.auditEvents({})),
      since: await collect(r.auditEvents({ since: '2030-01-01T00:00:30.000Z', limit: 7 })),
    };
  });
}

describePg('PostgresStore answers as SqliteStore does', () => {
  const db = useTestDatabase();
  let n = 0;
  const pair = async (): Promise<[Store, Store]> => [
    SqliteStore.open(`${tmp.dir}/parity-${++n}.db`),
    await db.open(),
  ];

  it('lists more than a page of rows in the same order', async () => {
    const [sqlite, postgres] = await pair();
    const roots = ['r-a', 'r_a', 'r0', 'ra', 'r-0', 'r_0', 'rz', 'r-z', 'r9', 'r_9'];
    const child = (i: number): string => `${roots[i % 10]}${['-', '_', '', '0'][i % 4]}${i}`;
    for (const store of [sqlite, postgres]) {
      await store.write(async (w) => {
        for (const id of roots) await w.insertWorkspace(ws(id, null));
        for (let i = 0; i < 1500; i++) await w.insertWorkspace(ws(child(i), roots[i % 10]!));
        for (let i = 0; i < 300; i++) await w.insertWorkspace(ws(`g${i}`, child(i * 5)));
        for (let i = 0; i < 2500; i++) {
          const id = `a${['-', '_', ''][i % 3]}${i}`;
          await w.insertApp(app(id, child(i % 1500), i % 7 === 0 ? 'development' : 'production'));
          if (i % 7 === 0) continue;
          if (i % 3 === 0) await w.setSharing((await w.getApp(id))!, 'AllWorkspaces', [], T);
          if (i % 5 === 1)
            await w.setSharing(
              (await w.getApp(id))!,
              'CustomWorkspaceAccess',
              [`g${i % 300}`, 'r0'],
              T,
            );
          if (i % 2 === 0) await w.addInstall(id, child((i + 1) % 1500), T);
          if (i % 11 === 0) await w.setSharing((await w.getApp(id))!, 'AllChildWorkspaces', [], T);
        }
      });
    }
    expect(await everything(postgres)).toEqual(await everything(sqlite));
  });

  it('gives the same answers inside a write, before and after it commits', async () => {
    for (const seed of [1, 2, 3]) {
      const [sqlite, postgres] = await pair();
      const want = await sqlite.write((w) => session(w, seed, 1200));
      const got = await postgres.write((w) => session(w, seed, 1200));
      expect(got).toEqual(want);
      expect(await everything(postgres)).toEqual(await everything(sqlite));
    }
  }, 60_000);
});
