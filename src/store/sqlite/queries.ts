import type { Statement } from 'better-sqlite3';
import { GENESIS, nextEvent } from '../../audit/chain.js';
import type { AuditEvent, AuditFilter, EventInput } from '../../audit/event.js';
import type { App, Scope, Workspace, WorkspaceRef } from '../../rules/types.js';
import type { AppFilter, Reader, WorkspaceRow, Writer } from '../store.js';
import { accessChange, matches, pathOf, toEvent, toWorkspace } from '../rows.js';
import type { EventRowDb, WsRowDb } from '../rows.js';
import type { Db } from './connection.js';

// Only a CustomWorkspaceAccess app has an access list, so only its rows are looked up; an
// access row on any other app is what `audit check` looks for separately (see checkGuards).
//
// Every statement names the index it must use (INDEXED BY) where the planner could pick a scan:
// at a million apps the wrong plan costs seconds, and SQLite refuses to run a pinned statement
// whose index is gone rather than quietly scanning.

const PAGE = 1000;

/** An app row as an array, in APP_COLUMNS order: raw rows cost half what objects do per row. */
type AppRowDb = [
  id: string,
  name: string,
  workspaceId: string,
  environment: App['environment'],
  scope: Scope,
  createdAt: string,
  updatedAt: string,
  list: string | null,
];

const APP_COLUMNS = `a.id, a.name, a.workspace_id, a.environment, a.scope, a.created_at,
  a.updated_at, CASE WHEN a.scope = 'CustomWorkspaceAccess'
  THEN (SELECT group_concat(workspace_id, ' ') FROM app_access WHERE app_id = a.id) END AS list`;
// Built once: the statement cache is keyed by the text, and a bulk batch asks for it per record.
const APP_BY_ID = `SELECT ${APP_COLUMNS} FROM apps a WHERE a.id = ?`;

function toApp(r: AppRowDb): App {
  const [id, name, workspaceId, environment, scope, createdAt, updatedAt, list] = r;
  return {
    id,
    name,
    workspaceId,
    environment,
    scope,
    workspaces: list ? list.split(' ').sort() : [],
    createdAt,
    updatedAt,
  };
}

/** Prepared statements, made once per connection and reused for every record of a batch. */
export class Statements {
  // One map per mode, keyed by the text itself: a key built per call ("raw:" + sql) would be
  // hashed afresh on every lookup, and a bulk batch makes several lookups per record.
  private readonly rows = new Map<string, Statement>();
  private readonly arrays = new Map<string, Statement>();
  private readonly firsts = new Map<string, Statement>();
  constructor(readonly db: Db) {}
  get(sql: string): Statement {
    return this.rows.get(sql) ?? this.keep(this.rows, sql, this.db.prepare(sql));
  }
  /** The same, returning each row as an array of its columns. */
  raw(sql: string): Statement {
    return this.arrays.get(sql) ?? this.keep(this.arrays, sql, this.db.prepare(sql).raw(true));
  }
  /** The same, returning only the first column of each row. */
  pluck(sql: string): Statement {
    return this.firsts.get(sql) ?? this.keep(this.firsts, sql, this.db.prepare(sql).pluck());
  }
  private keep(cache: Map<string, Statement>, sql: string, s: Statement): Statement {
    cache.set(sql, s);
    return s;
  }
}

export class SqliteReader implements Reader {
  constructor(protected readonly st: Statements) {}

  async getWorkspace(id: string): Promise<WorkspaceRow | undefined> {
    const r = this.st.get('SELECT * FROM workspaces WHERE id = ?').get(id) as WsRowDb | undefined;
    return r && toWorkspace(r);
  }

  async getWorkspaces(ids: readonly string[]): Promise<Map<string, WorkspaceRow>> {
    const out = new Map<string, WorkspaceRow>();
    const stmt = this.st.get('SELECT * FROM workspaces WHERE id = ?');
    for (const id of new Set(ids)) {
      const r = stmt.get(id) as WsRowDb | undefined;
      if (r) out.set(id, toWorkspace(r));
    }
    return out;
  }

  async *listWorkspaces(): AsyncIterable<WorkspaceRow> {
    const stmt = this.st.get(
      'SELECT * FROM workspaces INDEXED BY workspaces_path WHERE path > ? ' +
        'ORDER BY path LIMIT ?',
    );
    yield* pages(stmt, '', (r: WsRowDb) => r.path, toWorkspace);
  }

