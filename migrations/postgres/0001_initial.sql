-- The whole schema of the sharing rules, with the database's own guards: even raw SQL that
-- bypasses ddx-share cannot share a development app, put a production app in a personal
-- workspace, change what is fixed at creation, or rewrite the audit trail. It mirrors
-- migrations/sqlite/0001_initial.sql guard for guard.
--
-- Every text column is COLLATE "C": SQLite compares bytes, so ids, paths and times sort and
-- range here exactly as they do there, whatever the database's default collation.
--
-- Guards that look at other rows run once per statement, over the statement's rows (a
-- transition table), after they are in place: a batch of 20,000 changes is checked by one
-- join rather than 20,000 calls. A statement with one bad row fails whole, as in SQLite.

-- Raises the message the trigger was created with: for guards that refuse outright, or whose
-- condition fits in the trigger's WHEN clause.
CREATE FUNCTION ddx_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TABLE workspaces (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL,
  kind TEXT COLLATE "C" NOT NULL CHECK (kind IN ('organizational', 'personal')),
  parent_id TEXT COLLATE "C" REFERENCES workspaces (id),
  -- '/root/child/self/': every ancestor and itself, so descendants are one index range.
  path TEXT COLLATE "C" NOT NULL,
  created_at TEXT COLLATE "C" NOT NULL
);

CREATE UNIQUE INDEX workspaces_path ON workspaces (path);
CREATE INDEX workspaces_parent ON workspaces (parent_id);

CREATE FUNCTION workspaces_path_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM inserted n LEFT JOIN workspaces p ON p.id = n.parent_id
    WHERE n.path IS DISTINCT FROM COALESCE(p.path, '/') || n.id || '/'
  ) THEN
    RAISE EXCEPTION 'workspace path must be its parent''s path followed by its id'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER workspaces_path_guard AFTER INSERT ON workspaces
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION workspaces_path_guard();

CREATE TRIGGER workspaces_fixed_guard BEFORE UPDATE ON workspaces
FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.kind IS DISTINCT FROM OLD.kind
  OR NEW.parent_id IS DISTINCT FROM OLD.parent_id OR NEW.path IS DISTINCT FROM OLD.path)
EXECUTE FUNCTION ddx_refuse('a workspace''s id, kind and parent never change');

CREATE TRIGGER workspaces_delete_guard BEFORE DELETE ON workspaces
FOR EACH ROW EXECUTE FUNCTION ddx_refuse('workspaces are never deleted');

-- TRUNCATE skips row triggers, so it is refused on its own.
CREATE TRIGGER workspaces_truncate_guard BEFORE TRUNCATE ON workspaces
FOR EACH STATEMENT EXECUTE FUNCTION ddx_refuse('workspaces are never deleted');

CREATE TABLE apps (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL,
  workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
  environment TEXT COLLATE "C" NOT NULL CHECK (environment IN ('development', 'production')),
  scope TEXT COLLATE "C" NOT NULL CHECK (
    scope IN (
      'CurrentWorkspaceOnly', 'AllChildWorkspaces', 'AllWorkspaces', 'CustomWorkspaceAccess'
    )
  ),
  created_at TEXT COLLATE "C" NOT NULL,
  updated_at TEXT COLLATE "C" NOT NULL,
  CONSTRAINT development_stays_home CHECK (
    environment = 'production' OR scope = 'CurrentWorkspaceOnly'
  )
);

CREATE INDEX apps_owner ON apps (workspace_id, id);
CREATE INDEX apps_shared ON apps (scope, id) WHERE scope <> 'CurrentWorkspaceOnly';

CREATE FUNCTION apps_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM inserted n LEFT JOIN workspaces w ON w.id = n.workspace_id
    WHERE n.scope IS DISTINCT FROM 'CurrentWorkspaceOnly'
      OR (n.environment = 'production' AND w.kind IS DISTINCT FROM 'organizational')
  ) THEN
    RAISE EXCEPTION 'a new app starts on CurrentWorkspaceOnly, and a production app needs an '
      'organizational workspace' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER apps_insert_guard AFTER INSERT ON apps
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION apps_insert_guard();

CREATE TRIGGER apps_fixed_guard BEFORE UPDATE ON apps
FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id
  OR NEW.workspace_id IS DISTINCT FROM OLD.workspace_id
  OR NEW.environment IS DISTINCT FROM OLD.environment)
EXECUTE FUNCTION ddx_refuse('an app''s id, owner and environment never change');

