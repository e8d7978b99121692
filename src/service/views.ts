import {
  accessOf,
  explainAccess,
  isCrossWorkspace,
  sees,
  type Reason,
} from '../rules/visibility.js';
import type { App, Sharing, WorkspaceRef } from '../rules/types.js';
import { refOf, type Reader, type WorkspaceRow } from '../store/store.js';

// Questions of "who sees what, and why". The store narrows the candidates with its indexes; the
// rules engine answers for each one, so no query restates a rule.

/** The workspaces a sharing could reach beyond the owner, before the engine's verdict. */
async function* reach(r: Reader, s: Sharing): AsyncIterable<WorkspaceRow> {
  if (s.environment !== 'production') return;
  switch (s.scope) {
    case 'AllWorkspaces':
      yield* r.listWorkspaces();
      return;
    case 'AllChildWorkspaces':
      yield* r.descendants(s.workspaceId);
      return;
    case 'CustomWorkspaceAccess':
      yield* (await r.getWorkspaces(s.workspaces)).values();
      return;
    case 'CurrentWorkspaceOnly':
      return;
  }
}

/** Workspaces that start and stop seeing the app when its sharing goes from one to the other. */
export async function audienceChange(
  r: Reader,
  before: Sharing,
  after: Sharing,
): Promise<{ gained: string[]; lost: string[] }> {
  const gained: string[] = [];
  const lost: string[] = [];
  for await (const ws of reach(r, after)) {
    const ref = refOf(ws);
    if (sees(after, ref) && !sees(before, ref)) gained.push(ws.id);
  }
  for await (const ws of reach(r, before)) {
    const ref = refOf(ws);
    if (sees(before, ref) && !sees(after, ref)) lost.push(ws.id);
  }
  return { gained: gained.sort(), lost: lost.sort() };
}

export interface AudienceEntry {
  id: string;
  visible: boolean;
  installable: boolean;
  adminApi: boolean;
  installed: boolean;
  /** Why it sees the app: owner, all, child or listed. */
  via: 'owner' | 'all' | 'child' | 'listed';
}

/** Every workspace that sees the app, the owner first, then by id; never truncated. */
export async function* audience(r: Reader, app: App): AsyncIterable<AudienceEntry> {
  const installs = new Set(await r.installsOf(app.id));
  const owner = await r.getWorkspace(app.workspaceId);
  if (owner) yield entry(app, refOf(owner), false, 'owner');
  const via =
    app.scope === 'AllWorkspaces' ? 'all' : app.scope === 'AllChildWorkspaces' ? 'child' : 'listed';
  const rest: AudienceEntry[] = [];
  for await (const ws of reach(r, app)) {
    if (ws.id === app.workspaceId) continue;
    const ref = refOf(ws);
    if (sees(app, ref)) rest.push(entry(app, ref, installs.has(ws.id), via));
  }
  rest.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  yield* rest;
}

function entry(
  app: App,
  ws: WorkspaceRef,
  installed: boolean,
  via: AudienceEntry['via'],
): AudienceEntry {
  return { id: ws.id, ...accessOf(app, ws, installed), via };
}

/** True when workspaces created later under the owner will see the app too. */
export function reachesFutureDescendants(app: Sharing): boolean {
  return (
    app.environment === 'production' &&
    (app.scope === 'AllChildWorkspaces' || app.scope === 'AllWorkspaces')
  );
}

export interface Explanation {
  app: string;
  workspace: string;
  visible: boolean;
  installable: boolean;
  adminApi: boolean;
  installed: boolean;
  reasons: Reason[];
}

export function explain(app: App, ws: WorkspaceRef, installed: boolean): Explanation {
  return {
    app: app.id,
    workspace: ws.id,
    ...accessOf(app, ws, installed),
    reasons: explainAccess(app, ws, installed),
  };
}

export { isCrossWorkspace };
