import type { Conn } from './connection.js';
import type { Table } from './reader.js';

// The writer's buffer. The Writer interface is one row per call, and a round trip per row would
// make a batch of 20,000 changes crawl over a network; so writes are kept here and sent as a few
// multi-row statements (INSERT ... SELECT FROM unnest(...), UPDATE/DELETE ... FROM unnest(...)).
//
// Sending them grouped must change nothing: the database's guards look at other rows (an access
// row needs its app on CustomWorkspaceAccess, an app cannot leave it while rows exist, a child's
// path needs its parent, each event needs the one before). So an operation may move ahead of
// earlier ones only if it touches none of what they touch: the same app, a workspace one of
// them creates, or the audit chain. Each operation joins the earliest statement of its kind
// that comes after everything it depends on; a batch of set-scope changes, whatever its size,
// becomes one DELETE of access rows, one UPDATE of scopes, one INSERT of access rows and one
// INSERT of events.

export type Kind =
  | 'workspace'
  | 'app'
  | 'rename'
  | 'scope'
  | 'accessDel'
  | 'accessIns'
  | 'installIns'
  | 'installDel'
  | 'event';

function insert(table: string, columns: string, types: string[]): string {
  const arrays = types.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
  // WITH ORDINALITY and ORDER BY keep the rows in call order: a child after its parent, and
  // each event after the one it links to.
  return (
    `INSERT INTO ${table} (${columns}) SELECT ${columns} ` +
    `FROM unnest(${arrays}) WITH ORDINALITY AS t(${columns}, ord) ORDER BY ord`
  );
}

const TEXT6 = ['text', 'text', 'text', 'text', 'text', 'text'];

const SQL: Record<Kind, string> = {
  workspace: insert('workspaces', 'id, name, kind, parent_id, path, created_at', TEXT6),
  app: insert('apps', 'id, name, workspace_id, environment, scope, created_at, updated_at', [
    ...TEXT6,
    'text',
  ]),
  rename:
    'UPDATE apps SET name = t.name, updated_at = t.updated_at ' +
    'FROM unnest($1::text[], $2::text[], $3::text[]) AS t(id, name, updated_at) ' +
    'WHERE apps.id = t.id',
  scope:
    'UPDATE apps SET scope = t.scope, updated_at = t.updated_at ' +
    'FROM unnest($1::text[], $2::text[], $3::text[]) AS t(id, scope, updated_at) ' +
    'WHERE apps.id = t.id',
  accessDel:
    'DELETE FROM app_access d USING unnest($1::text[], $2::text[]) AS t(app_id, workspace_id) ' +
    'WHERE d.app_id = t.app_id AND d.workspace_id = t.workspace_id',
  accessIns: insert('app_access', 'app_id, workspace_id', ['text', 'text']),
  installIns: insert('installs', 'app_id, workspace_id, installed_at', ['text', 'text', 'text']),
  installDel:
    'DELETE FROM installs d USING unnest($1::text[], $2::text[]) AS t(app_id, workspace_id) ' +
    'WHERE d.app_id = t.app_id AND d.workspace_id = t.workspace_id',
  event: insert(
    'audit_events',
    'seq, at, actor, action, target, outcome, code, before, after, ticket, reason, batch, ' +
      'prev_hash, hash',
    ['bigint', ...TEXT6, ...TEXT6, 'text'],
  ),
};

const TABLE: Record<Kind, Table> = {
  workspace: 'workspaces',
  app: 'apps',
  rename: 'apps',
  scope: 'apps',
  accessDel: 'apps',
  accessIns: 'apps',
  installIns: 'installs',
  installDel: 'installs',
  event: 'events',
};

/** UPDATE ... FROM applies one row per target: two updates of one app need two statements. */
const ONE_PER_APP = new Set<Kind>(['rename', 'scope']);

/** What an operation depends on, so it is never sent before what it needs. */
export interface Deps {
  app?: string;
  /** Workspaces it refers to, which an earlier operation may be creating. */
  refs?: readonly (string | null)[];
  /** The workspace it creates. */
  creates?: string;
  event?: true;
}

interface Statement {
  kind: Kind;
  columns: unknown[][];
  apps: Set<string>;
}

export class WriteBuffer {
  private statements: Statement[] = [];
  private byKind = new Map<Kind, number[]>();
  private lastApp = new Map<string, number>();
  private lastCreate = new Map<string, number>();
  private lastRef = new Map<string, number>();
  private lastEvent = -1;
  private readonly tables = new Set<Table>();
  /** Operations held, to flush before the buffer grows without bound. */
  size = 0;

  /** Whether a read of this table could observe something still held here. */
  touches(table: Table): boolean {
    return this.tables.has(table);
  }

  push(kind: Kind, row: readonly unknown[], deps: Deps): void {
    let after = -1;
    const at = (m: Map<string, number>, key: string): void => {
      after = Math.max(after, m.get(key) ?? -1);
    };
    if (deps.app !== undefined) at(this.lastApp, deps.app);
    for (const ws of deps.refs ?? []) if (ws !== null) at(this.lastCreate, ws);
    if (deps.creates !== undefined) {
      // After any earlier mention of it, so what would have failed still fails.
      at(this.lastRef, deps.creates);
      at(this.lastCreate, deps.creates);
    }
    if (deps.event) after = Math.max(after, this.lastEvent);

    const candidates = this.byKind.get(kind) ?? [];
    let index = candidates.find(
      (i) =>
        i > after ||
        (i === after && !(ONE_PER_APP.has(kind) && this.statements[i]!.apps.has(deps.app!))),
    );
    if (index === undefined) {
      index = this.statements.length;
      this.statements.push({ kind, columns: row.map(() => []), apps: new Set() });
      candidates.push(index);
      this.byKind.set(kind, candidates);
    }
    const st = this.statements[index]!;
    row.forEach((v, i) => st.columns[i]!.push(v));

    if (deps.app !== undefined) {
      st.apps.add(deps.app);
      this.lastApp.set(deps.app, index);
    }
    for (const ws of deps.refs ?? []) {
      if (ws !== null) this.lastRef.set(ws, Math.max(index, this.lastRef.get(ws) ?? -1));
    }
    if (deps.creates !== undefined) this.lastCreate.set(deps.creates, index);
    if (deps.event) this.lastEvent = index;
    this.tables.add(TABLE[kind]);
    this.size++;
  }

  /** Sends everything held, in dependency order, and empties the buffer. */
  async flush(db: Conn): Promise<void> {
    const statements = this.statements;
    this.statements = [];
    this.byKind.clear();
    this.lastApp.clear();
    this.lastCreate.clear();
    this.lastRef.clear();
    this.lastEvent = -1;
    this.tables.clear();
    this.size = 0;
    for (const st of statements) await db.rows(SQL[st.kind], st.columns);
  }
}
