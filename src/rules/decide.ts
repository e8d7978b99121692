import { deny, type Decision } from './codes.js';
import type { App, Environment, Scope, Sharing, WorkspaceKind, WorkspaceRef } from './types.js';
import { isCrossWorkspace, sees } from './visibility.js';

// Each decision takes the facts the store looked up and the request, and says yes or no. They
// never look anything up themselves, so the same function serves single commands, bulk files,
// saved plans and the demo.

// Local part, @, and a dotted domain; none of them may hold white space, the punctuation that
// email syntax reserves, control characters, or the invisible and bidirectional formatting
// characters that would let one actor's name pass for another's in the audit trail.
const ATOM =
  '[^\\s@<>()[\\]\\\\,;:"' +
  '\\u0000-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff]+';
const EMAIL = new RegExp(`^${ATOM}@${ATOM}\\.${ATOM}$`, 'u');

/** R11: every change names the staff member who makes it. */
export function decideActor(actor: string | undefined): Decision<{ actor: string }> {
  const value = actor?.trim() ?? '';
  if (value === '') {
    return deny('ACTOR_REQUIRED', 'Every change must name the staff member who makes it.');
  }
  if (!EMAIL.test(value) || value.length > 254) {
    return deny('ACTOR_REQUIRED', `The actor must be an email address, not "${value}".`);
  }
  return { ok: true, actor: value.toLowerCase() };
}

export interface CreateWorkspaceFacts {
  idTaken: boolean;
  /** The parent as found, or null when none was asked for; undefined when it does not exist. */
  parent: WorkspaceRef | null | undefined;
}

export function decideCreateWorkspace(
  req: { id: string; kind: WorkspaceKind; parentId: string | null },
  facts: CreateWorkspaceFacts,
): Decision<{ ref: WorkspaceRef }> {
  if (facts.idTaken) return deny('ALREADY_EXISTS', `A workspace with id ${req.id} already exists.`);
  if (req.parentId !== null && facts.parent == null) {
    return deny('UNKNOWN_WORKSPACE', `The parent workspace ${req.parentId} does not exist.`, {
      workspaces: [req.parentId],
    });
  }
  const ancestors = facts.parent ? [...facts.parent.ancestors, facts.parent.id] : [];
  return { ok: true, ref: { id: req.id, kind: req.kind, ancestors } };
}

export function decideCreateApp(
  req: { id: string; workspaceId: string; environment: Environment },
  facts: { idTaken: boolean; owner: WorkspaceRef | undefined },
): Decision<{ scope: Scope }> {
  if (facts.idTaken) return deny('ALREADY_EXISTS', `An app with id ${req.id} already exists.`);
  if (!facts.owner) {
    return deny('UNKNOWN_WORKSPACE', `The workspace ${req.workspaceId} does not exist.`, {
      workspaces: [req.workspaceId],
    });
  }
  if (req.environment === 'production' && facts.owner.kind !== 'organizational') {
    return deny(
      'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE',
      `${req.workspaceId} is a ${facts.owner.kind} workspace; only organizational workspaces ` +
        'create production apps. Create a development app, or use an organizational workspace.',
    );
  }
  // R2: there is no way to ask for another starting scope.
  return { ok: true, scope: 'CurrentWorkspaceOnly' };
}

/** R3: an app's environment is fixed when it is created. */
export function decideUpdateApp(
  app: App,
  req: { name?: string; environment?: Environment },
): Decision<{ changed: boolean; name: string }> {
  if (req.environment !== undefined && req.environment !== app.environment) {
    return deny(
      'ENVIRONMENT_IMMUTABLE',
      `${app.id} is a ${app.environment} app and stays one; an environment never changes. ` +
        `Create a new ${req.environment} app instead.`,
    );
  }
  const name = req.name ?? app.name;
  return { ok: true, changed: name !== app.name, name };
}

export interface ScopeRequest {
  /** The scope asked for; when absent, a list edit implies CustomWorkspaceAccess. */
  scope?: Scope;
  /** Replaces the custom access list. */
  workspaces?: readonly string[];
  add?: readonly string[];
  remove?: readonly string[];
  /** Present when the request names an environment; any other than the app's is refused. */
  environment?: Environment;
  revokeInstalls?: boolean;
}

export interface ScopeFacts {
  app: App;
  /** Every workspace the request names, as found; a missing key means it does not exist. */
  named: ReadonlyMap<string, WorkspaceRef>;
  /** The workspaces that installed the app. */
  installs: readonly WorkspaceRef[];
}

export interface ScopeChange {
  changed: boolean;
  after: Sharing;
  /** Installs that the new scope no longer covers, removed with the change (R7). */
  revokedInstalls: string[];
}

