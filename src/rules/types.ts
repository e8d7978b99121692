// The vocabulary of the sharing rules. Each choice list is the single source for both the
// TypeScript type and the CLI's validation, so the two cannot drift apart.

export const ENVIRONMENTS = ['development', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export const WORKSPACE_KINDS = ['organizational', 'personal'] as const;
export type WorkspaceKind = (typeof WORKSPACE_KINDS)[number];

export const SCOPES = [
  'CurrentWorkspaceOnly',
  'AllChildWorkspaces',
  'AllWorkspaces',
  'CustomWorkspaceAccess',
] as const;
export type Scope = (typeof SCOPES)[number];

export const ACTIONS = [
  'workspace.create',
  'app.create',
  'app.update',
  'app.set-scope',
  'app.install',
  'app.uninstall',
] as const;
export type Action = (typeof ACTIONS)[number];

export const OUTCOMES = ['applied', 'denied'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface Workspace {
  id: string;
  name: string;
  kind: WorkspaceKind;
  parentId: string | null;
  createdAt: string;
}

/**
 * A workspace as the engine needs it: its kind and every ancestor id, root first. Parents are
 * fixed at creation, so the ancestry of a workspace never changes.
 */
export interface WorkspaceRef {
  id: string;
  kind: WorkspaceKind;
  ancestors: readonly string[];
}

export interface App {
  id: string;
  name: string;
  workspaceId: string;
  environment: Environment;
  scope: Scope;
  /** The custom access list, sorted; empty unless the scope is CustomWorkspaceAccess. */
  workspaces: string[];
  createdAt: string;
  updatedAt: string;
}

/** The part of an app that decides who sees it. */
export type Sharing = Pick<App, 'workspaceId' | 'environment' | 'scope' | 'workspaces'>;

export type RuleId =
  'R1' | 'R2' | 'R3' | 'R4' | 'R5' | 'R6' | 'R7' | 'R8' | 'R9' | 'R10' | 'R11' | 'R12';
