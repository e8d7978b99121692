// Shared fixtures for the rules-engine tests: a fixed workspace forest and small builders. Nothing
// here calls the engine, so the tests that use it can compare the engine against literal data.
import type { ScopeFacts, ScopeRequest } from '../../src/rules/decide.js';
import type {
  App,
  Environment,
  Scope,
  Sharing,
  WorkspaceKind,
  WorkspaceRef,
} from '../../src/rules/types.js';

export interface Node {
  id: string;
  kind: WorkspaceKind;
  parentId: string | null;
}

/**
 * acme (org)
 * ├── acme-eu (org)
 * │   └── acme-eu-paris (org)
 * └── acme-us (org)
 * globex (org)
 * └── listed-ws (org)
 * unlisted-ws (org)
 * pat (personal)
 */
export const ACME_FOREST: readonly Node[] = [
  { id: 'acme', kind: 'organizational', parentId: null },
  { id: 'acme-eu', kind: 'organizational', parentId: 'acme' },
  { id: 'acme-us', kind: 'organizational', parentId: 'acme' },
  { id: 'acme-eu-paris', kind: 'organizational', parentId: 'acme-eu' },
  { id: 'globex', kind: 'organizational', parentId: null },
  { id: 'listed-ws', kind: 'organizational', parentId: 'globex' },
  { id: 'unlisted-ws', kind: 'organizational', parentId: null },
  { id: 'pat', kind: 'personal', parentId: null },
];

export class Forest {
  readonly refs = new Map<string, WorkspaceRef>();

  constructor(readonly nodes: readonly Node[]) {
    const byId = new Map(nodes.map((n) => [n.id, n]));
    for (const n of nodes) {
      const ancestors: string[] = [];
      for (let p = n.parentId; p !== null; p = byId.get(p)?.parentId ?? null) ancestors.unshift(p);
      this.refs.set(n.id, { id: n.id, kind: n.kind, ancestors });
    }
  }

  get ids(): string[] {
    return this.nodes.map((n) => n.id);
  }

  ref(id: string): WorkspaceRef {
    const r = this.refs.get(id);
    if (!r) throw new Error(`fixture: no workspace ${id}`);
    return r;
  }

  /** Exactly what the service passes: every workspace the request names that exists. */
  namedBy(req: ScopeRequest): Map<string, WorkspaceRef> {
    const named = new Map<string, WorkspaceRef>();
    for (const id of [...(req.workspaces ?? []), ...(req.add ?? []), ...(req.remove ?? [])]) {
      const r = this.refs.get(id);
      if (r) named.set(id, r);
    }
    return named;
  }
}

export const acme = new Forest(ACME_FOREST);

/** The same forest with the owner root "acme" of the given kind. */
export function forestWithOwnerKind(kind: WorkspaceKind): Forest {
  return new Forest(ACME_FOREST.map((n) => (n.id === 'acme' ? { ...n, kind } : n)));
}

export function makeApp(over: Partial<App> & { environment: Environment }): App {
  return {
    id: 'app-1',
    name: 'App One',
    workspaceId: 'acme',
    scope: 'CurrentWorkspaceOnly',
    workspaces: [],
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    ...over,
  };
}

export function sharing(app: App): Sharing {
  return {
    workspaceId: app.workspaceId,
    environment: app.environment,
    scope: app.scope,
    workspaces: app.workspaces,
  };
}

/** An app carrying a decision's `after`, as the service stores it. */
export function withSharing(app: App, s: Pick<Sharing, 'scope' | 'workspaces'>): App {
  return { ...app, scope: s.scope, workspaces: [...s.workspaces] };
}

/**
 * Facts in which `named` holds every existing workspace (a superset of what the request names).
 * Most unit tests use this; see decide.test.ts for the service's exact contract.
 */
export function factsAll(forest: Forest, app: App, installs: readonly string[] = []): ScopeFacts {
  return { app, named: forest.refs, installs: installs.map((id) => forest.ref(id)) };
}

/** Facts exactly as the service builds them: `named` holds only what the request names. */
export function factsAsService(
  forest: Forest,
  app: App,
  req: ScopeRequest,
  installs: readonly string[] = [],
): ScopeFacts {
  return { app, named: forest.namedBy(req), installs: installs.map((id) => forest.ref(id)) };
}

export const CUSTOM: Scope = 'CustomWorkspaceAccess';
