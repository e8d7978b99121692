import type { AuditEvent } from '../audit/event.js';
import type { App, Workspace } from '../rules/types.js';
import type { AppFilter, WorkspaceRow } from './store.js';

// Rows as both backends store them, and the domain values they stand for: one mapping, so the
// two backends cannot drift apart in what they return.

export interface WsRowDb {
  id: string;
  name: string;
  kind: Workspace['kind'];
  parent_id: string | null;
  path: string;
  created_at: string;
}

export interface EventRowDb {
  /** SQLite gives a number; PostgreSQL's BIGINT comes as text, so that no digit is lost. */
  seq: number | string;
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

/** '/root/child/self/': every ancestor and itself, the form that makes descendants a range. */
export function pathOf(ws: WorkspaceRow): string {
  return '/' + [...ws.ancestors, ws.id].join('/') + '/';
}

/** The filters a listing's query did not already apply. */
export function matches(app: App, f: AppFilter): boolean {
  return (
    (f.environment === undefined || app.environment === f.environment) &&
    (f.scope === undefined || app.scope === f.scope) &&
    (f.workspaceId === undefined || app.workspaceId === f.workspaceId) &&
    (f.shared !== true || app.scope !== 'CurrentWorkspaceOnly')
  );
}

/**
 * The access-list rows a sharing change removes and adds, going from the list as read to the
 * new one. Both backends remove before the scope leaves CustomWorkspaceAccess and add after it
 * arrives, the order the database's guards insist on; most changes have no list on either side.
 */
export function accessChange(
  from: readonly string[],
  to: readonly string[],
): { removed: string[]; added: string[] } {
  if (from.length === 0) return { removed: [], added: [...to] }; // the usual case, in bulk
  const keep = new Set(to);
  const had = new Set(from);
  return {
    removed: from.filter((id) => !keep.has(id)),
    added: to.filter((id) => !had.has(id)),
  };
}
