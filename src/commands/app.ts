import { DdxError } from '../errors.js';
import { check, envSchema, idSchema, nameSchema, slugify } from '../io/input.js';
import { list, table } from '../io/render.js';
import { safeText } from '../io/sanitize.js';
import type { App } from '../rules/types.js';
import { createApp, updateApp } from '../service/changes.js';
import type { Reader } from '../store/store.js';
import { metaFor, value, type Context, type Result } from './context.js';
import { freeId, runChange } from './run-change.js';

export function appJson(app: App): Record<string, unknown> {
  return {
    id: app.id,
    name: app.name,
    workspaceId: app.workspaceId,
    environment: app.environment,
    scope: app.scope,
    workspaces: app.workspaces,
    createdAt: app.createdAt,
    updatedAt: app.updatedAt,
  };
}

export async function findApp(r: Reader, id: string): Promise<App> {
  const app = await r.getApp(id);
  if (!app) {
    throw new DdxError('UNKNOWN_APP', `No app has the id ${id}.`, {
      hint: 'See `ddx-share list`.',
      details: { app: id },
    });
  }
  return app;
}

export async function createAppCommand(
  ctx: Context,
  opts: { name: string; workspace: string; env: string; id?: string | undefined },
): Promise<Result> {
  const name = check(nameSchema, opts.name, 'app name');
  const workspaceId = check(idSchema, opts.workspace, '--workspace');
  const environment = check(envSchema, opts.env, '--env');
  const meta = metaFor(ctx);
  const store = await ctx.openStore();
  const id =
    opts.id !== undefined
      ? check(idSchema, opts.id, '--id')
      : await freeId(store, 'apps', slugify(name, 'app'));
  const app = await runChange(store, (w) =>
    createApp(w, { id, name, workspaceId, environment }, meta),
  );
  return value(
    appJson(app),
    () =>
      `Created ${app.environment} app ${ctx.style.bold(safeText(app.id))} in ` +
      `${safeText(app.workspaceId)}; only ${safeText(app.workspaceId)} sees it ` +
      '(CurrentWorkspaceOnly).',
  );
}

export async function showAppCommand(ctx: Context, id: string): Promise<Result> {
  const appId = check(idSchema, id, 'app id');
  const store = await ctx.openStore();
  const { app, installs } = await store.read(async (r) => {
    const app = await findApp(r, appId);
    return { app, installs: await r.installsOf(appId) };
  });
  return value({ ...appJson(app), installs }, () =>
    table(
      ['field', 'value'],
      [
        ['id', app.id],
        ['name', app.name],
        ['workspace', app.workspaceId],
        ['environment', app.environment],
        ['scope', app.scope],
        ['access list', app.scope === 'CustomWorkspaceAccess' ? list(app.workspaces) : '-'],
        ['installed by', list(installs)],
        ['created', app.createdAt],
        ['updated', app.updatedAt],
      ],
      ctx.style,
    ),
  );
}

export async function updateAppCommand(
  ctx: Context,
  id: string,
  opts: { name?: string | undefined; env?: string | undefined },
): Promise<Result> {
  const appId = check(idSchema, id, 'app id');
  const req: { name?: string; environment?: App['environment'] } = {};
  if (opts.name !== undefined) req.name = check(nameSchema, opts.name, '--name');
  if (opts.env !== undefined) req.environment = check(envSchema, opts.env, '--env');
  if (req.name === undefined && req.environment === undefined) {
    throw new DdxError('USAGE', 'Nothing to update.', { hint: 'Pass --name <name>.' });
  }
  const meta = metaFor(ctx);
  const store = await ctx.openStore();
  const r = await runChange(store, (w) => updateApp(w, appId, req, meta));
  return value(appJson(r.after), () =>
    r.changed
      ? `Renamed ${safeText(appId)} to ${safeText(r.after.name)}.`
      : `Nothing changed: ${safeText(appId)} already has that name.`,
  );
}
