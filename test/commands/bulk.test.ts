import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { bulkAppsCommand, bulkScopeCommand } from '../../src/commands/bulk.js';
import { bulkWorkspacesCommand, type BulkOptions } from '../../src/commands/bulk.js';
import type { Context, Result } from '../../src/commands/context.js';
import { PLAIN } from '../../src/io/render.js';
import { createApp, createWorkspace, install, setScope } from '../../src/service/changes.js';
import type { Meta } from '../../src/service/changes.js';
import { openStore } from '../../src/store/open.js';
import type { Store, Writer } from '../../src/store/store.js';
import { describeBackends, type Backend } from '../helpers/backends.js';

// Each test gets a fresh database of each backend (a SQLite file, a PostgreSQL schema); the
// commands are called directly with a real Context.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

type Command = (ctx: Context, opts: BulkOptions) => Promise<Result>;
type Bad = { line?: number; index?: number; id: string | null; code: string; message: string };
type Json = { applied: number; accepted: number; denied: Bad[]; invalid: Bad[]; batch: string };
type Out = { json: Json & Record<string, unknown>; text: string; exitCode: number };

const BASE = { json: true, yes: true, interactive: false, style: PLAIN, stderrIsTTY: false };
const QUIET = { actor: 'staff@ddx.example', note: () => {}, now: () => new Date().toISOString() };

