// The database's own guards: with real data made by the CLI, raw SQL through a separate
// connection (bypassing ddx-share entirely) is refused wherever the rules forbid it, and
// `audit check` reports a lost guard and the data it let through.
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cli, cliJson, tempDir } from '../helpers/cli.js';

// One seeded database, built once with the CLI; every test works on its own backup of it.
let seed: ReturnType<typeof tempDir>;
let t: ReturnType<typeof tempDir>;

async function ok(db: string, args: string[]): Promise<void> {
  const r = await cli(db, args);
  if (r.exitCode !== 0) throw new Error(`${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
}

beforeAll(async () => {
  seed = tempDir('ddx-e2e-guards-seed-');
  const db = seed.db;
  await ok(db, ['workspace', 'create', 'Acme', '--kind', 'organizational']);
  await ok(db, ['workspace', 'create', 'Acme EU', '--kind', 'organizational', '--parent', 'acme']);
  await ok(db, ['workspace', 'create', 'Globex', '--kind', 'organizational']);
  await ok(db, ['workspace', 'create', 'Pat', '--kind', 'personal']);
  await ok(db, ['app', 'create', 'Billing', '--workspace', 'acme', '--env', 'production']);
  await ok(db, ['app', 'create', 'Shared', '--workspace', 'acme', '--env', 'production']);
  await ok(db, ['app', 'create', 'Plain', '--workspace', 'acme', '--env', 'production']);
  await ok(db, ['app', 'create', 'Devtool', '--workspace', 'acme', '--env', 'development']);
  await ok(db, ['set-scope', 'billing', 'custom', '--workspaces', 'globex']);
  await ok(db, ['set-scope', 'shared', 'all']);
  await ok(db, ['install', 'billing', '--workspace', 'globex']);
}, 120_000);
afterAll(() => seed.cleanup());

beforeEach(async () => {
  t = tempDir('ddx-e2e-guards-');
  const src = new Database(seed.db, { readonly: true });
  try {
    await src.backup(t.db);
  } finally {
    src.close();
  }
});
afterEach(() => t.cleanup());

function raw<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(t.db);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const NOW = '2026-12-01T00:00:00.000Z';
const ZERO = '0'.repeat(64);

function head(db: Database.Database): { seq: number; hash: string } {
  return db.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get() as {
    seq: number;
    hash: string;
  };
}

function insertEvent(db: Database.Database, seq: number, prevHash: string): void {
  db.prepare(
    'INSERT INTO audit_events (seq, at, actor, action, target, outcome, prev_hash, hash) ' +
      "VALUES (?, ?, 'mallory@evil.example', 'app.set-scope', 'billing', 'applied', ?, ?)",
  ).run(seq, NOW, prevHash, 'f'.repeat(64));
}

describe('raw SQL that breaks a rule is refused by the database itself', () => {
  const cases: [string, RegExp, (db: Database.Database) => unknown][] = [
    [
      'a development app moved to AllWorkspaces',
      /CHECK constraint failed: development_stays_home/,
      (db) => db.exec("UPDATE apps SET scope = 'AllWorkspaces' WHERE id = 'devtool'"),
    ],
    [
      'a production app inserted into a personal workspace',
      /production app needs an organizational workspace/,
      (db) =>
        db.exec(
          'INSERT INTO apps VALUES ' +
            `('sneaky', 'Sneaky', 'pat', 'production', 'CurrentWorkspaceOnly', '${NOW}', '${NOW}')`,
        ),
    ],
    [
      'a new app inserted with a scope other than CurrentWorkspaceOnly',
      /a new app starts on CurrentWorkspaceOnly/,
      (db) =>
        db.exec(
          'INSERT INTO apps VALUES ' +
            `('wide', 'Wide', 'acme', 'production', 'AllWorkspaces', '${NOW}', '${NOW}')`,
        ),
    ],
    [
      'UPDATE apps SET environment (production to development)',
      /an app's id, owner and environment never change/,
      (db) => db.exec("UPDATE apps SET environment = 'development' WHERE id = 'plain'"),
    ],
    [
      'UPDATE apps SET environment (development to production)',
      /an app's id, owner and environment never change/,
      (db) => db.exec("UPDATE apps SET environment = 'production' WHERE id = 'devtool'"),
    ],
    [
      'UPDATE apps SET workspace_id',
      /an app's id, owner and environment never change/,
      (db) => db.exec("UPDATE apps SET workspace_id = 'globex' WHERE id = 'plain'"),
    ],
    [
      'UPDATE apps SET id',
      /an app's id, owner and environment never change/,
      (db) => db.exec("UPDATE apps SET id = 'renamed' WHERE id = 'plain'"),
    ],
    [
      'an app with an access list moved off CustomWorkspaceAccess',
      /must stay on CustomWorkspaceAccess/,
      (db) => db.exec("UPDATE apps SET scope = 'AllWorkspaces' WHERE id = 'billing'"),
    ],
    [
      'DELETE an app',
      /apps are never deleted/,
      (db) => db.exec("DELETE FROM apps WHERE id = 'plain'"),
    ],
    [
      'UPDATE workspaces SET kind',
      /a workspace's id, kind and parent never change/,
      (db) => db.exec("UPDATE workspaces SET kind = 'personal' WHERE id = 'acme'"),
    ],
    [
      'UPDATE workspaces SET parent_id',
      /a workspace's id, kind and parent never change/,
      (db) => db.exec("UPDATE workspaces SET parent_id = 'globex' WHERE id = 'acme-eu'"),
    ],
    [
      'UPDATE workspaces SET parent_id of a root',
      /a workspace's id, kind and parent never change/,
      (db) => db.exec("UPDATE workspaces SET parent_id = 'acme' WHERE id = 'globex'"),
    ],
    [
      'a workspace inserted with a path that is not its parent path plus its id',
      /workspace path must be its parent's path followed by its id/,
      (db) =>
        db.exec(
          'INSERT INTO workspaces VALUES ' +
            `('fake', 'Fake', 'organizational', 'acme', '/fake/', '${NOW}')`,
        ),
    ],
    [
      'DELETE a workspace',
      /workspaces are never deleted/,
      (db) => db.exec("DELETE FROM workspaces WHERE id = 'pat'"),
    ],
    [
      'INSERT into app_access for an app not on CustomWorkspaceAccess',
      /an access list goes only with CustomWorkspaceAccess/,
      (db) => db.exec("INSERT INTO app_access VALUES ('shared', 'globex')"),
    ],
    [
      'INSERT into app_access naming the owner',
      /never names the owner/,
      (db) => db.exec("INSERT INTO app_access VALUES ('billing', 'acme')"),
    ],
    [
      'UPDATE an app_access row',
      /access-list rows are added or removed, never edited/,
      (db) => db.exec("UPDATE app_access SET workspace_id = 'acme-eu' WHERE app_id = 'billing'"),
    ],
    [
      'install of a development app',
      /only a production app is installed/,
      (db) => db.exec(`INSERT INTO installs VALUES ('devtool', 'globex', '${NOW}')`),
    ],
    [
      'install by the owner',
      /never by its owner/,
      (db) => db.exec(`INSERT INTO installs VALUES ('shared', 'acme', '${NOW}')`),
    ],
    [
      'UPDATE audit_events',
      /audit events are never changed/,
      (db) => db.exec("UPDATE audit_events SET actor = 'mallory@evil.example' WHERE seq = 1"),
    ],
    [
      'DELETE from audit_events',
      /audit events are never deleted/,
      (db) => db.exec('DELETE FROM audit_events WHERE seq = 1'),
    ],
    [
      'INSERT of an event with a wrong seq (skipping one)',
      /audit events are appended in order/,
      (db) => {
        const h = head(db);
        insertEvent(db, h.seq + 2, h.hash);
      },
    ],
    [
      'INSERT of an event reusing the last seq',
      /audit events are appended in order/,
      (db) => {
        const h = head(db);
        insertEvent(db, h.seq, h.hash);
      },
    ],
    [
      'INSERT of an event with a wrong prev_hash',
      /audit events are appended in order/,
      (db) => insertEvent(db, head(db).seq + 1, ZERO),
    ],
  ];

  it.each(cases)('%s', async (_name, message, attempt) => {
    raw((db) => {
      const before = db.prepare('SELECT total_changes()').pluck().get();
      expect(() => attempt(db)).toThrow(message);
      expect(db.prepare('SELECT total_changes()').pluck().get()).toBe(before);
    });
  });

  it('leaves a database that every check still passes after all the attempts', async () => {
    raw((db) => {
      for (const [, , attempt] of cases) expect(() => attempt(db)).toThrow();
    });
    const check = await cliJson(t.db, ['audit', 'check']);
    expect(check).toMatchObject({ exitCode: 0, json: { ok: true, violations: [] } });
    expect((await cli(t.db, ['audit', 'verify'])).exitCode).toBe(0);
  });

  it('a well-linked event appended by raw SQL is let in: guards check order, not hashes', () => {
    // The append guard enforces the chain's shape; only `audit verify` checks the hash itself.
    raw((db) => {
      const h = head(db);
      expect(() => insertEvent(db, h.seq + 1, h.hash)).not.toThrow();
    });
  });
});

describe('audit check', () => {
  it('on a healthy database: exit 0, {ok:true, violations:[]}', async () => {
    const r = await cliJson(t.db, ['audit', 'check']);
    expect(r.exitCode).toBe(0);
    expect(r.json).toEqual({ ok: true, violations: [] });
    const text = await cli(t.db, ['audit', 'check']);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain('No violations');
  });

  it('a dropped guard trigger: exit 6 with a GUARD_MISSING finding naming it', async () => {
    raw((db) => db.exec('DROP TRIGGER audit_events_update_guard'));
    const r = await cliJson(t.db, ['audit', 'check']);
    expect(r.exitCode).toBe(6);
    expect(r.json.ok).toBe(false);
    expect(r.json.violations).toEqual([
      expect.objectContaining({
        rule: 'guard',
        code: 'GUARD_MISSING',
        target: expect.stringContaining('audit_events_update_guard'),
      }),
    ]);
    const text = await cli(t.db, ['audit', 'check']);
    expect(text.exitCode).toBe(6);
    expect(text.stdout).toContain('audit_events_update_guard');
  });

  it('a guard trigger replaced by a weaker one: GUARD_CHANGED', async () => {
    raw((db) =>
      db.exec(
        'DROP TRIGGER installs_guard; CREATE TRIGGER installs_guard BEFORE INSERT ON installs ' +
          "WHEN 0 BEGIN SELECT RAISE(ABORT, 'never'); END;",
      ),
    );
    const r = await cliJson(t.db, ['audit', 'check']);
    expect(r.exitCode).toBe(6);
    expect(r.json.violations).toEqual([
      expect.objectContaining({
        code: 'GUARD_CHANGED',
        target: expect.stringContaining('installs_guard'),
      }),
    ]);
  });

  it('app_access_guard dropped: an access list on an AllWorkspaces app is reported', async () => {
    raw((db) => {
      db.exec('DROP TRIGGER app_access_guard');
      db.exec("INSERT INTO app_access VALUES ('shared', 'globex')");
    });
    const r = await cliJson(t.db, ['audit', 'check']);
    expect(r.exitCode).toBe(6);
    const codes = r.json.violations.map((v: { code: string; target: string }) => [
      v.code,
      v.target,
    ]);
    expect(codes).toContainEqual(['WORKSPACES_REQUIRE_CUSTOM_SCOPE', 'shared']);
    expect(codes).toContainEqual(['GUARD_MISSING', expect.stringContaining('app_access_guard')]);
  });

  it('app_access_guard dropped: an access list naming the owner is reported', async () => {
    raw((db) => {
      db.exec('DROP TRIGGER app_access_guard');
      db.exec("INSERT INTO app_access VALUES ('billing', 'acme')");
    });
    const r = await cliJson(t.db, ['audit', 'check']);
    expect(r.exitCode).toBe(6);
    expect(r.json.violations).toContainEqual(
      expect.objectContaining({ code: 'OWNER_IN_ACCESS_LIST', target: 'billing' }),
    );
  });

  it('installs_guard dropped: an install of a development app is reported', async () => {
    raw((db) => {
      db.exec('DROP TRIGGER installs_guard');
      db.exec(`INSERT INTO installs VALUES ('devtool', 'globex', '${NOW}')`);
    });
    const r = await cliJson(t.db, ['audit', 'check']);
    expect(r.exitCode).toBe(6);
    expect(r.json.violations).toContainEqual(
      expect.objectContaining({ code: 'NOT_INSTALLABLE', target: 'devtool@globex' }),
    );
  });
});