/** R3 to R7: may the app's sharing become what the request asks, and what else must go? */
export function decideSetScope(req: ScopeRequest, facts: ScopeFacts): Decision<ScopeChange> {
  const { app } = facts;
  if (req.environment !== undefined && req.environment !== app.environment) {
    return decideUpdateApp(app, { environment: req.environment }) as Decision<never>;
  }
  const editsList =
    req.workspaces !== undefined || req.add !== undefined || req.remove !== undefined;
  const scope: Scope = req.scope ?? (editsList ? 'CustomWorkspaceAccess' : app.scope);

  if (app.environment === 'development' && (isCrossWorkspace(scope) || nonEmpty(req.add))) {
    return deny(
      'DEVELOPMENT_APP_NOT_SHAREABLE',
      `${app.id} is a development app; it can never be shared beyond ${app.workspaceId}. ` +
        'Only production apps take a cross-workspace scope.',
      { requested: scope },
    );
  }
  if (scope !== 'CustomWorkspaceAccess' && editsList) {
    return deny(
      'WORKSPACES_REQUIRE_CUSTOM_SCOPE',
      `A workspace list goes only with CustomWorkspaceAccess, not ${scope}.`,
    );
  }

  const list =
    scope === 'CustomWorkspaceAccess' ? nextList(req, app) : { ok: true as const, ids: [] };
  if (!list.ok) return list;
  if (scope === 'CustomWorkspaceAccess') {
    const bad = checkList(list.ids, req.remove ?? [], facts);
    if (bad) return bad;
  }

  const after: Sharing = { ...pick(app), scope, workspaces: list.ids };
  if (after.scope === app.scope && sameList(after.workspaces, app.workspaces)) {
    return { ok: true, changed: false, after, revokedInstalls: [] };
  }

  const stranded = facts.installs.filter((ws) => !sees(after, ws)).map((ws) => ws.id);
  stranded.sort();
  if (stranded.length > 0 && !req.revokeInstalls) {
    return deny(
      'SCOPE_CHANGE_STRANDS_INSTALLS',
      `${scope} would take ${app.id} away from ${stranded.length} workspace(s) that installed ` +
        `it (${stranded.join(', ')}). Say --revoke-installs to remove those installs too.`,
      { workspaces: stranded },
    );
  }
  return { ok: true, changed: true, after, revokedInstalls: stranded };
}

function nextList(
  req: ScopeRequest,
  app: App,
): { ok: true; ids: string[] } | ReturnType<typeof deny> {
  const dup =
    firstDuplicate([...(req.workspaces ?? []), ...(req.add ?? [])]) ??
    firstDuplicate(req.remove ?? []);
  if (dup !== undefined) {
    return deny('DUPLICATE_WORKSPACE', `${dup} is named twice in the access list.`, {
      workspaces: [dup],
    });
  }
  const both = (req.add ?? []).find((id) => (req.remove ?? []).includes(id));
  if (both !== undefined) {
    return deny('DUPLICATE_WORKSPACE', `${both} is both added to and removed from the list.`, {
      workspaces: [both],
    });
  }
  const start = req.workspaces ?? (app.scope === 'CustomWorkspaceAccess' ? app.workspaces : []);
  const ids = new Set(start);
  for (const id of req.add ?? []) ids.add(id);
  for (const id of req.remove ?? []) ids.delete(id);
  return { ok: true, ids: [...ids].sort() };
}

function checkList(
  ids: readonly string[],
  removed: readonly string[],
  facts: ScopeFacts,
): ReturnType<typeof deny> | undefined {
  const { app, named } = facts;
  // Workspaces already on the list exist (the database keeps them so); every id the request
  // names must be found. Removing one that does not exist is refused too: it is a typo.
  const listed = new Set(app.scope === 'CustomWorkspaceAccess' ? app.workspaces : []);
  const unknown = [...new Set([...ids, ...removed])].filter(
    (id) => !named.has(id) && !listed.has(id),
  );
  if (unknown.length > 0) {
    return deny('UNKNOWN_WORKSPACE', `No such workspace: ${unknown.join(', ')}.`, {
      workspaces: unknown,
    });
  }
  if (ids.includes(app.workspaceId)) {
    return deny(
      'OWNER_IN_ACCESS_LIST',
      `${app.workspaceId} owns ${app.id} and always sees it; leave it out of the list.`,
      { workspaces: [app.workspaceId] },
    );
  }
  if (ids.length === 0) {
    return deny(
      'CUSTOM_ACCESS_REQUIRES_WORKSPACES',
      'CustomWorkspaceAccess needs at least one workspace besides the owner.',
    );
  }
  return undefined;
}

function firstDuplicate(ids: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) return id;
    seen.add(id);
  }
  return undefined;
}

function nonEmpty(ids: readonly string[] | undefined): boolean {
  return ids !== undefined && ids.length > 0;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

function pick(app: App): Sharing {
  return {
    workspaceId: app.workspaceId,
    environment: app.environment,
    scope: app.scope,
    workspaces: app.workspaces,
  };
}

export function decideInstall(
  app: App,
  ws: WorkspaceRef,
  installed: boolean,
): Decision<Record<never, never>> {
  if (ws.id === app.workspaceId) {
    return deny('NOT_INSTALLABLE', `${ws.id} owns ${app.id}; only other workspaces install it.`);
  }
  if (installed) return deny('ALREADY_INSTALLED', `${ws.id} has already installed ${app.id}.`);
  if (!sees(app, ws)) {
    const why =
      app.environment === 'development'
        ? `${app.id} is a development app and never leaves ${app.workspaceId}.`
        : `${app.id}'s scope (${app.scope}) does not cover ${ws.id}.`;
    return deny('NOT_INSTALLABLE', `${ws.id} cannot install ${app.id}: ${why}`);
  }
  return { ok: true };
}

export function decideUninstall(
  app: App,
  ws: WorkspaceRef,
  installed: boolean,
): Decision<Record<never, never>> {
  if (!installed) return deny('NOT_INSTALLED', `${ws.id} has not installed ${app.id}.`);
  return { ok: true };
}
