import { isCrossWorkspace, sees } from '../rules/visibility.js';
import { refOf, type Finding, type Reader } from '../store/store.js';

/**
 * Reads every app and install and reports what the rules forbid. In a healthy database the
 * guards make every finding impossible; this is what tells an auditor they held.
 */
export async function scanData(r: Reader): Promise<Finding[]> {
  const findings: Finding[] = [];
  const kinds = new Map<string, string>();
  for await (const ws of r.listWorkspaces()) kinds.set(ws.id, ws.kind);
  for await (const app of r.listApps({})) {
    if (app.environment === 'development' && isCrossWorkspace(app.scope)) {
      findings.push({
        rule: 'R4',
        code: 'DEVELOPMENT_APP_NOT_SHAREABLE',
        target: app.id,
        message: `Development app ${app.id} has the cross-workspace scope ${app.scope}.`,
      });
    }
    if (app.environment === 'production' && kinds.get(app.workspaceId) !== 'organizational') {
      findings.push({
        rule: 'R1',
        code: 'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE',
        target: app.id,
        message: `Production app ${app.id} belongs to the non-organizational ${app.workspaceId}.`,
      });
    }
    if (app.scope === 'CustomWorkspaceAccess' && app.workspaces.length === 0) {
      findings.push({
        rule: 'R5',
        code: 'CUSTOM_ACCESS_REQUIRES_WORKSPACES',
        target: app.id,
        message: `${app.id} is on CustomWorkspaceAccess with an empty list.`,
      });
    }
    if (app.workspaces.includes(app.workspaceId)) {
      findings.push({
        rule: 'R5',
        code: 'OWNER_IN_ACCESS_LIST',
        target: app.id,
        message: `${app.id}'s access list names its owner.`,
      });
    }
  }
  for (const stray of await r.strayAccess()) {
    const app = await r.getApp(stray.appId);
    if (!app) continue;
    findings.push({
      rule: 'R5',
      code: 'WORKSPACES_REQUIRE_CUSTOM_SCOPE',
      target: app.id,
      message: `${app.id} is on ${app.scope} but keeps an access list.`,
    });
    if (stray.workspaces.includes(app.workspaceId)) {
      findings.push({
        rule: 'R5',
        code: 'OWNER_IN_ACCESS_LIST',
        target: app.id,
        message: `${app.id}'s access list names its owner.`,
      });
    }
  }
  for await (const inst of r.listInstalls()) {
    const app = await r.getApp(inst.appId);
    const ws = await r.getWorkspace(inst.workspaceId);
    if (!app || !ws) continue;
    if (ws.id === app.workspaceId || !sees(app, refOf(ws))) {
      findings.push({
        rule: 'R9',
        code: 'NOT_INSTALLABLE',
        target: `${app.id}@${ws.id}`,
        message: `${ws.id} has installed ${app.id}, which its scope does not cover.`,
      });
    }
  }
  return findings;
}
