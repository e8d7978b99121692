import type { App, Workspace } from '../../src/rules/types.js';
import type { Store } from '../../src/store/store.js';
import { eventInput } from './pg-helpers.js';

type Kind = Workspace['kind'];

// A small world for store-level tests, and the raw SQL its database must refuse.

export const T = '2030-01-01T00:00:00.000Z';

export const ws = (id: string, parentId: string | null, kind: Kind = 'organizational') => ({
  id,
  name: id.toUpperCase(),
  kind,
  parentId,
  createdAt: T,
});
export const app = (id: string, workspaceId: string, environment: App['environment']): App => ({
  id,
  name: id,
  workspaceId,
  environment,
  scope: 'CurrentWorkspaceOnly',
  workspaces: [],
  createdAt: T,
  updatedAt: T,
});

/** root > team (organizational) and me (personal); prod, dev and a custom-shared app. */
export async function seed(store: Store): Promise<void> {
  await store.write(async (w) => {
    await w.insertWorkspace(ws('root', null));
    await w.insertWorkspace(ws('team', 'root'));
    await w.insertWorkspace(ws('me', 'root', 'personal'));
    await w.insertApp(app('prod', 'team', 'production'));
    await w.insertApp(app('dev', 'team', 'development'));
    await w.insertApp(app('custom', 'team', 'production'));
    await w.setSharing({ id: 'custom', workspaces: [] }, 'CustomWorkspaceAccess', ['root'], T);
    await w.addInstall('prod', 'root', T);
    await w.appendEvent(eventInput(1));
  });
}

/** Raw SQL each guard must refuse, with words from its message. */
export const REFUSALS: [string, string, string][] = [
  [
    'a development app shared',
    "UPDATE apps SET scope = 'AllWorkspaces' WHERE id = 'dev'",
    'development_stays_home',
  ],
  [
    'a production app in a personal workspace',
    "INSERT INTO apps VALUES ('p2', 'P', 'me', 'production', 'CurrentWorkspaceOnly', 't', 't')",
    'organizational workspace',
  ],
  [
    'a new app not on CurrentWorkspaceOnly',
    "INSERT INTO apps VALUES ('p3', 'P', 'team', 'production', 'AllWorkspaces', 't', 't')",
    'starts on CurrentWorkspaceOnly',
  ],
  ['a new owner', "UPDATE apps SET workspace_id = 'root' WHERE id = 'prod'", 'never change'],
  [
    'a new environment',
    "UPDATE apps SET environment = 'development' WHERE id = 'prod'",
    'never change',
  ],
  ['a new app id', "UPDATE apps SET id = 'prod2' WHERE id = 'prod'", 'never change'],
  [
    'a new workspace kind',
    "UPDATE workspaces SET kind = 'personal' WHERE id = 'team'",
    'never change',
  ],
  ['a new parent', "UPDATE workspaces SET parent_id = NULL WHERE id = 'team'", 'never change'],
  ['a new path', "UPDATE workspaces SET path = '/team/' WHERE id = 'team'", 'never change'],
  ['a new workspace id', "UPDATE workspaces SET id = 'team2' WHERE id = 'team'", 'never change'],
  [
    'a wrong path',
    "INSERT INTO workspaces VALUES ('sub', 'S', 'organizational', 'team', '/sub/', 't')",
    'parent.s path',
  ],
  ['deleting an app', "DELETE FROM apps WHERE id = 'dev'", 'never deleted'],
  ['deleting a workspace', "DELETE FROM workspaces WHERE id = 'me'", 'never deleted'],
  ['truncating apps', 'TRUNCATE apps CASCADE', 'never deleted'],
  ['truncating workspaces', 'TRUNCATE workspaces CASCADE', 'never deleted'],
  [
    'an access row without Custom',
    "INSERT INTO app_access VALUES ('prod', 'root')",
    'only with CustomWorkspaceAccess',
  ],
  [
    'an access row for the owner',
    "INSERT INTO app_access VALUES ('custom', 'team')",
    'never names the owner',
  ],
  [
    'leaving Custom with rows',
    "UPDATE apps SET scope = 'AllWorkspaces' WHERE id = 'custom'",
    'must stay on CustomWorkspaceAccess',
  ],
  ['editing an access row', "UPDATE app_access SET workspace_id = 'me'", 'never edited'],
  [
    'installing a development app',
    "INSERT INTO installs VALUES ('dev', 'root', 't')",
    'only a production app',
  ],
  [
    'installing by the owner',
    "INSERT INTO installs VALUES ('prod', 'team', 't')",
    'never by its owner',
  ],
  ['changing an event', "UPDATE audit_events SET actor = 'eve'", 'never changed'],
  ['deleting an event', 'DELETE FROM audit_events', 'never deleted'],
  ['truncating events', 'TRUNCATE audit_events', 'never deleted'],
  [
    'an event out of sequence',
    'INSERT INTO audit_events SELECT seq + 2, at, actor, action, target, outcome, code, before, ' +
      'after, ticket, reason, batch, hash, hash FROM audit_events',
    'appended in order',
  ],
  [
    'an event not linked to the one before',
    'INSERT INTO audit_events SELECT seq + 1, at, actor, action, target, outcome, code, before, ' +
      "after, ticket, reason, batch, 'x', hash FROM audit_events",
    'linked to the one before',
  ],
];
