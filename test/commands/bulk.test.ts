import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import {
  bulkAppsCommand,
  bulkScopeCommand,
  bulkWorkspacesCommand,
} from '../../src/commands/bulk.js';
import type { Context, Result } from '../../src/commands/context.js';
import { PLAIN } from '../../src/io/render.js';
import { createApp, createWorkspace, install, setScope } from '../../src/service/changes.js';
import type { Meta } from '../../src/service/changes.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Writer } from '../../src/store/store.js';

// Each test gets a fresh SQLite file; the commands are called directly with a real Context.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'ddx-bulk-'));
  const store = SqliteStore.open(join(dir, 'ddx.db'));
  cleanups.push(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const ctx: Context = {
    db: join(dir, 'ddx.db'),
    actor: 'staff@ddx.example',
    json: true,
    yes: true,
    interactive: false,
    style: PLAIN,
    now: () => new Date().toISOString(),
    openStore: async () => store,
    note: () => {},
    stderrIsTTY: false,
  };
  const file = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  return { dir, store, ctx, file };
}

const META: Meta = { actor: 'seed@ddx.example', at: '2024-01-01T00:00:00.000Z' };

async function must<T>(p: Promise<{ ok: boolean; value?: T }>): Promise<T> {
  const o = await p;
  if (!o.ok) throw new Error(`seed refused: ${JSON.stringify(o)}`);
  return o.value as T;
}

/** Workspaces `org` (organizational) with children `w1`..`w3`, and production apps `a1`, `a2`. */
async function seed(store: SqliteStore, more?: (w: Writer) => Promise<void>): Promise<void> {
  await store.write(async (w) => {
    const ws = (id: string, parentId: string | null, kind = 'organizational' as const) =>
      must(createWorkspace(w, { id, name: id, kind, parentId }, META));
    await ws('org', null);
    for (const id of ['w1', 'w2', 'w3']) await ws(id, 'org');
    for (const id of ['a1', 'a2']) {
      await must(
        createApp(w, { id, name: id, workspaceId: 'org', environment: 'production' }, META),
      );
    }
    await more?.(w);
  });
}

interface Out {
  applied: number;
  unchanged: number;
  accepted: number;
  denied: Record<string, unknown>[];
  invalid: Record<string, unknown>[];
  dryRun: boolean;
  batch: string;
  changes?: Record<string, unknown>[];
}

function out(r: Result): { json: Out; text: string; exitCode: number } {
  if (r.kind !== 'value') throw new Error('expected a value result');
  return { json: r.json as Out, text: r.text(), exitCode: r.exitCode ?? 0 };
}

async function events(store: SqliteStore, fromSeq = 1): Promise<AuditEvent[]> {
  const all: AuditEvent[] = [];
  for await (const e of store.stream((r) => r.auditEvents({ fromSeq }))) all.push(e);
  return all;
}

const head = async (store: SqliteStore) => (await store.read((r) => r.auditHead())).seq;

