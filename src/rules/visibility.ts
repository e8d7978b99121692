import type { RuleId, Sharing, WorkspaceRef } from './types.js';

/** True for every scope that reaches beyond the owner's workspace. */
export function isCrossWorkspace(scope: Sharing['scope']): boolean {
  return scope !== 'CurrentWorkspaceOnly';
}

/** R8: does the app's sharing reach this workspace? The owner always sees its own app. */
export function sees(app: Sharing, ws: WorkspaceRef): boolean {
  if (ws.id === app.workspaceId) return true;
  if (app.environment !== 'production') return false;
  switch (app.scope) {
    case 'AllWorkspaces':
      return true;
    case 'AllChildWorkspaces':
      return ws.ancestors.includes(app.workspaceId);
    case 'CustomWorkspaceAccess':
      return app.workspaces.includes(ws.id);
    case 'CurrentWorkspaceOnly':
      return false;
  }
}

/** R9: a workspace other than the owner that sees the app and has not installed it yet. */
export function canInstall(app: Sharing, ws: WorkspaceRef, installed: boolean): boolean {
  return ws.id !== app.workspaceId && !installed && sees(app, ws);
}

/** R10: the Admin API returns only production apps that were shared cross-workspace. */
export function inAdminApi(app: Sharing, ws: WorkspaceRef): boolean {
  return app.environment === 'production' && isCrossWorkspace(app.scope) && sees(app, ws);
}

export interface Access {
  visible: boolean;
  installable: boolean;
  adminApi: boolean;
  installed: boolean;
}

export function accessOf(app: Sharing, ws: WorkspaceRef, installed: boolean): Access {
  return {
    visible: sees(app, ws),
    installable: canInstall(app, ws, installed),
    adminApi: inAdminApi(app, ws),
    installed,
  };
}

export interface Reason {
  rule: RuleId;
  code: string;
  message: string;
}

/**
 * Why a workspace does or does not see, install, and get the app from the Admin API: one reason
 * per question, in that order, each naming the rule that decides it.
 */
export function explainAccess(app: Sharing, ws: WorkspaceRef, installed: boolean): Reason[] {
  const owner = app.workspaceId;
  const reasons: Reason[] = [];
  const visible = sees(app, ws);

  if (ws.id === owner) {
    reasons.push({
      rule: 'R8',
      code: 'OWNER',
      message: `${ws.id} owns the app and always sees it.`,
    });
  } else if (app.environment !== 'production') {
    reasons.push({
      rule: 'R4',
      code: 'DEVELOPMENT_APP_NOT_SHAREABLE',
      message: `The app is a development app; it never leaves ${owner}.`,
    });
  } else {
    reasons.push(scopeReason(app, ws, visible));
  }

  if (ws.id === owner) {
    reasons.push({
      rule: 'R9',
      code: 'OWNER_CANNOT_INSTALL',
      message: 'The owner already has the app; only other workspaces install it.',
    });
  } else if (installed) {
    reasons.push({ rule: 'R9', code: 'ALREADY_INSTALLED', message: `${ws.id} has installed it.` });
  } else if (visible) {
    reasons.push({
      rule: 'R9',
      code: 'INSTALLABLE',
      message: `${ws.id} sees it and can install it.`,
    });
  } else {
    reasons.push({
      rule: 'R9',
      code: 'NOT_INSTALLABLE',
      message: `${ws.id} cannot install an app it does not see.`,
    });
  }

  reasons.push(adminApiReason(app, ws, visible));
  return reasons;
}

function scopeReason(app: Sharing, ws: WorkspaceRef, visible: boolean): Reason {
  const owner = app.workspaceId;
  switch (app.scope) {
    case 'AllWorkspaces':
      return { rule: 'R8', code: 'SCOPE_ALL_WORKSPACES', message: 'Shared to all workspaces.' };
    case 'AllChildWorkspaces':
      return visible
        ? {
            rule: 'R8',
            code: 'SCOPE_CHILD_WORKSPACE',
            message: `Shared to all workspaces under ${owner}, and ${ws.id} is under it.`,
          }
        : {
            rule: 'R8',
            code: 'NOT_UNDER_OWNER',
            message: `Shared to all workspaces under ${owner}, but ${ws.id} is not under it.`,
          };
    case 'CustomWorkspaceAccess':
      return visible
        ? { rule: 'R8', code: 'LISTED', message: `${ws.id} is on the app's custom access list.` }
        : {
            rule: 'R8',
            code: 'NOT_LISTED',
            message: `${ws.id} is not on the app's custom access list.`,
          };
    case 'CurrentWorkspaceOnly':
      return {
        rule: 'R8',
        code: 'NO_CROSS_WORKSPACE_SCOPE',
        message:
          `No cross-workspace sharing scope has been granted yet; only ${owner} sees it. ` +
          'DDx staff can grant one with set-scope.',
      };
  }
}

function adminApiReason(app: Sharing, ws: WorkspaceRef, visible: boolean): Reason {
  if (app.environment !== 'production') {
    return {
      rule: 'R10',
      code: 'ADMIN_API_DEVELOPMENT',
      message: 'The Admin API never returns development apps.',
    };
  }
  if (!isCrossWorkspace(app.scope)) {
    return {
      rule: 'R10',
      code: 'NO_CROSS_WORKSPACE_SCOPE',
      message:
        'The Admin API returns it to nobody until a cross-workspace scope is granted ' +
        '(the most likely cause of a production app missing from its responses).',
    };
  }
  return visible
    ? {
        rule: 'R10',
        code: 'ADMIN_API_RETURNED',
        message:
          `GET /workspaces/${ws.id}/interactionsApi/sources and the other Admin API endpoints ` +
          'return it.',
      }
    : {
        rule: 'R10',
        code: 'ADMIN_API_NOT_SHARED_HERE',
        message: `The Admin API does not return it to ${ws.id}: its scope does not cover it.`,
      };
}
