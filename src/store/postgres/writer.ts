import { nextEvent } from '../../audit/chain.js';
import type { AuditEvent, EventInput } from '../../audit/event.js';
import type { App, Scope, Workspace } from '../../rules/types.js';
import type { WorkspaceRow, Writer } from '../store.js';
import { WriteBuffer, type Deps, type Kind } from './buffer.js';
import { PgReader, type Table } from './reader.js';
import { APP_COLUMNS, pathOf, toApp, type AppRowDb } from './rows.js';

// A write transaction holds the writer lock from its first statement to its commit, so nothing
// but this transaction changes the data meanwhile. That is what makes the caches below exact:
// what this writer read, plus what it wrote since, is the database as it now stands. Lookups
// of anything it wrote are answered here; lookups of anything else go to the database, which
// buffered writes cannot affect; range reads first flush the buffered writes to their table.
//
// Calls run one at a time (commands issue lookups with Promise.all), so a flush is never seen
// half done and the buffer is never read while it changes.

const FLUSH_AT = 20_000;
const CACHE_LIMIT = 200_000;

type Installs = Set<string>;

export class PgWriter extends PgReader implements Writer {
  private readonly buffer = new WriteBuffer();
  private readonly workspaces = new Map<string, WorkspaceRow | null>();
  private readonly apps = new Map<string, App | null>();
  private readonly installs = new Map<string, Installs>();
  /** Apps (and their installs) with buffered writes but no cached row to apply them to. */
  private readonly dirtyApps = new Set<string>();
  private readonly dirtyInstalls = new Set<string>();
  private head: { seq: number; hash: string } | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  /** The first failure: PostgreSQL aborts the transaction on it, so every later call fails. */
  private failure: { error: unknown } | undefined;

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(async () => {
      if (this.failure) throw this.failure.error;
      try {
        return await fn();
      } catch (error) {
        this.failure = { error };
        throw error;
      }
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  protected override run<T>(table: Table, fn: () => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      if (this.buffer.touches(table)) await this.flushNow();
      return fn();
    });
  }

  /** Sends every buffered write: the store calls this before COMMIT, and before a dry run ends. */
  flush(): Promise<void> {
    return this.exclusive(() => this.flushNow());
  }

  private async flushNow(): Promise<void> {
    await this.buffer.flush(this.db);
    this.dirtyApps.clear();
    this.dirtyInstalls.clear();
    // Once flushed the database has it all, so a cache that grew too big may simply go.
    if (this.apps.size + this.workspaces.size + this.installs.size > CACHE_LIMIT) {
      this.apps.clear();
      this.workspaces.clear();
      this.installs.clear();
    }
  }

  private async hold(kind: Kind, row: readonly unknown[], deps: Deps): Promise<void> {
    this.buffer.push(kind, row, deps);
    if (this.buffer.size >= FLUSH_AT) await this.flushNow();
  }

  // Workspaces never change once created, so whatever was read stays true.
  private async cachedWorkspaces(ids: readonly string[]): Promise<Map<string, WorkspaceRow>> {
    const missing = ids.filter((id) => !this.workspaces.has(id));
    if (missing.length > 0) {
      const found = await this.loadWorkspaces(missing);
      for (const id of missing) this.workspaces.set(id, found.get(id) ?? null);
    }
    const out = new Map<string, WorkspaceRow>();
    for (const id of ids) {
      const ws = this.workspaces.get(id);
      if (ws) out.set(id, ws);
    }
    return out;
  }

  override getWorkspace(id: string): Promise<WorkspaceRow | undefined> {
    return this.exclusive(async () => (await this.cachedWorkspaces([id])).get(id));
  }

  override getWorkspaces(ids: readonly string[]): Promise<Map<string, WorkspaceRow>> {
    return this.exclusive(() => this.cachedWorkspaces(ids));
  }

