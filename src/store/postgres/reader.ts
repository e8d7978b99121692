import { GENESIS } from '../../audit/chain.js';
import type { AuditEvent, AuditFilter } from '../../audit/event.js';
import type { App, WorkspaceRef } from '../../rules/types.js';
import type { AppFilter, Reader, WorkspaceRow } from '../store.js';
import type { Conn } from './connection.js';
import { auditEvents } from './events.js';
import {
  APP_COLUMNS,
  PAGE,
  WS_COLUMNS,
  appQuery,
  matches,
  pathOf,
  toApp,
  toEvent,
  toWorkspace,
  type AppRowDb,
  type EventRowDb,
  type WsRowDb,
} from './rows.js';

// The same questions as the SQLite reader, asked the same way: keyset pages of 1000 rows so a
// listing of a million streams in constant memory, and ids compared in byte order (the schema's
// COLLATE "C") so every listing comes out in the same order on both backends.

/** What a lookup reads, so a writer knows which of its buffered writes must land first. */
export type Table = 'workspaces' | 'apps' | 'installs' | 'events';

/** In the order asked, like the SQLite reader, for callers that list the values. */
export function inOrder<T>(ids: readonly string[], found: Map<string, T>): Map<string, T> {
  const out = new Map<string, T>();
  for (const id of ids) {
    const x = found.get(id);
    if (x !== undefined) out.set(id, x);
  }
  return out;
}

export class PgReader implements Reader {
  constructor(protected readonly db: Conn) {}

  /** Runs one lookup. The writer overrides this to flush what the lookup could observe. */
  protected run<T>(_table: Table, fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  protected async loadWorkspaces(ids: readonly string[]): Promise<Map<string, WorkspaceRow>> {
    const unique = [...new Set(ids)];
    const rows = await this.db.rows<WsRowDb>(
      `SELECT ${WS_COLUMNS} FROM workspaces WHERE id = ANY($1::text[])`,
      [unique],
    );
    return inOrder(unique, new Map(rows.map((r) => [r.id, toWorkspace(r)])));
  }

  getWorkspace(id: string): Promise<WorkspaceRow | undefined> {
    return this.run('workspaces', async () => (await this.loadWorkspaces([id])).get(id));
  }

  getWorkspaces(ids: readonly string[]): Promise<Map<string, WorkspaceRow>> {
    return this.run('workspaces', () => this.loadWorkspaces(ids));
  }

  listWorkspaces(): AsyncIterable<WorkspaceRow> {
    return this.workspaceRange('', null);
  }

  async *descendants(id: string): AsyncIterable<WorkspaceRow> {
    const self = await this.getWorkspace(id);
    if (!self) return;
    yield* this.workspaceRange(pathOf(self), pathOf(self));
  }

  /** Workspaces by path after `after`, and under `prefix` if given. */
  private async *workspaceRange(after: string, prefix: string | null): AsyncIterable<WorkspaceRow> {
    const sql =
      prefix === null
        ? `SELECT ${WS_COLUMNS} FROM workspaces WHERE path > $1 ORDER BY path LIMIT $2`
        : `SELECT ${WS_COLUMNS} FROM workspaces WHERE path > $1 AND path < $3 || '~' ` +
          'ORDER BY path LIMIT $2';
    for (;;) {
      const params = prefix === null ? [after, PAGE] : [after, PAGE, prefix];
      const rows = await this.run('workspaces', () => this.db.rows<WsRowDb>(sql, params));
      for (const r of rows) yield toWorkspace(r);
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1]!.path;
    }
  }

  countWorkspaces(): Promise<number> {
    return this.run('workspaces', async () => {
      const [r] = await this.db.rows<{ n: number }>('SELECT count(*)::int AS n FROM workspaces');
      return r!.n;
    });
  }

  getApp(id: string): Promise<App | undefined> {
    return this.run('apps', async () => {
      const [r] = await this.db.rows<AppRowDb>(
        `SELECT ${APP_COLUMNS} FROM apps a WHERE a.id = $1`,
        [id],
      );
      return r && toApp(r);
    });
  }

  /**
   * The ones that exist, by id: a thousand per round trip. Not in the Reader interface (yet): a
   * batch that knows its next ids can warm a writer's cache with it.
   */
  getApps(ids: readonly string[]): Promise<Map<string, App>> {
    return this.run('apps', async () => {
      const found = new Map<string, App>();
      const unique = [...new Set(ids)];
      for (let i = 0; i < unique.length; i += PAGE) {
        const rows = await this.db.rows<AppRowDb>(
          `SELECT ${APP_COLUMNS} FROM apps a WHERE a.id = ANY($1::text[])`,
          [unique.slice(i, i + PAGE)],
        );
        for (const r of rows) found.set(r.id, toApp(r));
      }
      return inOrder(unique, found);
    });
  }

  async *listApps(filter: AppFilter): AsyncIterable<App> {
    for await (const page of this.listAppPages(filter)) yield* page;
  }

