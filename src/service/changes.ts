import type { EventInput } from '../audit/event.js';
import type { Denial } from '../rules/codes.js';
import {
  decideCreateApp,
  decideCreateWorkspace,
  decideInstall,
  decideSetScope,
  decideUninstall,
  decideUpdateApp,
  type ScopeRequest,
} from '../rules/decide.js';
import { deny } from '../rules/codes.js';
import type {
  Action,
  App,
  Environment,
  Sharing,
  Workspace,
  WorkspaceKind,
} from '../rules/types.js';
import { refOf, type Reader, type Writer } from '../store/store.js';

// Every change, whichever path it comes by (a single command, a prompt, a bulk file, a saved
// plan, the demo), is one of these functions: read the facts, let the rules decide, write the
// change and its audit event. A denial writes nothing here; the caller records it (or not, in a
// dry run) and reports it.

export interface Meta {
  actor: string;
  at: string;
  ticket?: string | null;
  reason?: string | null;
  batch?: string | null;
}

export type Outcome<T> = { ok: true; value: T; event: EventInput | null } | Refusal;
export interface Refusal {
  ok: false;
  denial: Denial;
  /** The denied event to record, if the caller records it. */
  event: EventInput;
}

function event(
  meta: Meta,
  action: Action,
  target: string,
  before: Record<string, unknown> | null,
  after: Record<string, unknown> | null,
  denial?: Denial,
): EventInput {
  return {
    at: meta.at,
    actor: meta.actor,
    action,
    target,
    outcome: denial ? 'denied' : 'applied',
    code: denial ? denial.code : null,
    before,
    after,
    ticket: meta.ticket ?? null,
    reason: meta.reason ?? null,
    batch: meta.batch ?? null,
  };
}

function refuse(e: EventInput, denial: Denial): Refusal {
  return { ok: false, denial, event: { ...e, outcome: 'denied', code: denial.code } };
}

export interface WorkspaceRequest {
  id: string;
  name: string;
  kind: WorkspaceKind;
  parentId: string | null;
}

export async function createWorkspace(
  w: Writer,
  req: WorkspaceRequest,
  meta: Meta,
): Promise<Outcome<Workspace>> {
  const [taken, parent] = await Promise.all([
    w.idTaken('workspaces', [req.id]),
    req.parentId === null ? null : w.getWorkspace(req.parentId),
  ]);
  const after = { id: req.id, name: req.name, kind: req.kind, parentId: req.parentId };
  const e = event(meta, 'workspace.create', req.id, null, after);
  const d = decideCreateWorkspace(req, {
    idTaken: taken.size > 0,
    parent: parent === null ? null : parent && refOf(parent),
  });
  if (!d.ok) return refuse(e, d);
  const ws: Workspace = { ...after, createdAt: meta.at };
  await w.insertWorkspace(ws);
  return { ok: true, value: ws, event: e };
}

export interface AppRequest {
  id: string;
  name: string;
  workspaceId: string;
  environment: Environment;
}

export async function createApp(w: Writer, req: AppRequest, meta: Meta): Promise<Outcome<App>> {
  const [taken, owner] = await Promise.all([
    w.idTaken('apps', [req.id]),
    w.getWorkspace(req.workspaceId),
  ]);
  const d = decideCreateApp(req, { idTaken: taken.size > 0, owner: owner && refOf(owner) });
  const scope = d.ok ? d.scope : 'CurrentWorkspaceOnly';
  const after = { ...req, scope };
  const e = event(meta, 'app.create', req.id, null, after);
  if (!d.ok) return refuse(e, d);
  const app: App = { ...after, scope, workspaces: [], createdAt: meta.at, updatedAt: meta.at };
  await w.insertApp(app);
  return { ok: true, value: app, event: e };
}

function unknownApp(id: string): Denial {
  return deny('UNKNOWN_APP', `No app has the id ${id}.`, { app: id });
}

export async function updateApp(
  w: Writer,
  appId: string,
  req: { name?: string; environment?: Environment },
  meta: Meta,
): Promise<Outcome<{ before: App; after: App; changed: boolean }>> {
  const app = await w.getApp(appId);
  const asked: Record<string, unknown> = {};
  if (req.name !== undefined) asked.name = req.name;
  if (req.environment !== undefined) asked.environment = req.environment;
  const e = event(meta, 'app.update', appId, null, asked);
  if (!app) return refuse(e, unknownApp(appId));
  const d = decideUpdateApp(app, req);
  const before = { name: app.name, environment: app.environment };
  if (!d.ok) return refuse({ ...e, before }, d);
  if (!d.changed)
    return { ok: true, value: { before: app, after: app, changed: false }, event: null };
  const after = { ...app, name: d.name, updatedAt: meta.at };
  await w.renameApp(appId, d.name, meta.at);
  return {
    ok: true,
    value: { before: app, after, changed: true },
    event: { ...e, before: { name: app.name }, after: { name: d.name } },
  };
}