CREATE FUNCTION apps_list_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM updated n JOIN app_access x ON x.app_id = n.id
    WHERE n.scope IS DISTINCT FROM 'CustomWorkspaceAccess'
  ) THEN
    RAISE EXCEPTION 'an app with an access list must stay on CustomWorkspaceAccess'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;

-- Transition tables allow no column list, so this runs for every UPDATE of apps.
CREATE TRIGGER apps_list_guard AFTER UPDATE ON apps
REFERENCING NEW TABLE AS updated
FOR EACH STATEMENT EXECUTE FUNCTION apps_list_guard();

CREATE TRIGGER apps_delete_guard BEFORE DELETE ON apps
FOR EACH ROW EXECUTE FUNCTION ddx_refuse('apps are never deleted');

CREATE TRIGGER apps_truncate_guard BEFORE TRUNCATE ON apps
FOR EACH STATEMENT EXECUTE FUNCTION ddx_refuse('apps are never deleted');

CREATE TABLE app_access (
  app_id TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
  workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
  PRIMARY KEY (app_id, workspace_id)
);

CREATE INDEX app_access_workspace ON app_access (workspace_id, app_id);

CREATE FUNCTION app_access_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM inserted n LEFT JOIN apps a ON a.id = n.app_id
    WHERE a.scope IS DISTINCT FROM 'CustomWorkspaceAccess'
      OR a.workspace_id IS NOT DISTINCT FROM n.workspace_id
  ) THEN
    RAISE EXCEPTION 'an access list goes only with CustomWorkspaceAccess, and never names the '
      'owner' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER app_access_guard AFTER INSERT ON app_access
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION app_access_guard();

CREATE TRIGGER app_access_update_guard BEFORE UPDATE ON app_access
FOR EACH ROW EXECUTE FUNCTION ddx_refuse('access-list rows are added or removed, never edited');

CREATE TABLE installs (
  app_id TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
  workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
  installed_at TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (app_id, workspace_id)
);

CREATE INDEX installs_workspace ON installs (workspace_id, app_id);

CREATE FUNCTION installs_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM inserted n LEFT JOIN apps a ON a.id = n.app_id
    WHERE a.environment IS DISTINCT FROM 'production'
      OR a.workspace_id IS NOT DISTINCT FROM n.workspace_id
  ) THEN
    RAISE EXCEPTION 'only a production app is installed, and never by its owner'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER installs_guard AFTER INSERT ON installs
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION installs_guard();

CREATE TABLE audit_events (
  seq BIGINT PRIMARY KEY,
  at TEXT COLLATE "C" NOT NULL,
  actor TEXT COLLATE "C" NOT NULL,
  action TEXT COLLATE "C" NOT NULL,
  target TEXT COLLATE "C" NOT NULL,
  outcome TEXT COLLATE "C" NOT NULL CHECK (outcome IN ('applied', 'denied')),
  code TEXT COLLATE "C",
  before TEXT COLLATE "C",
  after TEXT COLLATE "C",
  ticket TEXT COLLATE "C",
  reason TEXT COLLATE "C",
  batch TEXT COLLATE "C",
  prev_hash TEXT COLLATE "C" NOT NULL,
  hash TEXT COLLATE "C" NOT NULL
);

CREATE INDEX audit_events_target ON audit_events (target, seq);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_at ON audit_events (at);

-- Each new event must follow one already there (or be the first, linked to the genesis hash)
-- and carry its hash. With the primary key ruling out a second event at any seq, that is
-- exactly "seq = max + 1, prev_hash = the head's hash" for every row in turn: no gap, no
-- insertion before the head, no fork. Two writers racing both pick the same seq, and the
-- primary key stops the second.
CREATE FUNCTION audit_events_append_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM inserted n LEFT JOIN audit_events p ON p.seq = n.seq - 1
    WHERE n.prev_hash IS DISTINCT FROM CASE WHEN n.seq = 1 THEN repeat('0', 64) ELSE p.hash END
  ) THEN
    RAISE EXCEPTION 'audit events are appended in order, each linked to the one before'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER audit_events_append_guard AFTER INSERT ON audit_events
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_guard();

CREATE TRIGGER audit_events_update_guard BEFORE UPDATE ON audit_events
FOR EACH ROW EXECUTE FUNCTION ddx_refuse('audit events are never changed');

CREATE TRIGGER audit_events_delete_guard BEFORE DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION ddx_refuse('audit events are never deleted');

CREATE TRIGGER audit_events_truncate_guard BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION ddx_refuse('audit events are never deleted');

-- Values the database keeps for itself, such as the key that seals saved plans.
CREATE TABLE settings (
  key TEXT COLLATE "C" PRIMARY KEY,
  value TEXT COLLATE "C" NOT NULL
);
