import type { App, Scope } from '../../rules/types.js';
import type { AppFilter } from '../store.js';
export { matches, pathOf, toEvent, toWorkspace } from '../rows.js';
export type { EventRowDb, WsRowDb } from '../rows.js';

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
