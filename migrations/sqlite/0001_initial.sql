-- The whole schema of the sharing rules, with the database's own guards: even raw SQL that
-- bypasses ddx-share cannot share a development app, put a production app in a personal
-- workspace, change what is fixed at creation, or rewrite the audit trail.

CREATE TABLE workspaces (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('organizational', 'personal')),
  parent_id TEXT REFERENCES workspaces (id),
  -- '/root/child/self/': every ancestor and itself, so descendants are one index range.
  path TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX workspaces_path ON workspaces (path);
CREATE INDEX workspaces_parent ON workspaces (parent_id);

CREATE TRIGGER workspaces_path_guard BEFORE INSERT ON workspaces
WHEN NEW.path IS NOT
  (COALESCE((SELECT path FROM workspaces WHERE id = NEW.parent_id), '/') || NEW.id || '/')
BEGIN
  SELECT RAISE(ABORT, 'workspace path must be its parent''s path followed by its id');
END;

CREATE TRIGGER workspaces_fixed_guard BEFORE UPDATE OF id, kind, parent_id, path ON workspaces
WHEN NEW.id IS NOT OLD.id OR NEW.kind IS NOT OLD.kind OR NEW.parent_id IS NOT OLD.parent_id
  OR NEW.path IS NOT OLD.path
BEGIN
  SELECT RAISE(ABORT, 'a workspace''s id, kind and parent never change');
END;

CREATE TRIGGER workspaces_delete_guard BEFORE DELETE ON workspaces
BEGIN
  SELECT RAISE(ABORT, 'workspaces are never deleted');
END;

CREATE TABLE apps (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  environment TEXT NOT NULL CHECK (environment IN ('development', 'production')),
  scope TEXT NOT NULL CHECK (
    scope IN ('CurrentWorkspaceOnly', 'AllChildWorkspaces', 'AllWorkspaces', 'CustomWorkspaceAccess')
  ),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  CONSTRAINT development_stays_home CHECK (
    environment = 'production' OR scope = 'CurrentWorkspaceOnly'
  )
) STRICT, WITHOUT ROWID; -- rows in id order: a listing walks one b-tree, not an index and a table

CREATE INDEX apps_owner ON apps (workspace_id, id);
CREATE INDEX apps_shared ON apps (scope, id) WHERE scope <> 'CurrentWorkspaceOnly';

CREATE TRIGGER apps_insert_guard BEFORE INSERT ON apps
WHEN NEW.scope IS NOT 'CurrentWorkspaceOnly'
  OR (NEW.environment = 'production'
    AND (SELECT kind FROM workspaces WHERE id = NEW.workspace_id) IS NOT 'organizational')
BEGIN
  SELECT RAISE(ABORT, 'a new app starts on CurrentWorkspaceOnly, and a production app needs an organizational workspace');
END;

CREATE TRIGGER apps_fixed_guard BEFORE UPDATE OF id, workspace_id, environment ON apps
WHEN NEW.id IS NOT OLD.id OR NEW.workspace_id IS NOT OLD.workspace_id
  OR NEW.environment IS NOT OLD.environment
BEGIN
  SELECT RAISE(ABORT, 'an app''s id, owner and environment never change');
END;

CREATE TRIGGER apps_list_guard BEFORE UPDATE OF scope ON apps
WHEN NEW.scope IS NOT 'CustomWorkspaceAccess'
  AND EXISTS (SELECT 1 FROM app_access WHERE app_id = NEW.id)
BEGIN
  SELECT RAISE(ABORT, 'an app with an access list must stay on CustomWorkspaceAccess');
END;

CREATE TRIGGER apps_delete_guard BEFORE DELETE ON apps
BEGIN
  SELECT RAISE(ABORT, 'apps are never deleted');
END;

CREATE TABLE app_access (
  app_id TEXT NOT NULL REFERENCES apps (id),
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  PRIMARY KEY (app_id, workspace_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX app_access_workspace ON app_access (workspace_id, app_id);

CREATE TRIGGER app_access_guard BEFORE INSERT ON app_access
WHEN (SELECT scope FROM apps WHERE id = NEW.app_id) IS NOT 'CustomWorkspaceAccess'
  OR (SELECT workspace_id FROM apps WHERE id = NEW.app_id) IS NEW.workspace_id
BEGIN
  SELECT RAISE(ABORT, 'an access list goes only with CustomWorkspaceAccess, and never names the owner');
END;

CREATE TRIGGER app_access_update_guard BEFORE UPDATE ON app_access
BEGIN
  SELECT RAISE(ABORT, 'access-list rows are added or removed, never edited');
END;

CREATE TABLE installs (
  app_id TEXT NOT NULL REFERENCES apps (id),
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  installed_at TEXT NOT NULL,
  PRIMARY KEY (app_id, workspace_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX installs_workspace ON installs (workspace_id, app_id);

CREATE TRIGGER installs_guard BEFORE INSERT ON installs
WHEN (SELECT environment FROM apps WHERE id = NEW.app_id) IS NOT 'production'
  OR (SELECT workspace_id FROM apps WHERE id = NEW.app_id) IS NEW.workspace_id
BEGIN
  SELECT RAISE(ABORT, 'only a production app is installed, and never by its owner');
END;

CREATE TABLE audit_events (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'denied')),
  code TEXT,
  before TEXT,
  after TEXT,
  ticket TEXT,
  reason TEXT,
  batch TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;

CREATE INDEX audit_events_target ON audit_events (target, seq);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TRIGGER audit_events_append_guard BEFORE INSERT ON audit_events
WHEN NEW.seq IS NOT COALESCE((SELECT MAX(seq) FROM audit_events), 0) + 1
  OR NEW.prev_hash IS NOT COALESCE(
    (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1),
    '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN
  SELECT RAISE(ABORT, 'audit events are appended in order, each linked to the one before');
END;

CREATE TRIGGER audit_events_update_guard BEFORE UPDATE ON audit_events
BEGIN
  SELECT RAISE(ABORT, 'audit events are never changed');
END;

CREATE TRIGGER audit_events_delete_guard BEFORE DELETE ON audit_events
BEGIN
  SELECT RAISE(ABORT, 'audit events are never deleted');
END;

-- Values the database keeps for itself, such as the key that seals saved plans.
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
