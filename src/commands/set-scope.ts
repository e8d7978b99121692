import { DdxError } from '../errors.js';
import {
  check,
  idListSchema,
  idSchema,
  parseScope,
  reasonSchema,
  ticketSchema,
} from '../io/input.js';
import { askCheckbox, askConfirm, askSearch, askSelect, type Choice } from '../io/prompts.js';
import { list } from '../io/render.js';
import { safeText } from '../io/sanitize.js';
import type { ScopeRequest } from '../rules/decide.js';
import { SCOPES, type App, type Scope } from '../rules/types.js';
import { setScope, sharingOf, type ScopeResult } from '../service/changes.js';
import { audienceChange, reachesFutureDescendants } from '../service/views.js';
import type { Store } from '../store/store.js';
import { appJson } from './app.js';
import { metaFor, value, type Context, type Result } from './context.js';
import { runChange } from './run-change.js';

export interface SetScopeOptions {
  app?: string | undefined;
  scope?: string | undefined;
  workspaces?: string | undefined;
  add?: string | undefined;
  remove?: string | undefined;
  ticket?: string | undefined;
  reason?: string | undefined;
  revokeInstalls?: boolean;
  dryRun?: boolean;
}

type Planned = ScopeResult & { gained: string[]; lost: string[] };

export async function setScopeCommand(ctx: Context, opts: SetScopeOptions): Promise<Result> {
  const meta = metaFor(ctx, {
    ticket: opt(ticketSchema, opts.ticket, '--ticket'),
    reason: opt(reasonSchema, opts.reason, '--reason'),
  });
  const store = await ctx.openStore();
  const appId =
    opts.app !== undefined ? check(idSchema, opts.app, 'app id') : await promptApp(ctx, store);
  const req = await buildRequest(ctx, store, appId, opts);

  let expected: App | undefined;
  if (ctx.interactive && !opts.dryRun) {
    const preview = await plan(store, appId, req, meta, 'preview');
    if (!preview.changed) return render(ctx, preview, false);
    ctx.note(describe(ctx, preview, false, true));
    if (!(await askConfirm('Apply this change?'))) {
      throw new DdxError('CANCELLED', 'Cancelled; nothing was changed.');
    }
    expected = preview.before;
  }
  const result = await plan(store, appId, req, meta, opts.dryRun ? 'dry-run' : 'apply', expected);
  return render(ctx, result, opts.dryRun ?? false);
}

function opt<T>(
  schema: Parameters<typeof check<T>>[0],
  v: string | undefined,
  what: string,
): T | undefined {
  return v === undefined ? undefined : check(schema, v, what);
}

/**
 * Decides the change and, by mode: applies it; rolls it back (a dry run, which records no
 * denial); or previews it before a confirmation, writing nothing but a denial, which is a real
 * refusal of the staff member's request and is recorded like any other.
 */
async function plan(
  store: Store,
  appId: string,
  req: ScopeRequest,
  meta: ReturnType<typeof metaFor>,
  mode: 'apply' | 'dry-run' | 'preview',
  expected?: App,
): Promise<Planned> {
  return runChange(
    store,
    async (w) => {
      const o = await setScope(w, appId, req, meta, { write: mode !== 'preview' });
      if (!o.ok) return o;
      const v = o.value;
      if (expected && JSON.stringify(sharingOf(expected)) !== JSON.stringify(sharingOf(v.before))) {
        throw new DdxError(
          'PLAN_STALE',
          `${appId} changed while you were confirming; nothing was changed.`,
          {
            hint: 'Run the command again to see its current sharing.',
          },
        );
      }
      const change = v.changed
        ? await audienceChange(w, v.before, v.after)
        : { gained: [], lost: [] };
      if (mode === 'preview') return { ok: true, value: { ...v, ...change }, event: null };
      return { ...o, value: { ...v, ...change } };
    },
    { dryRun: mode === 'dry-run' },
  );
}

async function buildRequest(
  ctx: Context,
  store: Store,
  appId: string,
  opts: SetScopeOptions,
): Promise<ScopeRequest> {
  const req: ScopeRequest = { revokeInstalls: opts.revokeInstalls ?? false };
  if (opts.scope !== undefined) req.scope = parseScope(opts.scope);
  if (opts.workspaces !== undefined)
    req.workspaces = check(idListSchema, opts.workspaces, '--workspaces');
  if (opts.add !== undefined) req.add = check(idListSchema, opts.add, '--add');
  if (opts.remove !== undefined) req.remove = check(idListSchema, opts.remove, '--remove');
  const editsList =
    req.workspaces !== undefined || req.add !== undefined || req.remove !== undefined;
  if (req.scope === undefined && !editsList) {
    if (!ctx.interactive) {
      throw new DdxError('USAGE', 'set-scope needs a scope.', {
        hint:
          'Pass one of current, children, all, custom ' +
          '(or --add/--remove to edit a custom list).',
      });
    }
    const app = await store.read((r) => r.getApp(appId));
    if (!app) return req;
    req.scope = await promptScope(app);
  }
  if (req.scope === 'CustomWorkspaceAccess' && !editsList) {
    if (!ctx.interactive) {
      throw new DdxError('USAGE', 'CustomWorkspaceAccess needs its list of workspaces.', {
        hint: 'Pass --workspaces <id,...>.',
      });
    }
    const app = await store.read((r) => r.getApp(appId));
    if (app) req.workspaces = await promptWorkspaces(store, app);
  }
  return req;
}