async function setup(backend: Backend) {
  const dir = mkdtempSync(join(tmpdir(), 'ddx-bulk-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const db = await backend.fresh();
  const store = await openStore(db.location);
  cleanups.unshift(async () => {
    await store.close();
    await db.cleanup();
  });
  const ctx: Context = { ...BASE, ...QUIET, db: db.location, openStore: async () => store };
  const file = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  /** Writes the file, runs the command on it and returns what it printed. */
  const run = async (cmd: Command, name: string, text: string, o: Partial<BulkOptions> = {}) => {
    const r = await cmd(ctx, { file: file(name, text), ...o });
    if (r.kind !== 'value') throw new Error('expected a value result');
    return { json: r.json, text: r.text(), exitCode: r.exitCode ?? 0 } as Out;
  };
  const head = async () => (await store.read((r) => r.auditHead())).seq;
  const events = async (fromSeq = 1): Promise<AuditEvent[]> => {
    const all: AuditEvent[] = [];
    for await (const e of store.stream((r) => r.auditEvents({ fromSeq }))) all.push(e);
    return all;
  };
  return { store, ctx, file, run, head, events };
}

const META: Meta = { actor: 'seed@ddx.example', at: '2024-01-01T00:00:00.000Z' };

async function must(p: Promise<{ ok: boolean }>): Promise<void> {
  const o = await p;
  if (!o.ok) throw new Error(`seed refused: ${JSON.stringify(o)}`);
}

const ws = (w: Writer, id: string, parentId: string | null) =>
  must(createWorkspace(w, { id, name: id, kind: 'organizational', parentId }, META));
const app = (w: Writer, id: string) =>
  must(createApp(w, { id, name: id, workspaceId: 'org', environment: 'production' }, META));

/** Workspaces `org` with children `w1`..`w3`, and production apps `a1`, `a2` owned by org. */
async function seed(store: Store, more?: (w: Writer) => Promise<void>): Promise<void> {
  await store.write(async (w) => {
    await ws(w, 'org', null);
    for (const id of ['w1', 'w2', 'w3']) await ws(w, id, 'org');
    for (const id of ['a1', 'a2']) await app(w, id);
    await more?.(w);
  });
}

/** Bad records as `line:id:code`, compared as one string. */
const bads = (list: Bad[]) => list.map((b) => `${b.line ?? b.index}:${b.id}:${b.code}`).join(' ');

describeBackends('bulk', (backend) => {
  describe('bulk workspaces and apps', () => {
    it('creates from CSV, children under parents made earlier in the same file', async () => {
      const { store, run, events } = await setup(backend);
      const csv = 'name,kind,parent,id\nAcme,organizational,,\nAcme EU,organizational,acme,\n';
      const r = await run(
        bulkWorkspacesCommand,
        'ws.csv',
        `${csv}Box,personal,acme-eu,\nAcme,personal,,\n`,
      );
      expect(r.exitCode).toBe(0);
      expect(r.json).toMatchObject({ applied: 4, unchanged: 0, denied: [], invalid: [] });
      const made = await store.read((x) => x.getWorkspaces(['acme', 'acme-eu', 'box', 'acme-2']));
      const tree = [...made.values()].map((w) => `${w.id}<${w.parentId}`).join(' ');
      expect(tree).toBe('acme<null acme-eu<acme box<acme-eu acme-2<null');
      const evs = await events();
      expect(evs.map((e) => e.batch)).toEqual(Array(4).fill(r.json.batch));
      expect(r.text).toContain('Applied 4 record(s)');

      // Apps under the workspaces just made, from NDJSON: generated ids stay unique.
      const nd = [
        '{"name":"Billing","workspace":"acme","env":"production"}',
        '{"name":"Billing","workspace":"acme-eu","env":"production"}',
        '{"name":"Scratch","workspace":"box","env":"development","id":"scratch-1"}\n',
      ];
      const a = await run(bulkAppsCommand, 'apps.ndjson', nd.join('\n'));
      expect(a.json).toMatchObject({ applied: 3, invalid: [], denied: [] });
      const ids = ['billing', 'billing-2', 'scratch-1'];
      const apps = await store.read((x) => Promise.all(ids.map((id) => x.getApp(id))));
      expect(apps.map((p) => p?.workspaceId)).toEqual(['acme', 'acme-eu', 'box']);
    });

    it('creates from JSON, and a dry run writes nothing', async () => {
      const { store, run, head } = await setup(backend);
      await seed(store);
      const json = JSON.stringify([
        { name: 'One', workspace: 'org', env: 'production' },
        { name: 'Two', workspace: 'w1', env: 'DEVELOPMENT', id: 'two' },
      ]);
      const before = await head();
      const d = await run(bulkAppsCommand, 'apps.json', json, { dryRun: true });
      expect(d.json).toMatchObject({ applied: 2, dryRun: true });
      expect(d.json.changes).toEqual([
        { index: 0, id: 'one', name: 'One', workspaceId: 'org', environment: 'production' },
        { index: 1, id: 'two', name: 'Two', workspaceId: 'w1', environment: 'development' },
      ]);
      expect(d.text).toMatch(/^one +One +org +production$/m);
      expect(await head()).toBe(before);
      expect(await store.read((x) => x.getApp('one'))).toBeUndefined();
      expect((await run(bulkAppsCommand, 'apps.json', json)).json.applied).toBe(2);
      expect(await head()).toBe(before + 2);
    });

    it('applies nothing when any record is bad, and reports every bad one by line', async () => {
      const { store, run, head, events } = await setup(backend);
      await seed(store);
      const csv = [
        'name,workspace,env,id',
        'Good,org,production,good', // line 2
        'Bad Id,org,production,Not An Id', // 3: invalid id
        'Home,nowhere,production,home', // 4: denied, no such workspace
        'Dup,org,production,a1', // 5: denied, the id is taken
        '"multi',
        'line",org,staging,', // 6-7: invalid environment
        'Short,org', // 8: too few cells
        'Good 2,w1,production,good-2', // 9
      ];
      const before = await head();
      const r = await run(bulkAppsCommand, 'mixed.csv', csv.join('\n'));
      expect(r.exitCode).toBe(2);
      expect(r.json).toMatchObject({ applied: 0, accepted: 2, dryRun: false });
      const invalid = '3:Not An Id:INVALID_INPUT 6:null:INVALID_INPUT 8:null:INVALID_INPUT';
      expect(bads(r.json.invalid)).toBe(invalid);
      expect(bads(r.json.denied)).toBe('4:home:UNKNOWN_WORKSPACE 5:a1:ALREADY_EXISTS');
      expect(Object.keys(r.json.denied[0]!)).toEqual(['line', 'id', 'code', 'message']);
      expect(await store.read((x) => x.getApp('good'))).toBeUndefined();
      const evs = await events(before + 1);
      const seen = evs.map((e) => `${e.target}:${e.outcome}:${e.code}:${e.batch === r.json.batch}`);
      expect(seen).toEqual(['home:denied:UNKNOWN_WORKSPACE:true', 'a1:denied:ALREADY_EXISTS:true']);
      expect(r.text).toContain('Nothing was applied');
      expect(r.text).toMatch(/^4 +home +UNKNOWN_WORKSPACE/m);

      // Only refusals: exit 3. A dry run records no refusals.
      const denied = 'name,workspace,env\nX,nowhere,production\n';
      expect((await run(bulkAppsCommand, 'd.csv', denied)).exitCode).toBe(3);
      const h = await head();
      expect((await run(bulkAppsCommand, 'd.csv', denied, { dryRun: true })).exitCode).toBe(3);
      expect(await head()).toBe(h);
    });

    it('refuses empty files, unknown columns, bad paths and bad options', async () => {
      const { store, ctx, file, run } = await setup(backend);
      await seed(store);
      const ok = () => 'ok';
      const code = (p: Promise<unknown>) => p.then(ok, (e: { code: string }) => e.code);
      const ws = (o: BulkOptions) => code(bulkWorkspacesCommand(ctx, o));
      expect(await ws({ file: file('e.csv', '') })).toBe('INVALID_INPUT');
      expect(await ws({ file: file('e.ndjson', '\n\n') })).toBe('INVALID_INPUT');
      expect(await ws({ file: file('e.json', '') })).toBe('INVALID_INPUT');
      const unknown = bulkWorkspacesCommand(ctx, { file: file('u.csv', 'name,kind,colour\n') });
      await expect(unknown).rejects.toThrow(/unknown columns: colour/);
      await expect(ws({ file: '/nonexistent/x.csv' })).resolves.toBe('INVALID_INPUT');
      await expect(bulkAppsCommand(ctx, { file: '/no/x.csv' })).rejects.toThrow('/no/x.csv');
      expect(await ws({ file: 'x.txt' })).toBe('USAGE');
      await expect(bulkWorkspacesCommand(ctx, { file: '-' })).rejects.toThrow(/--format/);
      expect(await ws({ file: 'x.csv', format: 'xml' })).toBe('USAGE');
      expect(await code(bulkScopeCommand(ctx, { file: 'x.csv', savePlan: 'p' }))).toBe('USAGE');
      const o = { file: 'x.csv', dryRun: true, savePlan: 'p' };
      expect(await code(bulkAppsCommand(ctx, o))).toBe('USAGE');
      const nobody = { ...ctx, actor: undefined };
      expect(await code(bulkAppsCommand(nobody, { file: 'x.csv' }))).toBe('ACTOR_REQUIRED');

      // A header alone is a file of no records; in JSON an unknown field is one bad record.
      const h = await run(bulkWorkspacesCommand, 'h.csv', 'name,kind\n');
      expect([h.json.applied, h.json.invalid, h.exitCode]).toEqual([0, [], 0]);
      const j = await run(
        bulkWorkspacesCommand,
        'u.txt',
        '[{"name":"A","kind":"personal","c":1}]',
        {
          format: 'JSON',
        },
      );
      expect(j.json.invalid).toEqual([
        { index: 0, id: null, code: 'INVALID_INPUT', message: 'unknown field "c"' },
      ]);
    });
  });

  describe('bulk set-scope', () => {
    it('applies CSV, NDJSON and JSON records, the same app twice in order', async () => {
      const { store, run, head, events } = await setup(backend);
      await seed(store);
      const csv = 'app,scope,workspaces,ticket\na1,custom,w1;w2,T-1\na1,,w3 w1,T-2\n';
      const r = await run(bulkScopeCommand, 's.csv', `${csv}a2,all,,\na2,AllWorkspaces,,\n`);
      expect(r.json).toMatchObject({ applied: 3, unchanged: 1, invalid: [], denied: [] });
      const a1 = await store.read((x) => x.getApp('a1'));
      expect([a1?.scope, a1?.workspaces]).toEqual(['CustomWorkspaceAccess', ['w1', 'w3']]);
      const evs = await events((await head()) - 2);
      expect(evs.map((e) => `${e.target}:${e.ticket}`)).toEqual(['a1:T-1', 'a1:T-2', 'a2:null']);
      expect(new Set(evs.map((e) => e.batch))).toEqual(new Set([r.json.batch]));

      const nd = '{"app":"a2","add":["w2"],"reason":"more"}\n{"app":"a2","scope":"children"}\n';
      const n = await run(bulkScopeCommand, 's.jsonl', nd);
      expect(n.json).toMatchObject({ applied: 2, invalid: [], denied: [] });
      const last = await events((await head()) - 1);
      expect(last.map((e) => [e.after, e.reason])).toEqual([
        ['{"scope":"CustomWorkspaceAccess","workspaces":["w2"]}', 'more'],
        ['{"scope":"AllChildWorkspaces","workspaces":[]}', null],
      ]);
      const js = JSON.stringify([{ app: 'a1', remove: 'w1 w2 w3', scope: 'current' }]);
      const j = await run(bulkScopeCommand, 's.json', js);
      expect(bads(j.json.denied)).toBe('0:a1:WORKSPACES_REQUIRE_CUSTOM_SCOPE');
      const k = await run(bulkScopeCommand, 't.json', '[{"app":"a1","scope":"current"}]');
      expect(k.json.applied).toBe(1);
      expect((await store.read((x) => x.getApp('a1')))?.scope).toBe('CurrentWorkspaceOnly');
    });

    it('validates fields: types, flags, scopes, lists', async () => {
      const { store, run, head, events } = await setup(backend);
      await seed(store, async (w) => {
        await must(setScope(w, 'a1', { scope: 'AllWorkspaces' }, META, { write: true }));
        await must(install(w, 'a1', 'w1', META));
      });
      const nd = [
        '{"app":"a1","scope":"current","revokeInstalls":"yes"}', // JSON wants a boolean
        '{"app":7,"scope":"all"}', // a number where a string belongs
        '{"app":"a2","scope":"everyone"}',
        '{"app":"a2"}',
        '{"app":"a2","scope":"custom"}',
        '{"app":"a2","scope":"all","env":"development"}', // denied: R3
        'not json',
      ];
      const r = await run(bulkScopeCommand, 'v.ndjson', nd.join('\n'));
      expect(r.exitCode).toBe(2);
      const lines = r.json.invalid.map((b) => `${b.line}:${b.id}`).join(' ');
      expect(lines).toBe('1:a1 2:null 3:a2 4:a2 5:a2 7:null');
      expect(bads(r.json.denied)).toBe('6:a2:ENVIRONMENT_IMMUTABLE');

      // In CSV the flag is a word. w1 installed a1, so going back to current must revoke it.
      const flag = (v: string) => `app,scope,revokeInstalls\na1,current,${v}\n`;
      const no = await run(bulkScopeCommand, 'n.csv', flag('no'));
      expect(bads(no.json.denied)).toBe('2:a1:SCOPE_CHANGE_STRANDS_INSTALLS');
      const bad = await run(bulkScopeCommand, 'b.csv', flag('maybe'));
      expect(bad.json.invalid[0]?.message).toMatch(/revokeInstalls/);
      const before = await head();
      const yes = await run(bulkScopeCommand, 'y.csv', flag('YES'));
      expect(yes.json.applied).toBe(1);
      const evs = await events(before + 1);
      const seen = evs.map((e) => `${e.action}:${e.batch === yes.json.batch}`);
      expect(seen).toEqual(['app.set-scope:true', 'app.uninstall:true']);
      expect(await store.read((x) => x.installsOf('a1'))).toEqual([]);
    });

    // 20,000 on SQLite; PostgreSQL, a round trip per buffer flush away, gets a tenth of that.
    const n = backend.name === 'sqlite' ? 20_000 : 2_000;
    it(`applies ${n.toLocaleString('en')} CSV records in one batch`, async () => {
      const { store, run, head, events } = await setup(backend);
      await store.write(async (w) => {
        await ws(w, 'org', null);
        await ws(w, 'w1', 'org');
        for (let i = 0; i < n; i++) await app(w, `app-${i}`);
      });
      const scopes = ['all,', 'children,', 'custom,w1'];
      const rows = ['app,scope,workspaces,ticket'];
      for (let i = 0; i < n; i++) rows.push(`app-${i},${scopes[i % 3]},T-${i}`);
      const before = await head();
      const start = performance.now();
      const r = await run(bulkScopeCommand, 'big.csv', rows.join('\n'));
      const s = (performance.now() - start) / 1000;
      const rate = Math.round(n / s);
      console.log(`bulk set-scope [${backend.name}]: ${n} records in ${s.toFixed(2)} s, ${rate}/s`);
      expect(r.json).toMatchObject({ applied: n, unchanged: 0, invalid: [], denied: [] });
      const evs = await events(before + 1);
      expect(evs).toHaveLength(n);
      expect(new Set(evs.map((e) => e.batch))).toEqual(new Set([r.json.batch]));
      const shared = await store.read(async (x) => {
        let count = 0;
        for await (const a of x.listApps({ shared: true }))
          count += a.id.startsWith('app-') ? 1 : 0;
        return count;
      });
      expect(shared).toBe(n);
    });
  });
});