describe('bulk workspaces and apps', () => {
  it('creates from CSV, children under parents made earlier in the same file', async () => {
    const { store, ctx, file } = setup();
    const csv =
      'name,kind,parent,id\nAcme,organizational,,\nAcme EU,organizational,acme,\n' +
      'Dev Box,personal,acme-eu,\nAcme,organizational,,\n';
    const r = out(await bulkWorkspacesCommand(ctx, { file: file('ws.csv', csv) }));
    expect(r.exitCode).toBe(0);
    expect(r.json).toMatchObject({
      applied: 4,
      unchanged: 0,
      denied: [],
      invalid: [],
      dryRun: false,
    });
    const ids = await store.read(async (x) => [
      ...(await x.getWorkspaces(['acme', 'acme-eu', 'dev-box', 'acme-2'])).values(),
    ]);
    expect(ids.map((w) => [w.id, w.parentId])).toEqual([
      ['acme', null],
      ['acme-eu', 'acme'],
      ['dev-box', 'acme-eu'],
      ['acme-2', null],
    ]);
    const evs = await events(store);
    expect(evs).toHaveLength(4);
    expect(new Set(evs.map((e) => e.batch))).toEqual(new Set([r.json.batch]));
    expect(r.text).toContain('Applied 4 record(s)');

    // Apps under the workspaces just created, from NDJSON; generated ids stay unique.
    const nd = [
      '{"name":"Billing","workspace":"acme","env":"production"}',
      '{"name":"Billing","workspace":"acme-eu","env":"production"}',
      '{"name":"Scratch","workspace":"dev-box","env":"development","id":"scratch-1"}',
      '',
    ].join('\n');
    const a = out(await bulkAppsCommand(ctx, { file: file('apps.ndjson', nd) }));
    expect(a.json).toMatchObject({ applied: 3, invalid: [], denied: [] });
    const apps = await store.read(async (x) =>
      Promise.all(['billing', 'billing-2', 'scratch-1'].map((id) => x.getApp(id))),
    );
    expect(apps.map((p) => p?.workspaceId)).toEqual(['acme', 'acme-eu', 'dev-box']);
  });

  it('creates from JSON, and a dry run writes nothing', async () => {
    const { store, ctx, file } = setup();
    await seed(store);
    const json = JSON.stringify([
      { name: 'One', workspace: 'org', env: 'production' },
      { name: 'Two', workspace: 'w1', env: 'DEVELOPMENT', id: 'two' },
    ]);
    const path = file('apps.json', json);
    const before = await head(store);
    const d = out(await bulkAppsCommand(ctx, { file: path, dryRun: true }));
    expect(d.json).toMatchObject({ applied: 2, dryRun: true });
    expect(d.json.changes).toEqual([
      { index: 0, id: 'one', name: 'One', workspaceId: 'org', environment: 'production' },
      { index: 1, id: 'two', name: 'Two', workspaceId: 'w1', environment: 'development' },
    ]);
    expect(d.text).toContain('Dry run');
    expect(await head(store)).toBe(before);
    expect(await store.read((x) => x.getApp('one'))).toBeUndefined();
    const r = out(await bulkAppsCommand(ctx, { file: path }));
    expect(r.json.applied).toBe(2);
    expect(await head(store)).toBe(before + 2);
  });

  it('applies nothing when any record is bad, and reports every bad one by line', async () => {
    const { store, ctx, file } = setup();
    await seed(store);
    const csv = [
      'name,workspace,env,id',
      'Good,org,production,good', // line 2
      'Bad Id,org,production,Not An Id', // 3: invalid
      'Home,nowhere,production,home', // 4: denied, unknown workspace
      'Dup,org,production,a1', // 5: denied, id taken
      '"multi',
      'line",org,staging,', // 6-7: invalid env
      'Short,org', // 8: wrong number of cells
      'Good 2,w1,production,good-2', // 9
    ].join('\n');
    const before = await head(store);
    const r = out(await bulkAppsCommand(ctx, { file: file('mixed.csv', csv) }));
    expect(r.exitCode).toBe(2);
    expect(r.json).toMatchObject({ applied: 0, accepted: 2, dryRun: false });
    expect(r.json.invalid.map((b) => [b.line, b.id, b.code])).toEqual([
      [3, 'Not An Id', 'INVALID_INPUT'],
      [6, null, 'INVALID_INPUT'],
      [8, null, 'INVALID_INPUT'],
    ]);
    expect(r.json.denied.map((b) => [b.line, b.id, b.code])).toEqual([
      [4, 'home', 'UNKNOWN_WORKSPACE'],
      [5, 'a1', 'ALREADY_EXISTS'],
    ]);
    expect(Object.keys(r.json.denied[0]!)).toEqual(['line', 'id', 'code', 'message']);
    expect(await store.read((x) => x.getApp('good'))).toBeUndefined();
    const evs = await events(store, before + 1);
    expect(evs.map((e) => [e.target, e.outcome, e.code, e.batch])).toEqual([
      ['home', 'denied', 'UNKNOWN_WORKSPACE', r.json.batch],
      ['a1', 'denied', 'ALREADY_EXISTS', r.json.batch],
    ]);
    expect(r.text).toContain('Nothing was applied');
    expect(r.text).toMatch(/^4 +home +UNKNOWN_WORKSPACE/m);

    // Only refusals: exit 3. A dry run records no refusals.
    const denied = file('denied.csv', 'name,workspace,env\nX,nowhere,production\n');
    expect(out(await bulkAppsCommand(ctx, { file: denied })).exitCode).toBe(3);
    const h = await head(store);
    expect(out(await bulkAppsCommand(ctx, { file: denied, dryRun: true })).exitCode).toBe(3);
    expect(await head(store)).toBe(h);
  });

  it('refuses empty files, unknown columns, bad paths and bad options', async () => {
    const { store, ctx, file } = setup();
    await seed(store);
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: { code: string }) => e.code,
      );
    expect(await code(bulkWorkspacesCommand(ctx, { file: file('e.csv', '') }))).toBe(
      'INVALID_INPUT',
    );
    expect(await code(bulkWorkspacesCommand(ctx, { file: file('e.ndjson', '\n\n') }))).toBe(
      'INVALID_INPUT',
    );
    expect(await code(bulkWorkspacesCommand(ctx, { file: file('e.json', '') }))).toBe(
      'INVALID_INPUT',
    );
    await expect(
      bulkWorkspacesCommand(ctx, { file: file('u.csv', 'name,kind,colour\n') }),
    ).rejects.toThrow(/unknown columns: colour/);
    await expect(bulkWorkspacesCommand(ctx, { file: '/nonexistent/x.csv' })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('/nonexistent/x.csv'),
    });
    expect(await code(bulkWorkspacesCommand(ctx, { file: 'x.txt' }))).toBe('USAGE');
    await expect(bulkWorkspacesCommand(ctx, { file: '-' })).rejects.toThrow(/--format/);
    expect(await code(bulkWorkspacesCommand(ctx, { file: 'x.csv', format: 'xml' }))).toBe('USAGE');
    expect(await code(bulkScopeCommand(ctx, { file: 'x.csv', savePlan: 'p.json' }))).toBe('USAGE');
    expect(await code(bulkAppsCommand(ctx, { file: 'x.csv', dryRun: true, savePlan: 'p' }))).toBe(
      'USAGE',
    );
    expect(await code(bulkAppsCommand({ ...ctx, actor: undefined }, { file: 'x.csv' }))).toBe(
      'ACTOR_REQUIRED',
    );

    // A header alone is a file of no records; in JSON an unknown field is one bad record.
    const h = out(await bulkWorkspacesCommand(ctx, { file: file('h.csv', 'name,kind\n') }));
    expect(h.json).toMatchObject({ applied: 0, invalid: [] });
    expect(h.exitCode).toBe(0);
    const j = out(
      await bulkWorkspacesCommand(ctx, {
        file: file('u.json', '[{"name":"A","kind":"personal","colour":1}]'),
        format: 'JSON',
      }),
    );
    expect(j.json.invalid).toEqual([
      {
        index: 0,
        id: null,
        code: 'INVALID_INPUT',
        message: expect.stringContaining('unknown field "colour"'),
      },
    ]);
  });
});

