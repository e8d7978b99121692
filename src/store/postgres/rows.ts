import type { AuditEvent } from '../../audit/event.js';
import type { App, Scope, Workspace } from '../../rules/types.js';
import type { AppFilter, WorkspaceRow } from '../store.js';

// Rows as PostgreSQL returns them, and the records the rest of ddx-share works with. The shapes
// are those of the SQLite backend, so both answer every question identically.

export interface AppRowDb {
  id: string;
  name: string;
  workspace_id: string;
  environment: App['environment'];
  scope: Scope;
  created_at: string;
  updated_at: string;
  list: string[];
}

export interface WsRowDb {
  id: string;
  name: string;
  kind: Workspace['kind'];
  parent_id: string | null;
  path: string;
  created_at: string;
}

export interface EventRowDb {
  /** BIGINT, which pg returns as text so no digit is lost. */
  seq: string;
  at: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  code: string | null;
  before: string | null;
  after: string | null;
  ticket: string | null;
  reason: string | null;
  batch: string | null;
  prev_hash: string;
  hash: string;
}

/** Rows per page of a listing: constant memory however long the listing. */
export const PAGE = 1000;

export const WS_COLUMNS = 'id, name, kind, parent_id, path, created_at';

export const APP_COLUMNS = `a.id, a.name, a.workspace_id, a.environment, a.scope, a.created_at,
  a.updated_at, CASE WHEN a.scope = 'CustomWorkspaceAccess'
  THEN ARRAY(SELECT workspace_id FROM app_access WHERE app_id = a.id ORDER BY workspace_id)
  ELSE '{}'::text[] END AS list`;

export function toApp(r: AppRowDb): App {
  return {
    id: r.id,
    name: r.name,
    workspaceId: r.workspace_id,
    environment: r.environment,
    scope: r.scope,
    workspaces: [...r.list].sort(),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toWorkspace(r: WsRowDb): WorkspaceRow {
  const parts = r.path.split('/').filter(Boolean);
  parts.pop();
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    parentId: r.parent_id,
    createdAt: r.created_at,
    ancestors: parts,
  };
}

export function toEvent(r: EventRowDb): AuditEvent {
  return {
    seq: Number(r.seq),
    at: r.at,
    actor: r.actor,
    action: r.action,
    target: r.target,
    outcome: r.outcome,
    code: r.code,
    before: r.before,
    after: r.after,
    ticket: r.ticket,
    reason: r.reason,
    batch: r.batch,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export function pathOf(ws: WorkspaceRow): string {
  return '/' + [...ws.ancestors, ws.id].join('/') + '/';
}

export function matches(app: App, f: AppFilter): boolean {
  return (
    (f.environment === undefined || app.environment === f.environment) &&
    (f.scope === undefined || app.scope === f.scope) &&
    (f.workspaceId === undefined || app.workspaceId === f.workspaceId) &&
    (f.shared !== true || app.scope !== 'CurrentWorkspaceOnly')
  );
}

/**
 * The narrowest condition for a listing, with its parameters; the remaining filters are applied
 * to each row. The query pages on id: `$n` after the parameters, then the page size.
 */
export function appQuery(f: AppFilter): { sql: string; params: unknown[] } {
  const page = (n: number): string => `a.id > $${n} ORDER BY a.id LIMIT $${n + 1}`;
  const from = `SELECT ${APP_COLUMNS} FROM apps a WHERE`;
  if (f.workspaceId !== undefined) {
    return { sql: `${from} a.workspace_id = $1 AND ${page(2)}`, params: [f.workspaceId] };
  }
  if (f.scope !== undefined && f.scope !== 'CurrentWorkspaceOnly') {
    return { sql: `${from} a.scope = $1 AND ${page(2)}`, params: [f.scope] };
  }
  if (f.shared) {
    return { sql: `${from} a.scope <> 'CurrentWorkspaceOnly' AND ${page(1)}`, params: [] };
  }
  // Listing every app (or filtering on a column with no index) reads them all by design.
  return { sql: `${from} ${page(1)}`, params: [] };
}
