import { DdxError } from '../errors.js';
import { check, idSchema } from '../io/input.js';
import { table } from '../io/render.js';
import { safeText } from '../io/sanitize.js';
import {
  audience,
  explain,
  reachesFutureDescendants,
  type AudienceEntry,
} from '../service/views.js';
import { refOf } from '../store/store.js';
import { findApp } from './app.js';
import { value, type Context, type Result } from './context.js';

export async function explainCommand(
  ctx: Context,
  app: string,
  opts: { workspace: string },
): Promise<Result> {
  const appId = check(idSchema, app, 'app id');
  const wsId = check(idSchema, opts.workspace, '--workspace');
  const store = await ctx.openStore();
  const x = await store.read(async (r) => {
    const found = await findApp(r, appId);
    const ws = await r.getWorkspace(wsId);
    if (!ws) {
      throw new DdxError('UNKNOWN_WORKSPACE', `No workspace has the id ${wsId}.`, {
        details: { workspaces: [wsId] },
      });
    }
    return explain(found, refOf(ws), await r.isInstalled(appId, wsId));
  });
  const s = ctx.style;
  const verdict = (yes: boolean): string => (yes ? s.green('yes') : s.red('no'));
  return value(
    {
      app: x.app,
      workspace: x.workspace,
      visible: x.visible,
      installable: x.installable,
      adminApi: x.adminApi,
      reasons: x.reasons,
    },
    () =>
      [
        `${s.bold(safeText(x.workspace))} and app ${s.bold(safeText(x.app))}:`,
        `  sees it:             ${verdict(x.visible)}   ${safeText(x.reasons[0]!.message)}`,
        `  can install it:      ${verdict(x.installable)}   ${safeText(x.reasons[1]!.message)}`,
        `  Admin API returns it: ${verdict(x.adminApi)}   ${safeText(x.reasons[2]!.message)}`,
      ].join('\n'),
  );
}

export async function audienceCommand(ctx: Context, app: string): Promise<Result> {
  const appId = check(idSchema, app, 'app id');
  const store = await ctx.openStore();
  const { found, entries } = await store.read(async (r) => {
    const found = await findApp(r, appId);
    const entries: AudienceEntry[] = [];
    for await (const e of audience(r, found)) entries.push(e);
    return { found, entries };
  });
  const future = reachesFutureDescendants(found);
  return value(
    {
      app: found.id,
      complete: true,
      futureDescendants: future,
      workspaces: entries.map(({ id, visible, installable, adminApi, installed }) => ({
        id,
        visible,
        installable,
        adminApi,
        installed,
      })),
    },
    () => {
      const head =
        `${safeText(found.id)} (${found.environment}, ${found.scope}) is seen by ` +
        `${entries.length} workspace(s):`;
      const body = table(
        ['workspace', 'via', 'installable', 'adminApi', 'installed'],
        entries.map((e) => [e.id, e.via, e.installable, e.adminApi, e.installed]),
        ctx.style,
      );
      const tail = future
        ? found.scope === 'AllChildWorkspaces'
          ? `\nWorkspaces created later under ${safeText(found.workspaceId)} will see it too.`
          : '\nWorkspaces created later will see it too.'
        : '';
      return `${head}\n${body}${tail}`;
    },
  );
}