  async *descendants(id: string): AsyncIterable<WorkspaceRow> {
    const self = await this.getWorkspace(id);
    if (!self) return;
    const prefix = pathOf(self);
    const stmt = this.st.get(
      'SELECT * FROM workspaces INDEXED BY workspaces_path ' +
        "WHERE path > ? AND path < ? || '~' ORDER BY path LIMIT ?",
    );
    let after = prefix;
    for (;;) {
      const rows = stmt.all(after, prefix, PAGE) as WsRowDb[];
      for (const r of rows) yield toWorkspace(r);
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1]!.path;
    }
  }

  async countWorkspaces(): Promise<number> {
    return (this.st.get('SELECT count(*) AS n FROM workspaces').get() as { n: number }).n;
  }

  async getApp(id: string): Promise<App | undefined> {
    const r = this.st.raw(APP_BY_ID).get(id) as AppRowDb | undefined;
    return r && toApp(r);
  }

  async getApps(ids: readonly string[]): Promise<Map<string, App>> {
    const out = new Map<string, App>();
    const stmt = this.st.raw(APP_BY_ID);
    for (const id of new Set(ids)) {
      const r = stmt.get(id) as AppRowDb | undefined;
      if (r) out.set(id, toApp(r));
    }
    return out;
  }

  async *listApps(filter: AppFilter): AsyncIterable<App> {
    for await (const page of this.listAppPages(filter)) yield* page;
  }

  async *listAppPages(filter: AppFilter): AsyncIterable<App[]> {
    const { sql, params } = appQuery(filter);
    const stmt = this.st.raw(sql);
    let after = '';
    for (;;) {
      const rows = stmt.all(...params, after, PAGE) as AppRowDb[];
      const page: App[] = [];
      for (const r of rows) {
        const app = toApp(r);
        if (matches(app, filter)) page.push(app);
      }
      if (page.length > 0) yield page;
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1]![0];
    }
  }

  async *appsVisibleTo(ws: WorkspaceRef, filter: AppFilter): AsyncIterable<App> {
    // Four narrow lookups, each an index range, instead of one JOIN the planner may turn into a
    // scan of every app: the owner's apps, apps shared to everyone, apps shared to the children
    // of an ancestor, and apps whose custom list names this workspace.
    const ids = new Set<string>();
    const own = this.st.pluck('SELECT id FROM apps INDEXED BY apps_owner WHERE workspace_id = ?');
    for (const id of own.all(ws.id) as string[]) ids.add(id);
    const all = this.st.pluck(
      "SELECT id FROM apps INDEXED BY apps_shared WHERE scope = 'AllWorkspaces' " +
        "AND scope <> 'CurrentWorkspaceOnly'",
    );
    for (const id of all.all() as string[]) ids.add(id);
    const children = this.st.pluck(
      'SELECT id FROM apps INDEXED BY apps_owner ' +
        "WHERE workspace_id = ? AND scope = 'AllChildWorkspaces'",
    );
    for (const ancestor of ws.ancestors) {
      for (const id of children.all(ancestor) as string[]) ids.add(id);
    }
    const listed = this.st.pluck(
      'SELECT app_id FROM app_access INDEXED BY app_access_workspace WHERE workspace_id = ?',
    );
    for (const id of listed.all(ws.id) as string[]) ids.add(id);

    const byId = this.st.raw(APP_BY_ID);
    for (const id of [...ids].sort()) {
      const app = toApp(byId.get(id) as AppRowDb);
      if (matches(app, filter)) yield app;
    }
  }

  async installsOf(appId: string): Promise<string[]> {
    const stmt = this.st.pluck(
      'SELECT workspace_id FROM installs WHERE app_id = ? ORDER BY workspace_id',
    );
    return stmt.all(appId) as string[];
  }

  async installedBy(workspaceId: string, appIds: readonly string[]): Promise<Set<string>> {
    const stmt = this.st.pluck(
      'SELECT app_id FROM installs INDEXED BY installs_workspace WHERE workspace_id = ?',
    );
    const wanted = new Set(appIds);
    return new Set((stmt.all(workspaceId) as string[]).filter((id) => wanted.has(id)));
  }

  async isInstalled(appId: string, workspaceId: string): Promise<boolean> {
    const stmt = this.st.get('SELECT 1 FROM installs WHERE app_id = ? AND workspace_id = ?');
    return stmt.get(appId, workspaceId) !== undefined;
  }

  async idTaken(table: 'workspaces' | 'apps', ids: readonly string[]): Promise<Set<string>> {
    const stmt = this.st.get(
      table === 'apps'
        ? 'SELECT 1 FROM apps WHERE id = ?'
        : 'SELECT 1 FROM workspaces WHERE id = ?',
    );
    return new Set(ids.filter((id) => stmt.get(id) !== undefined));
  }

  async strayAccess(): Promise<{ appId: string; workspaces: string[] }[]> {
    const rows = this.st
      .get(
        "SELECT x.app_id, group_concat(x.workspace_id, ' ') AS list FROM app_access x " +
          "JOIN apps a ON a.id = x.app_id WHERE a.scope <> 'CustomWorkspaceAccess' " +
          'GROUP BY x.app_id ORDER BY x.app_id',
      )
      .all() as { app_id: string; list: string }[];
    return rows.map((r) => ({ appId: r.app_id, workspaces: r.list.split(' ').sort() }));
  }

  async *listInstalls(): AsyncIterable<{ appId: string; workspaceId: string }> {
    const stmt = this.st.get(
      'SELECT app_id, workspace_id FROM installs WHERE (app_id, workspace_id) > (?, ?) ' +
        'ORDER BY app_id, workspace_id LIMIT ?',
    );
    let after: [string, string] = ['', ''];
    for (;;) {
      const rows = stmt.all(after[0], after[1], PAGE) as { app_id: string; workspace_id: string }[];
      for (const r of rows) yield { appId: r.app_id, workspaceId: r.workspace_id };
      if (rows.length < PAGE) return;
      const last = rows[rows.length - 1]!;
      after = [last.app_id, last.workspace_id];
    }
  }

  async *auditEvents(filter: AuditFilter): AsyncIterable<AuditEvent> {
    const { where, params, index } = eventWhere(filter);
    let from = filter.fromSeq ?? 1;
    if (filter.since !== undefined) {
      // Times rise with seq, so the first event at or after `since` bounds the scan by seq.
      const first = this.st
        .pluck('SELECT min(seq) FROM audit_events INDEXED BY audit_events_at WHERE at >= ?')
        .get(filter.since) as number | null;
      if (first === null) return;
      from = Math.max(from, first);
    }
    if (filter.limit !== undefined) {
      // The newest `limit` matching events, printed oldest first: find where they start.
      const start = this.st
        .pluck(
          `SELECT seq FROM audit_events ${index} WHERE ${where} AND seq >= ? ` +
            'ORDER BY seq DESC LIMIT 1 OFFSET ?',
        )
        .get(...params, from, Math.max(filter.limit - 1, 0)) as number | undefined;
      if (filter.limit <= 0) return;
      if (start !== undefined) from = start;
    }
    const stmt = this.st.get(
      `SELECT * FROM audit_events ${index} WHERE ${where} AND seq >= ? ORDER BY seq LIMIT ?`,
    );
    for (;;) {
      const rows = stmt.all(...params, from, PAGE) as EventRowDb[];
      for (const r of rows) yield toEvent(r);
      if (rows.length < PAGE) return;
      from = Number(rows[rows.length - 1]!.seq) + 1;
    }
  }

  async auditHead(): Promise<{ seq: number; hash: string }> {
    const r = this.st
      .get('SELECT seq, hash FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)')
      .get() as { seq: number; hash: string } | undefined;
    return r ?? { seq: 0, hash: GENESIS };
  }

  async auditEvent(seq: number): Promise<AuditEvent | undefined> {
    const r = this.st.get('SELECT * FROM audit_events WHERE seq = ?').get(seq) as
      EventRowDb | undefined;
    return r && toEvent(r);
  }
}

