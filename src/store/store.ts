import type { AuditEvent, AuditFilter, EventInput } from '../audit/event.js';
import type { App, Environment, Scope, Workspace, WorkspaceRef } from '../rules/types.js';

// The narrow interface every command uses. Every method is async, so a backend over a network
// (PostgreSQL) fits the same shape as the embedded SQLite file; nothing above this line knows
// which one it talks to.

export interface WorkspaceRow extends Workspace {
  ancestors: string[];
}

export function refOf(ws: WorkspaceRow): WorkspaceRef {
  return { id: ws.id, kind: ws.kind, ancestors: ws.ancestors };
}

export interface AppFilter {
  environment?: Environment;
  scope?: Scope;
  /** Apps owned by this workspace. */
  workspaceId?: string;
  /** Only apps with a cross-workspace scope. */
  shared?: boolean;
}

export interface Reader {
  getWorkspace(id: string): Promise<WorkspaceRow | undefined>;
  /** The ones that exist, by id. */
  getWorkspaces(ids: readonly string[]): Promise<Map<string, WorkspaceRow>>;
  /** Every workspace, ordered by ancestry (each parent before its children), streamed. */
  listWorkspaces(): AsyncIterable<WorkspaceRow>;
  /** Every workspace under this one, at any depth, streamed. */
  descendants(id: string): AsyncIterable<WorkspaceRow>;
  countWorkspaces(): Promise<number>;

  getApp(id: string): Promise<App | undefined>;
  /** The ones that exist, by id. */
  getApps(ids: readonly string[]): Promise<Map<string, App>>;
  /** Apps matching the filter, ordered by id, streamed. */
  listApps(filter: AppFilter): AsyncIterable<App>;
  /** The same, a page at a time: a listing of a million apps pays per page, not per app. */
  listAppPages(filter: AppFilter): AsyncIterable<App[]>;
  /**
   * Apps the workspace may see (its own, plus production apps whose scope may cover it), ordered
   * by id. A superset is allowed: the rules engine has the last word on each.
   */
  appsVisibleTo(ws: WorkspaceRef, filter: AppFilter): AsyncIterable<App>;
  /** Workspace ids that installed the app, sorted. */
  installsOf(appId: string): Promise<string[]>;
  /** App ids this workspace installed, among the given ones. */
  installedBy(workspaceId: string, appIds: readonly string[]): Promise<Set<string>>;
  isInstalled(appId: string, workspaceId: string): Promise<boolean>;
  /**
   * Access-list rows of apps that are not on CustomWorkspaceAccess, by app: none unless a guard
   * was bypassed. For `audit check`.
   */
  strayAccess(): Promise<{ appId: string; workspaces: string[] }[]>;
  /** Every install, streamed. */
  listInstalls(): AsyncIterable<{ appId: string; workspaceId: string }>;

  idTaken(table: 'workspaces' | 'apps', ids: readonly string[]): Promise<Set<string>>;

  auditEvents(filter: AuditFilter): AsyncIterable<AuditEvent>;
  auditHead(): Promise<{ seq: number; hash: string }>;
  /** The event at seq, if any. */
  auditEvent(seq: number): Promise<AuditEvent | undefined>;
}

export interface Writer extends Reader {
  /**
   * A hint that the next records of a batch will read these apps and workspaces: a backend whose
   * every read is a network round trip reads them all at once now. An embedded one ignores it.
   */
  prefetch?(ids: { apps: readonly string[]; workspaces: readonly string[] }): Promise<void>;
  insertWorkspace(ws: Workspace): Promise<void>;
  insertApp(app: App): Promise<void>;
  renameApp(appId: string, name: string, updatedAt: string): Promise<void>;
  /**
   * Moves an app to a scope and access list. `app` is the app as read in this same write: its
   * current list decides which rows go and which come, so none has to be read again (the
   * database refuses a list left behind, or a row added twice).
   */
  setSharing(
    app: Pick<App, 'id' | 'workspaces'>,
    scope: Scope,
    workspaces: readonly string[],
    at: string,
  ): Promise<void>;
  addInstall(appId: string, workspaceId: string, at: string): Promise<void>;
  removeInstall(appId: string, workspaceId: string): Promise<void>;
  /** A value kept in the database itself, such as the key that seals saved plans. */
  setting(key: string, make: () => string): Promise<string>;
  /** Appends one event to the hash chain and returns it with its seq and hashes. */
  appendEvent(event: EventInput): Promise<AuditEvent>;
}

export interface MigrationState {
  version: number;
  name: string;
  checksum: string;
  appliedAt: string | null;
  state: 'applied' | 'pending' | 'modified';
}

export interface MigrationStatus {
  current: number;
  migrations: MigrationState[];
}

export interface Finding {
  rule: string;
  code: string;
  target: string;
  message: string;
}

export interface Store {
  readonly backend: 'sqlite' | 'postgres';
  /** A name for the database that is safe to print: a file path, or a URL without password. */
  readonly label: string;
  /** Reads in one consistent snapshot. */
  read<T>(fn: (r: Reader) => Promise<T>): Promise<T>;
  /** Streams what the callback yields, all from one consistent snapshot. */
  stream<T>(fn: (r: Reader) => AsyncIterable<T>): AsyncIterable<T>;
  /**
   * One write transaction, serialised with every other writer before its first read, so what
   * the callback reads stays true until it commits. Throwing rolls everything back.
   */
  write<T>(fn: (w: Writer) => Promise<T>, opts?: { rollback?: boolean }): Promise<T>;
  migrationStatus(): Promise<MigrationStatus>;
  migrate(): Promise<MigrationStatus>;
  /** Database-level checks: guards present and unchanged, storage integrity. */
  checkGuards(): Promise<Finding[]>;
  backup(path: string, opts: { force: boolean }): Promise<{ path: string; bytes: number }>;
  close(): Promise<void>;
}