  override idTaken(table: 'workspaces' | 'apps', ids: readonly string[]): Promise<Set<string>> {
    return this.exclusive(async () => {
      if (table === 'workspaces') {
        const found = await this.cachedWorkspaces(ids);
        return new Set(ids.filter((id) => found.has(id)));
      }
      // Apps written here are all cached, so the database is right about the others.
      const missing = [...new Set(ids.filter((id) => !this.apps.has(id)))];
      if (missing.length > 0) {
        const rows = await this.db.rows<{ id: string }>(
          'SELECT id FROM apps WHERE id = ANY($1::text[])',
          [missing],
        );
        const found = new Set(rows.map((r) => r.id));
        for (const id of missing) if (!found.has(id)) this.apps.set(id, null);
      }
      return new Set(ids.filter((id) => this.apps.get(id) !== null));
    });
  }

  private async cachedApp(id: string): Promise<App | null> {
    const have = this.apps.get(id);
    if (have !== undefined) return have;
    if (this.dirtyApps.has(id) || this.dirtyInstalls.has(id)) await this.flushNow();
    // The installs come along: deciding a change of scope needs them next.
    const [r] = await this.db.rows<AppRowDb & { installs: string[] }>(
      `SELECT ${APP_COLUMNS}, ARRAY(SELECT workspace_id FROM installs WHERE app_id = a.id) ` +
        'AS installs FROM apps a WHERE a.id = $1',
      [id],
    );
    const app = r ? toApp(r) : null;
    this.apps.set(id, app);
    // A cached set already holds this transaction's buffered installs; the database does not.
    if (r && !this.installs.has(id)) this.installs.set(id, new Set(r.installs));
    return app;
  }

  override getApp(id: string): Promise<App | undefined> {
    return this.exclusive(async () => {
      const app = await this.cachedApp(id);
      return app ? { ...app, workspaces: [...app.workspaces] } : undefined;
    });
  }

  private async cachedInstalls(appId: string): Promise<Installs | undefined> {
    const have = this.installs.get(appId);
    if (have || !this.dirtyInstalls.has(appId)) return have;
    await this.flushNow();
    return undefined;
  }

  override installsOf(appId: string): Promise<string[]> {
    return this.exclusive(async () => {
      const have = await this.cachedInstalls(appId);
      if (have) return [...have].sort();
      const rows = await this.db.rows<{ workspace_id: string }>(
        'SELECT workspace_id FROM installs WHERE app_id = $1 ORDER BY workspace_id',
        [appId],
      );
      this.installs.set(appId, new Set(rows.map((r) => r.workspace_id)));
      return rows.map((r) => r.workspace_id);
    });
  }

  override isInstalled(appId: string, workspaceId: string): Promise<boolean> {
    return this.exclusive(async () => {
      const have = await this.cachedInstalls(appId);
      if (have) return have.has(workspaceId);
      const rows = await this.db.rows(
        'SELECT 1 FROM installs WHERE app_id = $1 AND workspace_id = $2',
        [appId, workspaceId],
      );
      return rows.length > 0;
    });
  }

  override auditHead(): Promise<{ seq: number; hash: string }> {
    return this.exclusive(async () => (this.head ??= await this.loadHead()));
  }

  insertWorkspace(ws: Workspace): Promise<void> {
    return this.exclusive(async () => {
      const parent =
        ws.parentId === null
          ? undefined
          : (await this.cachedWorkspaces([ws.parentId])).get(ws.parentId);
      const path = (parent ? pathOf(parent) : '/') + ws.id + '/';
      const row = [ws.id, ws.name, ws.kind, ws.parentId, path, ws.createdAt];
      await this.hold('workspace', row, { creates: ws.id, refs: [ws.parentId] });
      const ancestors = parent ? [...parent.ancestors, parent.id] : [];
      this.workspaces.set(ws.id, { ...ws, ancestors });
    });
  }

