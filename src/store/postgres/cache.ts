import type { App } from '../../rules/types.js';
import type { WorkspaceRow } from '../store.js';
import { WriteBuffer } from './buffer.js';
import { PgReader, type Table } from './reader.js';
import { APP_COLUMNS, PAGE, toApp, type AppRowDb } from './rows.js';

// The reading half of a write transaction. The transaction holds the writer lock from its first
// statement to its commit, so nothing but itself changes the data meanwhile. That is what makes
// the caches here exact: what it read, plus what it wrote since, is the database as it now
// stands. Lookups of anything it wrote are answered here; lookups of anything else go to the
// database, which buffered writes cannot affect; range reads first flush the buffered writes to
// their table.
//
// Calls run one at a time (commands issue lookups with Promise.all), so a flush is never seen
// half done and the buffer is never read while it changes.

const CACHE_LIMIT = 200_000;

export type Installs = Set<string>;

export class TxReader extends PgReader {
  protected readonly buffer = new WriteBuffer();
  protected readonly workspaces = new Map<string, WorkspaceRow | null>();
  protected readonly apps = new Map<string, App | null>();
  protected readonly installs = new Map<string, Installs>();
  /** Apps (and their installs) with buffered writes but no cached row to apply them to. */
  protected readonly dirtyApps = new Set<string>();
  protected readonly dirtyInstalls = new Set<string>();
  protected head: { seq: number; hash: string } | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  /** The first failure: PostgreSQL aborts the transaction on it, so every later call fails. */
  private failure: { error: unknown } | undefined;

  protected exclusive<T>(fn: () => Promise<T>): Promise<T> {
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

  protected async flushNow(): Promise<void> {
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

  // Workspaces never change once created, so whatever was read stays true.
  protected async cachedWorkspaces(ids: readonly string[]): Promise<Map<string, WorkspaceRow>> {
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

  /** Reads the apps not cached yet, with their installs: deciding a change needs them next. */
  protected async loadApps(ids: readonly string[]): Promise<void> {
    const missing = [...new Set(ids.filter((id) => !this.apps.has(id)))];
    if (missing.some((id) => this.dirtyApps.has(id) || this.dirtyInstalls.has(id))) {
      await this.flushNow();
    }
    for (let i = 0; i < missing.length; i += PAGE) {
      const chunk = missing.slice(i, i + PAGE);
      const rows = await this.db.rows<AppRowDb & { installs: string[] }>(
        `SELECT ${APP_COLUMNS}, ARRAY(SELECT workspace_id FROM installs WHERE app_id = a.id) ` +
          'AS installs FROM apps a WHERE a.id = ANY($1::text[])',
        [chunk],
      );
      for (const id of chunk) this.apps.set(id, null);
      const installers = new Set<string>();
      for (const r of rows) {
        this.apps.set(r.id, toApp(r));
        // A cached set already holds this transaction's buffered installs; the database not.
        if (!this.installs.has(r.id)) this.installs.set(r.id, new Set(r.installs));
        for (const ws of r.installs) installers.add(ws);
      }
      // A batch also reads the installers, whose ancestry decides whether a change of scope
      // takes the app away from them; one lookup alone leaves that to the next call.
      if (ids.length > 1) await this.cachedWorkspaces([...installers]);
    }
  }

  override getApps(ids: readonly string[]): Promise<Map<string, App>> {
    return this.exclusive(async () => {
      await this.loadApps(ids);
      const found = new Map<string, App>();
      for (const id of ids) {
        const app = this.apps.get(id);
        if (app) found.set(id, { ...app, workspaces: [...app.workspaces] });
      }
      return found;
    });
  }

  override getApp(id: string): Promise<App | undefined> {
    return this.exclusive(async () => {
      await this.loadApps([id]);
      const app = this.apps.get(id);
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
}