async function promptApp(ctx: Context, store: Store): Promise<string> {
  if (!ctx.interactive) {
    throw new DdxError('USAGE', 'set-scope needs an app id.', {
      hint: 'Pass it as the first argument.',
    });
  }
  const find = async (term: string | undefined): Promise<Choice<string>[]> => {
    const needle = (term ?? '').toLowerCase();
    const out: Choice<string>[] = [];
    for await (const app of store.stream((r) => r.listApps({}))) {
      if (app.id.includes(needle) || app.name.toLowerCase().includes(needle)) {
        out.push({
          value: app.id,
          name: `${safeText(app.id)}  ${safeText(app.name)} (${app.environment}, ${app.scope})`,
        });
        if (out.length >= 50) break;
      }
    }
    return out;
  };
  // The prompt asks again on every keystroke, before the last search has finished; one
  // connection holds one transaction at a time, so the searches take turns.
  let last: Promise<unknown> = Promise.resolve();
  return askSearch<string>('Which app?', (term) => {
    const next = last.then(() => find(term));
    last = next.catch(() => undefined);
    return next;
  });
}

const SCOPE_HELP: Record<Scope, string> = {
  CurrentWorkspaceOnly: 'only the owner sees it',
  AllChildWorkspaces: 'every workspace under the owner',
  AllWorkspaces: 'every workspace in the Console',
  CustomWorkspaceAccess: 'a list of workspaces you choose',
};

async function promptScope(app: App): Promise<Scope> {
  const choices = SCOPES.map((s) => {
    const c: Choice<Scope> = { value: s, name: `${s}: ${SCOPE_HELP[s]}` };
    if (app.environment === 'development' && s !== 'CurrentWorkspaceOnly') {
      c.disabled = 'development apps never leave their workspace';
    }
    return c;
  });
  return askSelect(`Sharing scope for ${safeText(app.id)} (now ${app.scope})`, choices, app.scope);
}

async function promptWorkspaces(store: Store, app: App): Promise<string[]> {
  const choices: Choice<string>[] = [];
  for await (const ws of store.stream((r) => r.listWorkspaces())) {
    if (ws.id === app.workspaceId) continue;
    choices.push({ value: ws.id, name: `${safeText(ws.id)}  ${safeText(ws.name)}` });
  }
  return askCheckbox('Which workspaces may see it?', choices);
}

function describe(ctx: Context, r: Planned, dryRun: boolean, preview = false): string {
  const s = ctx.style;
  if (!r.changed) {
    return (
      `Nothing to change: ${safeText(r.before.id)} already has ${r.before.scope}` +
      (r.before.scope === 'CustomWorkspaceAccess' ? ` (${list(r.before.workspaces)}).` : '.')
    );
  }
  const side = (a: App): string =>
    a.scope === 'CustomWorkspaceAccess' ? `${a.scope} (${list(a.workspaces)})` : a.scope;
  const lines = [
    `${dryRun || preview ? 'Would change' : 'Changed'} ${s.bold(safeText(r.before.id))}: ` +
      `${side(r.before)} -> ${side(r.after)}`,
    `  gain access: ${s.green(list(r.gained))}`,
    `  lose access: ${s.red(list(r.lost))}`,
  ];
  if (r.revokedInstalls.length > 0)
    lines.push(`  installs revoked: ${s.yellow(list(r.revokedInstalls))}`);
  if (reachesFutureDescendants(r.after) && !reachesFutureDescendants(r.before)) {
    lines.push(
      r.after.scope === 'AllChildWorkspaces'
        ? `  Workspaces created later under ${safeText(r.after.workspaceId)} will see it too.`
        : '  Workspaces created later will see it too.',
    );
  }
  if (dryRun) lines.push(s.dim('Dry run: nothing was written.'));
  return lines.join('\n');
}

function render(ctx: Context, r: Planned, dryRun: boolean): Result {
  return value(
    {
      changed: r.changed,
      dryRun,
      before: appJson(r.before),
      after: appJson(r.after),
      gained: r.gained,
      lost: r.lost,
      revokedInstalls: r.revokedInstalls,
    },
    () => describe(ctx, r, dryRun),
  );
}