export interface ScopeResult {
  changed: boolean;
  before: App;
  after: App;
  revokedInstalls: string[];
}

/** The part of an app its set-scope events record. */
export function sharingOf(s: Pick<Sharing, 'scope' | 'workspaces'>): Record<string, unknown> {
  return { scope: s.scope, workspaces: s.workspaces };
}

export async function setScope(
  w: Reader & Partial<Writer>,
  appId: string,
  req: ScopeRequest,
  meta: Meta,
  opts: { write: boolean },
): Promise<Outcome<ScopeResult> & { revokeEvents?: EventInput[] }> {
  const app = await w.getApp(appId);
  const asked: Record<string, unknown> = {};
  if (req.scope !== undefined) asked.scope = req.scope;
  if (req.workspaces !== undefined) asked.workspaces = [...req.workspaces].sort();
  if (req.add !== undefined) asked.add = [...req.add].sort();
  if (req.remove !== undefined) asked.remove = [...req.remove].sort();
  if (req.environment !== undefined) asked.environment = req.environment;
  const e = event(meta, 'app.set-scope', appId, null, asked);
  if (!app) return refuse(e, unknownApp(appId));

  const named = [...(req.workspaces ?? []), ...(req.add ?? []), ...(req.remove ?? [])];
  const [found, installs] = await Promise.all([
    named.length > 0 ? w.getWorkspaces(named) : new Map(),
    w.installsOf(appId),
  ]);
  const installers = installs.length > 0 ? await w.getWorkspaces(installs) : new Map();
  const d = decideSetScope(req, {
    app,
    named: new Map([...found].map(([id, ws]) => [id, refOf(ws)])),
    installs: [...installers.values()].map(refOf),
  });
  const before = sharingOf(app);
  if (!d.ok) return refuse({ ...e, before }, d);
  if (!d.changed) {
    return {
      ok: true,
      value: { changed: false, before: app, after: app, revokedInstalls: [] },
      event: null,
    };
  }
  const after: App = {
    ...app,
    scope: d.after.scope,
    workspaces: d.after.workspaces,
    updatedAt: meta.at,
  };
  const revokeEvents = d.revokedInstalls.map((ws) =>
    event(meta, 'app.uninstall', appId, { workspace: ws }, null),
  );
  if (opts.write && w.setSharing && w.removeInstall) {
    for (const ws of d.revokedInstalls) await w.removeInstall(appId, ws);
    await w.setSharing(app, after.scope, after.workspaces, meta.at);
  }
  return {
    ok: true,
    value: { changed: true, before: app, after, revokedInstalls: d.revokedInstalls },
    event: { ...e, before, after: sharingOf(after) },
    revokeEvents,
  };
}

export async function install(
  w: Writer,
  appId: string,
  workspaceId: string,
  meta: Meta,
  uninstall = false,
): Promise<Outcome<{ installed: boolean }>> {
  const action = uninstall ? 'app.uninstall' : 'app.install';
  const side = { workspace: workspaceId };
  const e = uninstall
    ? event(meta, action, appId, side, null)
    : event(meta, action, appId, null, side);
  const [app, ws, installed] = await Promise.all([
    w.getApp(appId),
    w.getWorkspace(workspaceId),
    w.isInstalled(appId, workspaceId),
  ]);
  if (!app) return refuse(e, unknownApp(appId));
  if (!ws) {
    return refuse(
      e,
      deny('UNKNOWN_WORKSPACE', `No workspace has the id ${workspaceId}.`, {
        workspaces: [workspaceId],
      }),
    );
  }
  const d = uninstall
    ? decideUninstall(app, refOf(ws), installed)
    : decideInstall(app, refOf(ws), installed);
  if (!d.ok) return refuse(e, d);
  if (uninstall) await w.removeInstall(appId, workspaceId);
  else await w.addInstall(appId, workspaceId, meta.at);
  return { ok: true, value: { installed: !uninstall }, event: e };
}
