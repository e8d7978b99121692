import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/audit/chain.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { applyPlanCommand } from '../../src/commands/apply-plan.js';
import { bulkScopeCommand } from '../../src/commands/bulk.js';
import type { Context, Result } from '../../src/commands/context.js';
import { PLAIN } from '../../src/io/render.js';
import { createApp, createWorkspace, install, setScope } from '../../src/service/changes.js';
import type { Meta } from '../../src/service/changes.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { describeBackends, type Backend } from '../helpers/backends.js';

// Saved plans: made by a dry run of set-scope --file, applied later by apply-plan, exactly; on
// a fresh database of each backend per test.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const META: Meta = { actor: 'seed@ddx.example', at: '2024-01-01T00:00:00.000Z' };

/** A database with workspaces org > w1, w2, w3 and production apps a1, a2 (w1 installed a1). */
async function setup(backend: Backend) {
  const dir = mkdtempSync(join(tmpdir(), 'ddx-plan-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const db = await backend.fresh();
  const store = await openStore(db.location);
  cleanups.unshift(async () => {
    await store.close();
    await db.cleanup();
  });
  const ctx: Context = {
    db: db.location,
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
  await store.write(async (w) => {
    const ok = async (p: Promise<{ ok: boolean }>) => expect((await p).ok).toBe(true);
    await ok(
      createWorkspace(w, { id: 'org', name: 'Org', kind: 'organizational', parentId: null }, META),
    );
    for (const id of ['w1', 'w2', 'w3']) {
      await ok(createWorkspace(w, { id, name: id, kind: 'organizational', parentId: 'org' }, META));
    }
    for (const id of ['a1', 'a2']) {
      await ok(createApp(w, { id, name: id, workspaceId: 'org', environment: 'production' }, META));
    }
    await ok(setScope(w, 'a1', { scope: 'AllChildWorkspaces' }, META, { write: true }));
    await ok(install(w, 'a1', 'w1', META));
  });
  const file = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  return { dir, store, ctx, file, plan: join(dir, 'plan.json') };
}

function out(r: Result): { json: Record<string, any>; text: string; exitCode: number } {
  if (r.kind !== 'value') throw new Error('expected a value result');
  return { json: r.json as Record<string, any>, text: r.text(), exitCode: r.exitCode ?? 0 };
}

async function events(store: Store, fromSeq = 1): Promise<AuditEvent[]> {
  const all: AuditEvent[] = [];
  for await (const e of store.stream((r) => r.auditEvents({ fromSeq }))) all.push(e);
  return all;
}
const head = async (store: Store) => (await store.read((r) => r.auditHead())).seq;

const CSV = [
  'app,scope,workspaces,ticket,reason,revokeInstalls',
  'a1,custom,w2;w3,SUP-1,move it,yes',
  'a2,all,,SUP-2,,',
  'a2,AllWorkspaces,,,,', // unchanged: the same app again, already on AllWorkspaces
].join('\n');

describeBackends('saved plans', (backend) => {
  it('a dry run saves a sealed plan that apply-plan applies exactly', async () => {
    const { store, ctx, file, plan } = await setup(backend);
    const before = await head(store);
    const d = out(
      await bulkScopeCommand(ctx, { file: file('s.csv', CSV), dryRun: true, savePlan: plan }),
    );
    expect(d.exitCode).toBe(0);
    expect(d.json).toMatchObject({ applied: 2, unchanged: 1, dryRun: true, planSaved: true });
    expect(await head(store)).toBe(before);
    expect((await store.read((r) => r.getApp('a1')))?.scope).toBe('AllChildWorkspaces');
    expect(d.text).toContain('Saved the plan');
    expect(d.text).toMatch(
      /a1 +AllChildWorkspaces +CustomWorkspaceAccess \(w2, w3\) +none +w1 +w1/,
    );

    expect(statSync(plan).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(plan, 'utf8'));
    expect(saved).toMatchObject({
      format: 'ddx-share-plan/1',
      actor: 'staff@ddx.example',
      unchanged: 1,
    });
    expect(saved.database).toBe(store.label);
    // The digest is HMAC-SHA256 over canonicalJson(plan without digest), keyed by the database.
    const key = await store.write((w) => w.setting('plan-key', () => 'none yet'));
    const { digest, ...body } = saved;
    const want = createHmac('sha256', Buffer.from(key, 'hex')).update(canonicalJson(body));
    expect(digest).toBe(want.digest('hex'));
    expect(saved.changes[0]).toEqual({
      app: 'a1',
      request: { scope: 'CustomWorkspaceAccess', workspaces: ['w2', 'w3'], revokeInstalls: true },
      before: { scope: 'AllChildWorkspaces', workspaces: [] },
      beforeUpdatedAt: META.at,
      after: { scope: 'CustomWorkspaceAccess', workspaces: ['w2', 'w3'] },
      gained: [],
      lost: ['w1'],
      revokedInstalls: ['w1'],
      ticket: 'SUP-1',
      reason: 'move it',
    });
    expect(saved.changes[1]).toMatchObject({ app: 'a2', gained: ['w1', 'w2', 'w3'], lost: [] });

    const a = out(await applyPlanCommand({ ...ctx, actor: 'Approver@DDX.example' }, plan));
    expect(a.exitCode).toBe(0);
    expect(a.json).toMatchObject({
      applied: 2,
      unchanged: 1,
      denied: [],
      invalid: [],
      dryRun: false,
    });
    const evs = await events(store, before + 1);
    expect(evs.map((e) => [e.action, e.target, e.actor, e.ticket, e.batch])).toEqual([
      ['app.set-scope', 'a1', 'approver@ddx.example', 'SUP-1', a.json.batch],
      ['app.uninstall', 'a1', 'approver@ddx.example', 'SUP-1', a.json.batch],
      ['app.set-scope', 'a2', 'approver@ddx.example', 'SUP-2', a.json.batch],
    ]);
    expect(a.json.batch).not.toBe(d.json.batch);
    expect((await store.read((r) => r.getApp('a1')))?.workspaces).toEqual(['w2', 'w3']);
    expect(await store.read((r) => r.installsOf('a1'))).toEqual([]);

    // Applied once, the apps no longer look as the plan saw them.
    await expect(applyPlanCommand(ctx, plan)).rejects.toMatchObject({ code: 'PLAN_STALE' });
  });

  it('a plan that changes the same app twice applies both changes', async () => {
    const { store, ctx, file, plan } = await setup(backend);
    const csv = 'app,scope,workspaces\na2,custom,w1\na2,custom,w1 w2\n';
    await bulkScopeCommand(ctx, { file: file('s.csv', csv), dryRun: true, savePlan: plan });
    const a = out(await applyPlanCommand(ctx, plan));
    expect(a.json.applied).toBe(2);
    expect((await store.read((r) => r.getApp('a2')))?.workspaces).toEqual(['w1', 'w2']);
  });

  it('a stale plan applies nothing', async () => {
    const { store, ctx, file, plan } = await setup(backend);
    await bulkScopeCommand(ctx, { file: file('s.csv', CSV), dryRun: true, savePlan: plan });
    // Someone changes a2 after the plan was saved, then puts the scope back: still stale.
    await store.write(async (w) => {
      await setScope(w, 'a2', { scope: 'AllChildWorkspaces' }, META, { write: true });
      await setScope(
        w,
        'a2',
        { scope: 'CurrentWorkspaceOnly' },
        { ...META, at: 'later' },
        { write: true },
      );
    });
    const before = await head(store);
    const err = await applyPlanCommand(ctx, plan).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PLAN_STALE', exitCode: 3, details: { app: 'a2' } });
    expect(await head(store)).toBe(before);
    expect((await store.read((r) => r.getApp('a1')))?.scope).toBe('AllChildWorkspaces');
    expect(await store.read((r) => r.installsOf('a1'))).toEqual(['w1']);

    // An install made since, which the change would strand, makes the plan stale too: the
    // app's sharing and time are as the plan saw them, but the decision is not.
    const p2 = join(plan, '..', 'p2.json');
    const keep = file('t.csv', 'app,scope,workspaces\na1,custom,w1 w2\n');
    await bulkScopeCommand(ctx, { file: keep, dryRun: true, savePlan: p2 });
    await store.write(async (w) => {
      expect((await install(w, 'a1', 'w3', META)).ok).toBe(true);
    });
    await expect(applyPlanCommand(ctx, p2)).rejects.toMatchObject({
      code: 'PLAN_STALE',
      message: expect.stringContaining('would now be refused'),
    });
    expect((await store.read((r) => r.getApp('a1')))?.scope).toBe('AllChildWorkspaces');
  });

  it('an edited plan, or one from another database, is refused', async () => {
    const { store, ctx, file, plan } = await setup(backend);
    await bulkScopeCommand(ctx, { file: file('s.csv', CSV), dryRun: true, savePlan: plan });
    const text = readFileSync(plan, 'utf8');
    const before = await head(store);
    writeFileSync(plan, text.replace('"w3"', '"w1"'));
    await expect(applyPlanCommand(ctx, plan)).rejects.toMatchObject({
      code: 'PLAN_INVALID',
      exitCode: 2,
      message: expect.stringContaining('edited after it was saved'),
    });
    writeFileSync(plan, text.replace('"SUP-2"', '"SUP-3"'));
    await expect(applyPlanCommand(ctx, plan)).rejects.toMatchObject({ code: 'PLAN_INVALID' });
    writeFileSync(plan, '{"format": "ddx-share-plan/1"');
    await expect(applyPlanCommand(ctx, plan)).rejects.toMatchObject({ code: 'PLAN_INVALID' });
    writeFileSync(plan, JSON.stringify({ ...JSON.parse(text), extra: 1 }));
    await expect(applyPlanCommand(ctx, plan)).rejects.toThrow(/not a ddx-share plan/);
    await expect(applyPlanCommand(ctx, join(plan, '..', 'none.json'))).rejects.toMatchObject({
      code: 'PLAN_INVALID',
    });
    expect(await head(store)).toBe(before);

    // The same plan, untouched, against another database: its key differs.
    writeFileSync(plan, text);
    const other = await setup(backend);
    await expect(applyPlanCommand(other.ctx, plan)).rejects.toThrow(/another database/);
    // Laid out anew by some tool, it is the same plan: the seal is over its content.
    writeFileSync(plan, JSON.stringify(JSON.parse(text), null, 2));
    expect(out(await applyPlanCommand(ctx, plan)).json.applied).toBe(2);
  });

  it('a plan with nothing to change applies nothing, and says so', async () => {
    const { ctx, file, plan } = await setup(backend);
    const csv = file('s.csv', 'app,scope\na1,children\n');
    const d = out(await bulkScopeCommand(ctx, { file: csv, dryRun: true, savePlan: plan }));
    expect(d.json).toMatchObject({ applied: 0, unchanged: 1, planSaved: true });
    const a = out(await applyPlanCommand(ctx, plan));
    expect(a.json).toMatchObject({ applied: 0, unchanged: 1, denied: [], invalid: [] });
    expect(a.text).toContain('Applied 0 record(s)');
  });

  it('a dry run with bad records saves no plan', async () => {
    const { store, ctx, file, plan } = await setup(backend);
    const csv = 'app,scope\na1,current\na2,all\nnope,all\n';
    const before = await head(store);
    const d = out(
      await bulkScopeCommand(ctx, { file: file('s.csv', csv), dryRun: true, savePlan: plan }),
    );
    // a1 is installed by w1: current would strand it without revokeInstalls.
    expect(d.exitCode).toBe(3);
    expect(d.json).toMatchObject({ planSaved: false, applied: 0, accepted: 1 });
    expect(d.json.denied.map((b: { line: number }) => b.line)).toEqual([2, 4]);
    expect(d.text).toContain('The plan was not saved');
    expect(() => statSync(plan)).toThrow();
    expect(await head(store)).toBe(before);
    await expect(
      bulkScopeCommand(ctx, { file: file('t.csv', 'app,scope\na2,all\n'), savePlan: plan }),
    ).rejects.toMatchObject({ code: 'USAGE' });
  });
});