  insertApp(app: App): Promise<void> {
    return this.exclusive(async () => {
      const row = [app.id, app.name, app.workspaceId, app.environment, app.scope];
      const deps = { app: app.id, refs: [app.workspaceId] };
      await this.hold('app', [...row, app.createdAt, app.updatedAt], deps);
      // The access list lives in its own table, empty for a new app, as a read would find it.
      this.apps.set(app.id, { ...app, workspaces: [] });
      this.installs.set(app.id, new Set());
    });
  }

  renameApp(appId: string, name: string, updatedAt: string): Promise<void> {
    return this.exclusive(async () => {
      await this.hold('rename', [appId, name, updatedAt], { app: appId });
      this.patch(appId, { name, updatedAt });
    });
  }

  setSharing(
    appId: string,
    scope: Scope,
    workspaces: readonly string[],
    at: string,
  ): Promise<void> {
    return this.exclusive(async () => {
      const current = await this.accessList(appId);
      // Rows go before the scope leaves CustomWorkspaceAccess and come after it arrives, the
      // order the database's guards insist on.
      const keep = new Set(workspaces);
      for (const id of current) {
        if (!keep.has(id)) await this.hold('accessDel', [appId, id], { app: appId });
      }
      await this.hold('scope', [appId, scope, at], { app: appId });
      const had = new Set(current);
      for (const id of workspaces) {
        if (!had.has(id)) await this.hold('accessIns', [appId, id], { app: appId, refs: [id] });
      }
      this.patch(appId, { scope, workspaces: [...keep].sort(), updatedAt: at });
    });
  }

  private async accessList(appId: string): Promise<readonly string[]> {
    const have = this.apps.get(appId);
    if (have !== undefined) return have?.workspaces ?? [];
    if (this.dirtyApps.has(appId)) await this.flushNow();
    const rows = await this.db.rows<{ workspace_id: string }>(
      'SELECT workspace_id FROM app_access WHERE app_id = $1',
      [appId],
    );
    return rows.map((r) => r.workspace_id);
  }

  /** Applies a buffered update to the cached app, or notes that the database must answer. */
  private patch(appId: string, change: Partial<App>): void {
    const have = this.apps.get(appId);
    if (have) this.apps.set(appId, { ...have, ...change });
    // A missing app stays missing: the UPDATE finds no row, as it does in SQLite.
    else if (have === undefined) this.dirtyApps.add(appId);
  }

  addInstall(appId: string, workspaceId: string, at: string): Promise<void> {
    return this.exclusive(async () => {
      await this.hold('installIns', [appId, workspaceId, at], { app: appId, refs: [workspaceId] });
      const have = this.installs.get(appId);
      if (have) have.add(workspaceId);
      else this.dirtyInstalls.add(appId);
    });
  }

  removeInstall(appId: string, workspaceId: string): Promise<void> {
    return this.exclusive(async () => {
      await this.hold('installDel', [appId, workspaceId], { app: appId });
      const have = this.installs.get(appId);
      if (have) have.delete(workspaceId);
      else this.dirtyInstalls.add(appId);
    });
  }

  setting(key: string, make: () => string): Promise<string> {
    // Settings are written at once: no guard relates them to anything buffered.
    return this.exclusive(async () => {
      const [have] = await this.db.rows<{ value: string }>(
        'SELECT value FROM settings WHERE key = $1',
        [key],
      );
      if (have) return have.value;
      const value = make();
      await this.db.rows('INSERT INTO settings (key, value) VALUES ($1, $2)', [key, value]);
      return value;
    });
  }

  appendEvent(input: EventInput): Promise<AuditEvent> {
    // Under the writer lock the head cannot move, so it is read once per transaction.
    return this.exclusive(async () => {
      this.head ??= await this.loadHead();
      const e = nextEvent(input, this.head);
      const row = [e.seq, e.at, e.actor, e.action, e.target, e.outcome, e.code, e.before];
      const rest = [e.after, e.ticket, e.reason, e.batch, e.prevHash, e.hash];
      await this.hold('event', [...row, ...rest], { event: true });
      this.head = { seq: e.seq, hash: e.hash };
      return e;
    });
  }
}
