import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { verifyChain } from '../../src/audit/chain.js';
import { DdxError } from '../../src/errors.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { REFUSALS, T, app, seed, ws } from './pg-fixtures.js';
import { collect, describePg, eventInput, useTestDatabase } from './pg-helpers.js';

const MIGRATIONS = fileURLToPath(new URL('../../migrations/postgres', import.meta.url));

/** Runs fn with DDX_SHARE_MIGRATIONS pointing at a copy of the migrations plus `extra` files. */
async function withMigrations<T>(extra: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'ddx-pg-mig-'));
  cpSync(MIGRATIONS, join(dir, 'postgres'), { recursive: true });
  for (const [name, sql] of Object.entries(extra)) writeFileSync(join(dir, 'postgres', name), sql);
  process.env.DDX_SHARE_MIGRATIONS = dir;
  try {
    return await fn();
  } finally {
    delete process.env.DDX_SHARE_MIGRATIONS;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DdxError);
  return (err as DdxError).code;
}

describePg('PostgresStore', () => {
  const db = useTestDatabase();

  it('migrates an empty schema on open, and migrating again changes nothing', async () => {
    const url = db.freshUrl();
    const store = await db.open(url);
    const first = await store.migrationStatus();
    expect(first.current).toBe(1);
    expect(first.migrations.every((m) => m.state === 'applied')).toBe(true);
    expect((await store.migrate()).current).toBe(1);
    await db.open(url);
    const raw = await db.raw(url);
    expect((await raw.query('SELECT count(*)::int AS n FROM schema_migrations')).rows[0].n).toBe(1);
    expect(await store.read((r) => r.countWorkspaces())).toBe(0);
  });

  it('applies each migration once when eight processes migrate at once', async () => {
    const url = db.freshUrl();
    const extra = {
      '0002_extra.sql': 'CREATE TABLE extra (n int);\nINSERT INTO extra VALUES (1);\n',
    };
    await withMigrations(extra, async () => {
      const stores = await Promise.all(
        Array.from({ length: 8 }, () => db.open(url, { forMigrate: true })),
      );
      expect((await stores[0]!.migrationStatus()).current).toBe(0);
      const done = await Promise.all(stores.map((s) => s.migrate()));
      expect(done.map((s) => s.current)).toEqual(Array(8).fill(2));
    });
    const raw = await db.raw(url);
    expect((await raw.query('SELECT version FROM schema_migrations')).rows).toHaveLength(2);
    expect((await raw.query('SELECT count(*)::int AS n FROM extra')).rows[0].n).toBe(1);
  });

  it('opens an empty schema from eight processes at once', async () => {
    const url = db.freshUrl();
    await Promise.all(Array.from({ length: 8 }, () => db.open(url)));
    const raw = await db.raw(url);
    expect((await raw.query('SELECT version FROM schema_migrations')).rows).toEqual([
      { version: 1 },
    ]);
  });

  it('refuses a database that is behind, edited, or holds something else', async () => {
    const url = db.freshUrl();
    await db.open(url);
    await withMigrations({ '0002_more.sql': 'CREATE TABLE more (n int);\n' }, async () => {
      expect(await codeOf(PostgresStore.open(url))).toBe('DB_NEEDS_MIGRATE');
    });
    await withMigrations({ '0001_initial.sql': '-- edited\n' }, async () => {
      expect(await codeOf(PostgresStore.open(url))).toBe('DB_MIGRATION_MODIFIED');
    });
    const other = db.freshUrl();
    const raw = await db.raw(other);
    await raw.query(`CREATE SCHEMA ${new URL(other).searchParams.get('schema')}`);
    await raw.query('CREATE TABLE customers (id int)');
    expect(await codeOf(PostgresStore.open(other))).toBe('DB_NOT_A_DATABASE');
  });

  it('refuses every forbidden change made with raw SQL', async () => {
    const url = db.freshUrl();
    await seed(await db.open(url));
    const raw = await db.raw(url);
    for (const [what, sql, why] of REFUSALS) {
      await expect(raw.query(sql), what).rejects.toThrow(new RegExp(why));
    }
    // The same kinds of change, done right, pass: the guards refuse only what they should.
    await raw.query(
      'INSERT INTO workspaces VALUES ' +
        "('sub', 'S', 'organizational', 'team', '/root/team/sub/', 't')",
    );
    await raw.query("INSERT INTO installs VALUES ('prod', 'sub', 't')");
    await raw.query("UPDATE apps SET scope = 'AllWorkspaces', name = 'x' WHERE id = 'prod'");
    await raw.query("DELETE FROM app_access WHERE app_id = 'custom'");
    await raw.query("UPDATE apps SET scope = 'AllChildWorkspaces' WHERE id = 'custom'");
  });

  it('reports guards that are missing, changed or disabled', async () => {
    const url = db.freshUrl();
    const store = await db.open(url);
    expect(await store.checkGuards()).toEqual([]);
    const raw = await db.raw(url);
    await raw.query('DROP TRIGGER apps_insert_guard ON apps');
    await raw.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_update_guard');
    await raw.query('ALTER TABLE apps DROP CONSTRAINT development_stays_home');
    await raw.query(
      'CREATE OR REPLACE FUNCTION installs_guard() RETURNS trigger LANGUAGE plpgsql AS ' +
        '$$ BEGIN RETURN NEW; END $$',
    );
    const found = (await store.checkGuards()).map((f) => `${f.code} ${f.target}`).sort();
    expect(found).toEqual([
      'GUARD_CHANGED function installs_guard',
      'GUARD_CHANGED trigger audit_events_update_guard',
      'GUARD_MISSING constraint apps.development_stays_home',
      'GUARD_MISSING trigger apps_insert_guard',
    ]);
    const raw2 = await db.raw(url);
    const left = await raw2.query("SELECT 1 FROM pg_namespace WHERE nspname LIKE 'ddx_guard%'");
    expect(left.rowCount).toBe(0);
  });

  it('sees its own writes, and a rolled-back or failed write leaves nothing', async () => {
    const store = await db.open();
    await seed(store);
    const seen = await store.write(
      async (w) => {
        await w.insertWorkspace(ws('later', 'team'));
        await w.setSharing(
          (await w.getApp('prod'))!,
          'CustomWorkspaceAccess',
          ['later', 'root'],
          T,
        );
        await w.appendEvent(eventInput(2));
        const kids = (await collect(w.descendants('root'))).map((x) => x.id);
        const listed = (await collect(w.listApps({ shared: true }))).map((a) => a.workspaces);
        return { kids, listed, head: (await w.auditHead()).seq };
      },
      { rollback: true },
    );
    expect(seen).toEqual({
      kids: ['me', 'team', 'later'],
      listed: [['root'], ['later', 'root']],
      head: 2,
    });
    await expect(
      store.write(async (w) => {
        await w.insertWorkspace(ws('doomed', 'root'));
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    // Buffered writes are sent before the end, so a dry run fails where a real run would.
    for (const rollback of [false, true]) {
      const bad = store.write((w) => w.insertApp(app('bad', 'me', 'production')), { rollback });
      await expect(bad).rejects.toThrow(/organizational/);
    }
    const after = await store.read(async (r) => ({
      ws: await r.idTaken('workspaces', ['later', 'doomed', 'team']),
      prod: (await r.getApp('prod'))?.scope,
      head: (await r.auditHead()).seq,
    }));
    expect(after).toEqual({ ws: new Set(['team']), prod: 'CurrentWorkspaceOnly', head: 1 });
  });

  it('keeps one unbroken chain while eight processes append at once', async () => {
    const url = db.freshUrl();
    const stores = await Promise.all(Array.from({ length: 8 }, () => db.open(url)));
    await Promise.all(
      stores.map(async (s, i) => {
        for (let n = 0; n < 10; n++) await s.write((w) => w.appendEvent(eventInput(i * 10 + n)));
      }),
    );
    const store = stores[0]!;
    const result = await verifyChain(store.stream((r) => r.auditEvents({})));
    expect(result).toMatchObject({ ok: true, events: 80 });
    const head = await store.read((r) => r.auditHead());
    expect(head.seq).toBe(80);
    expect((await store.read((r) => r.auditEvent(80)))?.hash).toBe(head.hash);
    const last = await collect(
      store.stream((r) => r.auditEvents({ limit: 3, actor: 'ana@ddx.example' })),
    );
    expect(last.map((e) => e.actor)).toEqual(Array(3).fill('ana@ddx.example'));
    expect(last.at(-1)!.seq).toBeGreaterThan(last[0]!.seq);
  });

  it('gives up with DB_LOCKED when another writer holds the lock too long', async () => {
    const url = db.freshUrl();
    const holder = await db.open(url);
    const waiter = await db.open(url, { lockTimeoutMs: 200 });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const inside = new Promise<void>((r) => (started = r));
    const first = holder.write(async () => {
      started();
      await held;
    });
    await inside;
    expect(await codeOf(waiter.write((w) => w.appendEvent(eventInput(1))))).toBe('DB_LOCKED');
    release();
    await first;
  });

  it('names host, port and database when it cannot connect, never the password', async () => {
    const secret = 'pa55-w0rd-Sekrit';
    const urls = [`postgres://postgres:${secret}@127.0.0.1:1/nowhere`];
    const missing = new URL(db.url());
    missing.password = secret;
    missing.pathname = '/ddx_no_such_database';
    urls.push(missing.href);
    for (const url of urls) {
      const err = await PostgresStore.open(url).then(
        () => null,
        (e: unknown) => e as DdxError,
      );
      expect(err?.code).toBe('DB_UNAVAILABLE');
      const u = new URL(url);
      expect(err!.message).toContain(u.hostname);
      expect(err!.message).toContain(u.port);
      expect(err!.message).toContain(u.pathname.slice(1));
      expect(JSON.stringify(err!.toJSON()) + err!.message).not.toContain(secret);
    }
  });

  it('gives up after five seconds on a server that never answers', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    try {
      const started = Date.now();
      const err = await PostgresStore.open(`postgres://postgres:pw@127.0.0.1:${port}/quiet`).catch(
        (e: DdxError) => e,
      );
      expect(err).toMatchObject({ code: 'DB_UNAVAILABLE' });
      expect((err as DdxError).message).toContain(`127.0.0.1:${port}`);
      expect(Date.now() - started).toBeLessThan(9_000);
    } finally {
      silent.close();
    }
  }, 15_000);

  it('labels itself without the password and points backups at pg_dump', async () => {
    const url = new URL(db.freshUrl());
    url.password = 'hunter2';
    const store = await db.open(url.href);
    expect(store.label).not.toContain('hunter2');
    const err = await store.backup('/tmp/x.dump', { force: false }).catch((e: DdxError) => e);
    expect(err).toMatchObject({ code: 'USAGE' });
    expect((err as DdxError).message).toMatch(/pg_dump --format=custom --file \/tmp\/x\.dump/);
    expect((err as DdxError).message).not.toContain('hunter2');
  });
});