describe('bulk set-scope', () => {
  it('applies CSV, NDJSON and JSON records, the same app twice in order', async () => {
    const { store, ctx, file } = setup();
    await seed(store);
    const csv =
      'app,scope,workspaces,ticket\na1,custom,w1;w2,SUP-1\na1,,w3 w1,SUP-2\na2,all,,\na2,AllWorkspaces,,\n';
    const r = out(await bulkScopeCommand(ctx, { file: file('s.csv', csv) }));
    expect(r.json).toMatchObject({ applied: 3, unchanged: 1, invalid: [], denied: [] });
    const a1 = await store.read((x) => x.getApp('a1'));
    expect([a1?.scope, a1?.workspaces]).toEqual(['CustomWorkspaceAccess', ['w1', 'w3']]);
    const evs = await events(store, 1 + (await head(store)) - 3);
    expect(evs.map((e) => [e.target, e.ticket, e.batch])).toEqual([
      ['a1', 'SUP-1', r.json.batch],
      ['a1', 'SUP-2', r.json.batch],
      ['a2', null, r.json.batch],
    ]);

    const nd = '{"app":"a2","add":["w2"],"reason":"more"}\n{"app":"a2","scope":"children"}\n';
    const ndr = out(await bulkScopeCommand(ctx, { file: file('s.jsonl', nd) }));
    expect(ndr.json).toMatchObject({ applied: 2, invalid: [], denied: [] });
    const last = await events(store, (await head(store)) - 1);
    expect(last.map((e) => [e.after, e.reason])).toEqual([
      ['{"scope":"CustomWorkspaceAccess","workspaces":["w2"]}', 'more'],
      ['{"scope":"AllChildWorkspaces","workspaces":[]}', null],
    ]);
    const js = JSON.stringify([{ app: 'a1', remove: 'w1 w2 w3', scope: 'current' }]);
    const j = out(await bulkScopeCommand(ctx, { file: file('s.json', js) }));
    expect(j.json.denied[0]).toMatchObject({
      index: 0,
      id: 'a1',
      code: 'WORKSPACES_REQUIRE_CUSTOM_SCOPE',
    });
    const k = out(
      await bulkScopeCommand(ctx, { file: file('t.json', '[{"app":"a1","scope":"current"}]') }),
    );
    expect(k.json.applied).toBe(1);
    expect((await store.read((x) => x.getApp('a1')))?.scope).toBe('CurrentWorkspaceOnly');
  });

  it('validates fields: types, flags, scopes, lists', async () => {
    const { store, ctx, file } = setup();
    await seed(store, async (w) => {
      await must(setScope(w, 'a1', { scope: 'AllWorkspaces' }, META, { write: true }));
      await must(install(w, 'a1', 'w1', META));
    });
    const nd = [
      '{"app":"a1","scope":"current","revokeInstalls":"yes"}', // a string where JSON wants a boolean
      '{"app":7,"scope":"all"}',
      '{"app":"a2","scope":"everyone"}',
      '{"app":"a2"}',
      '{"app":"a2","scope":"custom"}',
      '{"app":"a2","scope":"all","env":"development"}', // denied: R3
      'not json',
    ].join('\n');
    const r = out(await bulkScopeCommand(ctx, { file: file('v.ndjson', nd) }));
    expect(r.exitCode).toBe(2);
    expect(r.json.invalid.map((b) => [b.line, b.id])).toEqual([
      [1, 'a1'],
      [2, null],
      [3, 'a2'],
      [4, 'a2'],
      [5, 'a2'],
      [7, null],
    ]);
    expect(r.json.denied.map((b) => [b.line, b.code])).toEqual([[6, 'ENVIRONMENT_IMMUTABLE']]);

    // In CSV the flag is a word. w1 installed a1, so going back to current must revoke it.
    const no = out(
      await bulkScopeCommand(ctx, {
        file: file('n.csv', 'app,scope,revokeInstalls\na1,current,no\n'),
      }),
    );
    expect(no.json.denied[0]).toMatchObject({ line: 2, code: 'SCOPE_CHANGE_STRANDS_INSTALLS' });
    const bad = out(
      await bulkScopeCommand(ctx, {
        file: file('b.csv', 'app,scope,revokeInstalls\na1,current,maybe\n'),
      }),
    );
    expect(bad.json.invalid[0]?.message).toMatch(/revokeInstalls/);
    const before = await head(store);
    const yes = out(
      await bulkScopeCommand(ctx, {
        file: file('y.csv', 'app,scope,revokeInstalls\na1,current,YES\n'),
      }),
    );
    expect(yes.json.applied).toBe(1);
    const evs = await events(store, before + 1);
    expect(evs.map((e) => [e.action, e.batch])).toEqual([
      ['app.set-scope', yes.json.batch],
      ['app.uninstall', yes.json.batch],
    ]);
    expect(await store.read((x) => x.installsOf('a1'))).toEqual([]);
  });

  it('applies 20,000 CSV records in one batch', async () => {
    const { store, ctx, file } = setup();
    const n = 20_000;
    await store.write(async (w) => {
      await must(
        createWorkspace(
          w,
          { id: 'org', name: 'org', kind: 'organizational', parentId: null },
          META,
        ),
      );
      await must(
        createWorkspace(w, { id: 'w1', name: 'w1', kind: 'organizational', parentId: 'org' }, META),
      );
      for (let i = 0; i < n; i++) {
        await must(
          createApp(
            w,
            { id: `app-${i}`, name: `App ${i}`, workspaceId: 'org', environment: 'production' },
            META,
          ),
        );
      }
    });
    const scopes = ['all', 'children', 'custom'];
    const rows = ['app,scope,workspaces,ticket'];
    for (let i = 0; i < n; i++)
      rows.push(`app-${i},${scopes[i % 3]},${i % 3 === 2 ? 'w1' : ''},T-${i}`);
    const path = file('big.csv', rows.join('\n'));
    const before = await head(store);
    const start = performance.now();
    const r = out(await bulkScopeCommand(ctx, { file: path }));
    const ms = performance.now() - start;
    console.log(
      `bulk set-scope: ${n} records in ${ms.toFixed(0)} ms, ${Math.round(n / (ms / 1000))} records/s`,
    );
    expect(r.json).toMatchObject({ applied: n, unchanged: 0, invalid: [], denied: [] });
    const evs = await events(store, before + 1);
    expect(evs).toHaveLength(n);
    expect(new Set(evs.map((e) => e.batch))).toEqual(new Set([r.json.batch]));
    const shared = await store.read(async (x) => {
      let count = 0;
      for await (const a of x.listApps({ shared: true })) count += a.id.startsWith('app-') ? 1 : 0;
      return count;
    });
    expect(shared).toBe(n);
  });
});