export class SqliteWriter extends SqliteReader implements Writer {
  private head: { seq: number; hash: string } | undefined;

  async insertWorkspace(ws: Workspace): Promise<void> {
    const parent = ws.parentId === null ? undefined : await this.getWorkspace(ws.parentId);
    const path = (parent ? pathOf(parent) : '/') + ws.id + '/';
    this.st
      .get(
        'INSERT INTO workspaces (id, name, kind, parent_id, path, created_at) ' +
          'VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(ws.id, ws.name, ws.kind, ws.parentId, path, ws.createdAt);
  }

  async insertApp(app: App): Promise<void> {
    this.st
      .get(
        'INSERT INTO apps (id, name, workspace_id, environment, scope, created_at, updated_at) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        app.id,
        app.name,
        app.workspaceId,
        app.environment,
        app.scope,
        app.createdAt,
        app.updatedAt,
      );
  }

  async renameApp(appId: string, name: string, updatedAt: string): Promise<void> {
    this.st
      .get('UPDATE apps SET name = ?, updated_at = ? WHERE id = ?')
      .run(name, updatedAt, appId);
  }

  async setSharing(
    app: Pick<App, 'id' | 'workspaces'>,
    scope: Scope,
    workspaces: readonly string[],
    at: string,
  ): Promise<void> {
    const { removed, added } = accessChange(app.workspaces, workspaces);
    if (removed.length > 0) {
      const del = this.st.get('DELETE FROM app_access WHERE app_id = ? AND workspace_id = ?');
      for (const id of removed) del.run(app.id, id);
    }
    this.st.get('UPDATE apps SET scope = ?, updated_at = ? WHERE id = ?').run(scope, at, app.id);
    if (added.length > 0) {
      const ins = this.st.get('INSERT INTO app_access (app_id, workspace_id) VALUES (?, ?)');
      for (const id of added) ins.run(app.id, id);
    }
  }

  async addInstall(appId: string, workspaceId: string, at: string): Promise<void> {
    this.st
      .get('INSERT INTO installs (app_id, workspace_id, installed_at) VALUES (?, ?, ?)')
      .run(appId, workspaceId, at);
  }

  async removeInstall(appId: string, workspaceId: string): Promise<void> {
    this.st
      .get('DELETE FROM installs WHERE app_id = ? AND workspace_id = ?')
      .run(appId, workspaceId);
  }

  async setting(key: string, make: () => string): Promise<string> {
    const have = this.st.pluck('SELECT value FROM settings WHERE key = ?').get(key) as
      string | undefined;
    if (have !== undefined) return have;
    const value = make();
    this.st.get('INSERT INTO settings (key, value) VALUES (?, ?)').run(key, value);
    return value;
  }

  async appendEvent(input: EventInput): Promise<AuditEvent> {
    this.head ??= await this.auditHead();
    const e = nextEvent(input, this.head);
    this.st
      .get(
        'INSERT INTO audit_events (seq, at, actor, action, target, outcome, code, before, after, ' +
          'ticket, reason, batch, prev_hash, hash) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        e.seq,
        e.at,
        e.actor,
        e.action,
        e.target,
        e.outcome,
        e.code,
        e.before,
        e.after,
        e.ticket,
        e.reason,
        e.batch,
        e.prevHash,
        e.hash,
      );
    this.head = { seq: e.seq, hash: e.hash };
    return e;
  }
}

/** The narrowest index for a listing; the remaining filters are applied to each row. */
function appQuery(f: AppFilter): { sql: string; params: unknown[] } {
  const tail = 'a.id > ? ORDER BY a.id LIMIT ?';
  if (f.workspaceId !== undefined) {
    return {
      sql:
        `SELECT ${APP_COLUMNS} FROM apps a INDEXED BY apps_owner ` +
        `WHERE a.workspace_id = ? AND ${tail}`,
      params: [f.workspaceId],
    };
  }
  if (f.scope !== undefined && f.scope !== 'CurrentWorkspaceOnly') {
    return {
      sql:
        `SELECT ${APP_COLUMNS} FROM apps a INDEXED BY apps_shared ` +
        `WHERE a.scope = ? AND a.scope <> 'CurrentWorkspaceOnly' AND ${tail}`,
      params: [f.scope],
    };
  }
  if (f.shared) {
    return {
      sql:
        `SELECT ${APP_COLUMNS} FROM apps a INDEXED BY apps_shared ` +
        `WHERE a.scope <> 'CurrentWorkspaceOnly' AND ${tail}`,
      params: [],
    };
  }
  // Listing every app (or filtering on a column with no index) reads them all by design.
  return { sql: `SELECT ${APP_COLUMNS} FROM apps a WHERE ${tail}`, params: [] };
}

function eventWhere(f: AuditFilter): { where: string; params: unknown[]; index: string } {
  const clauses: string[] = ['1'];
  const params: unknown[] = [];
  let index = '';
  if (f.target !== undefined) {
    clauses.push('target = ?');
    params.push(f.target);
    index = 'INDEXED BY audit_events_target';
  }
  if (f.actor !== undefined) {
    clauses.push('actor = ?');
    params.push(f.actor);
    if (!index) index = 'INDEXED BY audit_events_actor';
  }
  if (f.action !== undefined) {
    clauses.push('action = ?');
    params.push(f.action);
  }
  if (f.outcome !== undefined) {
    clauses.push('outcome = ?');
    params.push(f.outcome);
  }
  if (f.since !== undefined) {
    clauses.push('at >= ?');
    params.push(f.since);
  }
  return { where: clauses.join(' AND '), params, index };
}

async function* pages<R, T>(
  stmt: Statement,
  start: string,
  key: (r: R) => string,
  map: (r: R) => T,
): AsyncIterable<T> {
  let after = start;
  for (;;) {
    const rows = stmt.all(after, PAGE) as R[];
    for (const r of rows) yield map(r);
    if (rows.length < PAGE) return;
    after = key(rows[rows.length - 1]!);
  }
}
