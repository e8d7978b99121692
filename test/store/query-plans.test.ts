import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { audience, audienceChange, explain } from '../../src/service/views.js';
import { refOf } from '../../src/store/store.js';
import { tempDir } from '../helpers/cli.js';

// Every statement the store prepares while answering the commands' questions is run through
// EXPLAIN QUERY PLAN on a database large enough for the planner to have choices. A full scan
// of apps, workspaces or audit events fails the test: at a million apps it costs seconds.

const tmp = tempDir('ddx-plan-');
const seen = new Set<string>();
let store: SqliteStore;

beforeAll(async () => {
  store = SqliteStore.open(tmp.db);
  const db = store.connection;
  const insert = db.transaction(() => {
    const ws = db.prepare(
      'INSERT INTO workspaces (id, name, kind, parent_id, path, created_at) ' +
        'VALUES (?, ?, ?, ?, ?, ?)',
    );
    const app = db.prepare(
      'INSERT INTO apps (id, name, workspace_id, environment, scope, created_at, updated_at) ' +
        "VALUES (?, ?, ?, ?, 'CurrentWorkspaceOnly', 'now', 'now')",
    );
    for (let r = 0; r < 20; r++) {
      ws.run(`r${r}`, 'root', 'organizational', null, `/r${r}/`, 'now');
      for (let c = 0; c < 50; c++) {
        ws.run(`r${r}-c${c}`, 'child', 'organizational', `r${r}`, `/r${r}/r${r}-c${c}/`, 'now');
        for (let a = 0; a < 10; a++) {
          const env = a % 2 === 0 ? 'production' : 'development';
          app.run(`a-${r}-${c}-${a}`, 'app', `r${r}-c${c}`, env);
        }
      }
    }
    db.prepare("UPDATE apps SET scope = 'AllChildWorkspaces' WHERE id LIKE 'a-%-0-0'").run();
    db.prepare("UPDATE apps SET scope = 'AllWorkspaces' WHERE id LIKE 'a-1-%-2'").run();
  });
  insert();
  db.exec('ANALYZE');
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    seen.add(sql);
    return prepare(sql);
  }) as typeof db.prepare;

  const at = 'x';
  await store.read(async (r) => {
    const ws = (await r.getWorkspace('r3-c7'))!;
    for await (const _ of r.appsVisibleTo(refOf(ws), {})) void _;
    const app = (await r.getApp('a-3-0-0'))!;
    for await (const _ of audience(r, app)) void _;
    await audienceChange(r, app, { ...app, scope: 'AllWorkspaces' });
    explain(app, refOf(ws), await r.isInstalled(app.id, ws.id));
    await r.installsOf(app.id);
    await r.installedBy(ws.id, [app.id]);
    await r.idTaken('apps', ['a-1']);
    await r.idTaken('workspaces', ['r1']);
    await r.getWorkspaces(['r1', 'r2']);
    for await (const _ of r.listApps({ workspaceId: 'r1-c1' })) void _;
    for await (const _ of r.listApps({ scope: 'AllWorkspaces' })) void _;
    for await (const _ of r.listApps({ shared: true })) void _;
    for await (const _ of r.descendants('r1')) void _;
    for (const f of [{ target: 'a-1' }, { actor: 'x@y.z' }, { since: at }, { limit: 5 }, {}]) {
      for await (const _ of r.auditEvents(f)) void _;
    }
    await r.auditHead();
    await r.auditEvent(1);
  });
  await store.write(
    async (w) => {
      await w.setSharing((await w.getApp('a-3-0-0'))!, 'CustomWorkspaceAccess', ['r4'], at);
      await w.addInstall('a-3-0-0', 'r4', at);
      await w.removeInstall('a-3-0-0', 'r4');
      await w.renameApp('a-3-0-0', 'n', at);
    },
    { rollback: true },
  );
});

afterAll(async () => {
  await store.close();
  tmp.cleanup();
});

function plan(sql: string): string[] {
  const probe = new Database(tmp.db, { readonly: true });
  try {
    const stmt = probe.prepare(`EXPLAIN QUERY PLAN ${sql}`);
    const params = Array.from(
      { length: stmt.columns().length >= 0 ? countParams(sql) : 0 },
      () => 'x',
    );
    return (stmt.all(...params) as { detail: string }[]).map((r) => r.detail);
  } finally {
    probe.close();
  }
}

function countParams(sql: string): number {
  return (sql.match(/\?/g) ?? []).length;
}

describe('query plans', () => {
  it('records the statements the commands make', () => {
    expect(seen.size).toBeGreaterThan(15);
  });

  it('never scans all of apps, workspaces or audit_events to answer one question', () => {
    const scans: string[] = [];
    for (const sql of seen) {
      if (
        !/\b(apps|workspaces|audit_events)\b/.test(sql) ||
        /^\s*(INSERT|UPDATE|DELETE)/i.test(sql)
      ) {
        continue;
      }
      for (const detail of plan(sql)) {
        if (/^SCAN (a|apps|workspaces|audit_events)\b/.test(detail)) {
          scans.push(`${detail}  <-  ${sql.replace(/\s+/g, ' ')}`);
        }
      }
    }
    expect(scans).toEqual([]);
  });
});
