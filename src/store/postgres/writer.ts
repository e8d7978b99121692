import { nextEvent } from '../../audit/chain.js';
import type { AuditEvent, EventInput } from '../../audit/event.js';
import type { App, Scope, Workspace } from '../../rules/types.js';
import type { Writer } from '../store.js';
import type { Deps, Kind } from './buffer.js';
import { TxReader } from './cache.js';
import { accessChange } from '../rows.js';
import { pathOf } from './rows.js';

// The writing half of a write transaction: each write is buffered (see buffer.ts) and applied
// to what the transaction has cached, so its later lookups see it without a round trip.

const FLUSH_AT = 20_000;

export class PgWriter extends TxReader implements Writer {
  private async hold(kind: Kind, row: readonly unknown[], deps: Deps): Promise<void> {
    this.buffer.push(kind, row, deps);
    if (this.buffer.size >= FLUSH_AT) await this.flushNow();
  }

  /** Fills the transaction's cache for a batch's next records: a round trip per table. */
  async prefetch(ids: { apps: readonly string[]; workspaces: readonly string[] }): Promise<void> {
    if (ids.apps.length > 0) await this.getApps(ids.apps);
    if (ids.workspaces.length > 0) await this.getWorkspaces(ids.workspaces);
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
    app: Pick<App, 'id' | 'workspaces'>,
    scope: Scope,
    workspaces: readonly string[],
    at: string,
  ): Promise<void> {
    const appId = app.id;
    return this.exclusive(async () => {
      const { removed, added } = accessChange(app.workspaces, workspaces);
      for (const id of removed) await this.hold('accessDel', [appId, id], { app: appId });
      await this.hold('scope', [appId, scope, at], { app: appId });
      for (const id of added) await this.hold('accessIns', [appId, id], { app: appId, refs: [id] });
      this.patch(appId, { scope, workspaces: [...new Set(workspaces)].sort(), updatedAt: at });
    });
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
