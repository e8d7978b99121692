import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { DdxError } from '../errors.js';
import { table } from '../io/render.js';
import type { ScopeRequest } from '../rules/decide.js';
import type { Environment, WorkspaceKind } from '../rules/types.js';
import { accessOf } from '../rules/visibility.js';
import { createApp, createWorkspace, install, setScope, type Meta } from '../service/changes.js';
import { explain } from '../service/views.js';
import { isPostgresUrl, openStore, resolveDbLocation } from '../store/open.js';
import { refOf, type Store } from '../store/store.js';
import { value, type Context, type Result } from './context.js';

// A guided tour on a throwaway database. Every step goes through the same service functions
// and rules engine as the real commands; nothing here decides anything by itself.

const DEMO_BATCH = 'ddx-share-demo';
const DEMO_ACTOR = 'demo@ddx-share.example';

const WORKSPACES: [string, string, WorkspaceKind, string | null][] = [
  ['acme', 'Acme Corp', 'organizational', null],
  ['acme-eu', 'Acme Europe', 'organizational', 'acme'],
  ['acme-us', 'Acme US', 'organizational', 'acme'],
  ['acme-eu-paris', 'Acme Paris office', 'organizational', 'acme-eu'],
  ['globex', 'Globex', 'organizational', null],
  ['pat', "Pat's sandbox", 'personal', null],
];
const APPS: [string, string, string, Environment][] = [
  ['billing-sync', 'Billing Sync', 'acme', 'production'],
  ['ledger-dev', 'Ledger (work in progress)', 'acme', 'development'],
  ['globex-crm', 'Globex CRM connector', 'globex', 'production'],
  ['pat-notes', 'Notes', 'pat', 'development'],
];

export async function demoCommand(ctx: Context, dbFlag: string | undefined): Promise<Result> {
  if (dbFlag !== undefined && isPostgresUrl(dbFlag)) {
    // The demo replaces its database wholesale; that is for a file of its own, never a server.
    throw new DdxError('USAGE', 'The demo builds a SQLite file, not a PostgreSQL database.', {
      hint: 'Leave out --db, or pass a file path.',
    });
  }
  const path = resolve(dbFlag ?? 'ddx-share-demo.db');
  // The default location as it would be without --db and DDX_SHARE_DB (XDG_DATA_HOME counts).
  if (path === resolveDbLocation(undefined, { XDG_DATA_HOME: process.env.XDG_DATA_HOME })) {
    throw new DdxError('USAGE', 'The demo never runs on the default database.', {
      hint: 'Leave out --db, or name a new file.',
    });
  }
  await clearEarlierDemo(path);
  const store = await openStore(path);
  try {
    return await tour(ctx, store, path);
  } finally {
    await store.close();
  }
}

async function clearEarlierDemo(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const store = await openStore(path);
  let first;
  try {
    first = await store.read((r) => r.auditEvent(1));
  } finally {
    await store.close();
  }
  if (first && first.batch !== DEMO_BATCH) {
    throw new DdxError(
      'USAGE',
      `${path} holds data that the demo did not make; it is left alone.`,
      {
        hint: 'Pass --db with a new file name.',
      },
    );
  }
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
}

async function tour(ctx: Context, store: Store, path: string): Promise<Result> {
  const meta = (): Meta => ({
    actor: DEMO_ACTOR,
    at: ctx.now(),
    batch: DEMO_BATCH,
    ticket: 'DEMO-1',
  });
  const refused: { step: string; code: string; message: string }[] = [];
  const step = async (what: string, fn: Parameters<Store['write']>[0]): Promise<void> => {
    const o = (await store.write(async (w) => {
      const o = (await fn(w)) as Awaited<ReturnType<typeof setScope>>;
      if (o.event) await w.appendEvent(o.event);
      for (const e of o.revokeEvents ?? []) await w.appendEvent(e);
      return o;
    })) as Awaited<ReturnType<typeof setScope>>;
    if (!o.ok) refused.push({ step: what, code: o.denial.code, message: o.denial.message });
  };

  for (const [id, name, kind, parentId] of WORKSPACES) {
    await step(`create workspace ${id}`, (w) =>
      createWorkspace(w, { id, name, kind, parentId }, meta()),
    );
  }
  for (const [id, name, workspaceId, environment] of APPS) {
    await step(`create app ${id}`, (w) =>
      createApp(w, { id, name, workspaceId, environment }, meta()),
    );
  }
  await step('create a production app in a personal workspace', (w) =>
    createApp(
      w,
      { id: 'pat-prod', name: 'Pat prod', workspaceId: 'pat', environment: 'production' },
      meta(),
    ),
  );
  const share = (app: string, req: ScopeRequest, what: string): Promise<void> =>
    step(what, (w) => setScope(w, app, req, meta(), { write: true }));
  await share(
    'billing-sync',
    { scope: 'AllChildWorkspaces' },
    'share billing-sync with all of Acme',
  );
  await share(
    'globex-crm',
    { scope: 'CustomWorkspaceAccess', workspaces: ['acme-us'] },
    'share globex-crm with acme-us',
  );
  await share(
    'ledger-dev',
    { scope: 'AllWorkspaces' },
    'share the development app ledger-dev with everyone',
  );
  await step('install billing-sync in acme-eu-paris', (w) =>
    install(w, 'billing-sync', 'acme-eu-paris', meta()),
  );

  const view = await store.read(async (r) => {
    const paris = (await r.getWorkspace('acme-eu-paris'))!;
    const globex = (await r.getWorkspace('globex'))!;
    const app = (await r.getApp('billing-sync'))!;
    const installed = await r.installedBy(
      'acme-eu-paris',
      APPS.map((a) => a[0]),
    );
    const rows = [];
    for await (const a of r.appsVisibleTo(refOf(paris), {})) {
      const acc = accessOf(a, refOf(paris), installed.has(a.id));
      if (acc.visible)
        rows.push([a.id, a.environment, a.scope, acc.installable, acc.adminApi, acc.installed]);
    }
    return { rows, yes: explain(app, refOf(paris), true), no: explain(app, refOf(globex), false) };
  });

  const s = ctx.style;
  const text = (): string =>
    [
      s.bold(`A sample organisation is in ${path}.`),
      '',
      'Workspaces: acme (with acme-eu, acme-us, and acme-eu-paris under acme-eu), globex, and the',
      'personal workspace pat. Apps: billing-sync and globex-crm (production), ledger-dev and',
      'pat-notes (development). Every new app started visible to its own workspace only.',
      '',
      s.bold('Refused, as the rules require:'),
      ...refused.map((r) => `  ${s.red(r.code)}  ${r.message}`),
      '',
      s.bold('What acme-eu-paris sees (ddx-share list --visible-to acme-eu-paris):'),
      table(['app', 'env', 'scope', 'installable', 'adminApi', 'installed'], view.rows, s),
      '',
      s.bold('ddx-share explain billing-sync --workspace globex:'),
      ...view.no.reasons.map((r) => `  ${r.rule} ${r.message}`),
      '',
      `Try it yourself: ddx-share --db ${path} explain globex-crm --workspace acme-us`,
    ].join('\n');
  return value(
    {
      db: path,
      workspaces: WORKSPACES.length,
      apps: APPS.length,
      refused,
      visibleToParis: view.rows.length,
    },
    text,
  );
}