  async *listAppPages(filter: AppFilter): AsyncIterable<App[]> {
    const { sql, params } = appQuery(filter);
    let after = '';
    for (;;) {
      const rows = await this.run('apps', () =>
        this.db.rows<AppRowDb>(sql, [...params, after, PAGE]),
      );
      const page: App[] = [];
      for (const r of rows) {
        const app = toApp(r);
        if (matches(app, filter)) page.push(app);
      }
      if (page.length > 0) yield page;
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  async *appsVisibleTo(ws: WorkspaceRef, filter: AppFilter): AsyncIterable<App> {
    // Four narrow lookups, each an index range, instead of one JOIN the planner may turn into a
    // scan of every app: the owner's apps, apps shared to everyone, apps shared to the children
    // of an ancestor, and apps whose custom list names this workspace. The ids are collected
    // once, then read in pages, as the SQLite reader does.
    const found = await this.run('apps', () =>
      this.db.rows<{ id: string }>(
        `SELECT id FROM apps WHERE workspace_id = $1
         UNION SELECT id FROM apps WHERE scope = 'AllWorkspaces'
         UNION SELECT id FROM apps
           WHERE workspace_id = ANY($2::text[]) AND scope = 'AllChildWorkspaces'
         UNION SELECT app_id FROM app_access WHERE workspace_id = $1`,
        [ws.id, [...ws.ancestors]],
      ),
    );
    const ids = found.map((r) => r.id).sort();
    for (let i = 0; i < ids.length; i += PAGE) {
      const rows = await this.run('apps', () =>
        this.db.rows<AppRowDb>(
          `SELECT ${APP_COLUMNS} FROM apps a WHERE a.id = ANY($1::text[]) ORDER BY a.id`,
          [ids.slice(i, i + PAGE)],
        ),
      );
      for (const r of rows) {
        const app = toApp(r);
        if (matches(app, filter)) yield app;
      }
    }
  }

  installsOf(appId: string): Promise<string[]> {
    return this.run('installs', async () => {
      const rows = await this.db.rows<{ workspace_id: string }>(
        'SELECT workspace_id FROM installs WHERE app_id = $1 ORDER BY workspace_id',
        [appId],
      );
      return rows.map((r) => r.workspace_id);
    });
  }

  installedBy(workspaceId: string, appIds: readonly string[]): Promise<Set<string>> {
    return this.run('installs', async () => {
      const rows = await this.db.rows<{ app_id: string }>(
        'SELECT app_id FROM installs WHERE workspace_id = $1 AND app_id = ANY($2::text[])',
        [workspaceId, [...new Set(appIds)]],
      );
      return new Set(rows.map((r) => r.app_id));
    });
  }

  isInstalled(appId: string, workspaceId: string): Promise<boolean> {
    return this.run('installs', async () => {
      const rows = await this.db.rows(
        'SELECT 1 FROM installs WHERE app_id = $1 AND workspace_id = $2',
        [appId, workspaceId],
      );
      return rows.length > 0;
    });
  }

  async strayAccess(): Promise<{ appId: string; workspaces: string[] }[]> {
    const rows = await this.run('apps', () =>
      this.db.rows<{ app_id: string; list: string[] }>(
        'SELECT x.app_id, array_agg(x.workspace_id ORDER BY x.workspace_id) AS list ' +
          'FROM app_access x JOIN apps a ON a.id = x.app_id ' +
          "WHERE a.scope <> 'CustomWorkspaceAccess' GROUP BY x.app_id ORDER BY x.app_id",
        [],
      ),
    );
    return rows.map((r) => ({ appId: r.app_id, workspaces: r.list }));
  }

  async *listInstalls(): AsyncIterable<{ appId: string; workspaceId: string }> {
    let after: [string, string] = ['', ''];
    for (;;) {
      const rows = await this.run('installs', () =>
        this.db.rows<{ app_id: string; workspace_id: string }>(
          'SELECT app_id, workspace_id FROM installs WHERE (app_id, workspace_id) > ($1, $2) ' +
            'ORDER BY app_id, workspace_id LIMIT $3',
          [after[0], after[1], PAGE],
        ),
      );
      for (const r of rows) yield { appId: r.app_id, workspaceId: r.workspace_id };
      if (rows.length < PAGE) return;
      const last = rows[rows.length - 1]!;
      after = [last.app_id, last.workspace_id];
    }
  }

  idTaken(table: 'workspaces' | 'apps', ids: readonly string[]): Promise<Set<string>> {
    return this.run(table, async () => {
      const rows = await this.db.rows<{ id: string }>(
        table === 'apps'
          ? 'SELECT id FROM apps WHERE id = ANY($1::text[])'
          : 'SELECT id FROM workspaces WHERE id = ANY($1::text[])',
        [[...new Set(ids)]],
      );
      const found = new Set(rows.map((r) => r.id));
      return new Set(ids.filter((id) => found.has(id)));
    });
  }

  auditEvents(filter: AuditFilter): AsyncIterable<AuditEvent> {
    return auditEvents(
      (sql, params) => this.run('events', () => this.db.rows(sql, params)),
      filter,
    );
  }

  auditHead(): Promise<{ seq: number; hash: string }> {
    return this.run('events', () => this.loadHead());
  }

  protected async loadHead(): Promise<{ seq: number; hash: string }> {
    const [r] = await this.db.rows<{ seq: string; hash: string }>(
      'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1',
    );
    return r ? { seq: Number(r.seq), hash: r.hash } : { seq: 0, hash: GENESIS };
  }

  auditEvent(seq: number): Promise<AuditEvent | undefined> {
    return this.run('events', async () => {
      const [r] = await this.db.rows<EventRowDb>('SELECT * FROM audit_events WHERE seq = $1', [
        seq,
      ]);
      return r && toEvent(r);
    });
  }
}
