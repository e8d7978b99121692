import { check, idSchema } from '../io/input.js';
import { safeText } from '../io/sanitize.js';
import { install } from '../service/changes.js';
import { metaFor, value, type Context, type Result } from './context.js';
import { runChange } from './run-change.js';

export async function installCommand(
  ctx: Context,
  app: string,
  opts: { workspace: string },
  uninstall = false,
): Promise<Result> {
  const appId = check(idSchema, app, 'app id');
  const workspaceId = check(idSchema, opts.workspace, '--workspace');
  const meta = metaFor(ctx);
  const store = await ctx.openStore();
  const r = await runChange(store, (w) => install(w, appId, workspaceId, meta, uninstall));
  return value({ app: appId, workspace: workspaceId, installed: r.installed }, () =>
    r.installed
      ? `${safeText(workspaceId)} installed ${safeText(appId)}.`
      : `${safeText(workspaceId)} uninstalled ${safeText(appId)}.`,
  );
}
