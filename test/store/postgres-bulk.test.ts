import { afterAll, expect, it } from 'vitest';
import { verifyChain } from '../../src/audit/chain.js';
import type { ScopeRequest } from '../../src/rules/decide.js';
import { setScope, type Meta } from '../../src/service/changes.js';
import type { PgWriter } from '../../src/store/postgres/writer.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/cli.js';
import { T, app, ws } from './pg-fixtures.js';
import { collect, describePg, useTestDatabase } from './pg-helpers.js';

// A large batch of set-scope changes in one transaction, through the same service code a bulk
// file uses, leaves PostgreSQL in exactly the state it leaves SQLite. The writer buffers its
// writes and the batch reads its apps ahead, a thousand per round trip, with getApps; how fast
// that is against SQLite is the benchmark's to say (npm run bench), not a test's.

const CHANGES = 5_000;
const RUNS = 2;
const TEAMS = 2_000;
const tmp = tempDir('ddx-pg-bulk-');
afterAll(() => tmp.cleanup());

/**
 * Like the benchmark's database: a tree of 2,000 workspaces under 20 roots, and production apps
 * still on CurrentWorkspaceOnly, a fresh 20,000 for each run; a few installed.
 */
async function seed(store: Store): Promise<void> {
  await store.write(async (w) => {
    for (let t = 0; t < TEAMS; t++) {
      await w.insertWorkspace(ws(`team-${t}`, t < 20 ? null : `team-${Math.floor(t / 20) - 1}`));
    }
    for (let i = 0; i < CHANGES * RUNS; i++) {
      await w.insertApp(app(`app-${i}`, `team-${(i * 7) % TEAMS}`, 'production'));
      if (i % 10 === 0) await w.addInstall(`app-${i}`, `team-${(i * 7 + 1) % TEAMS}`, T);
    }
  });
}

function request(i: number): ScopeRequest {
  return i % 2 ? { scope: 'AllWorkspaces' } : { scope: 'AllChildWorkspaces', revokeInstalls: true };
}

/**
 * Milliseconds for one batch in one write, each change with its audit events, as bulk does.
 * Where the writer offers getApps, the batch reads its next thousand apps ahead with it.
 */
async function batch(store: Store, run: number): Promise<number> {
  const started = performance.now();
  await store.write(async (w) => {
    const ahead = (w as Partial<Pick<PgWriter, 'getApps'>>).getApps?.bind(w);
    for (let i = run * CHANGES; i < (run + 1) * CHANGES; i++) {
      if (ahead && i % 1000 === 0)
        await ahead(Array.from({ length: 1000 }, (_, k) => `app-${i + k}`));
      const meta: Meta = { actor: 'staff@ddx.example', at: T, batch: 'bulk-1', ticket: `T-${i}` };
      const o = await setScope(w, `app-${i}`, request(i), meta, { write: true });
      if (!o.ok) throw new Error(`app-${i}: ${o.denial.message}`);
      if (o.event) await w.appendEvent(o.event);
      for (const e of o.revokeEvents ?? []) await w.appendEvent(e);
    }
  });
  return performance.now() - started;
}

describePg('PostgresStore bulk changes', () => {
  const db = useTestDatabase();

  it('applies a batch of set-scope changes exactly as SQLite does', async () => {
    const sqlite = SqliteStore.open(`${tmp.dir}/bulk.db`);
    const postgres = await db.open();
    await seed(sqlite);
    await seed(postgres);
    for (let run = 0; run < RUNS; run++) {
      await batch(sqlite, run);
      await batch(postgres, run);
    }

    const [a, b] = await Promise.all(
      [sqlite, postgres].map((s) =>
        s.read(async (r) => ({
          apps: await collect(r.listApps({ shared: true })),
          installs: await collect(r.listInstalls()),
          head: await r.auditHead(),
        })),
      ),
    );
    expect(b).toEqual(a);
    expect(await verifyChain(postgres.stream((r) => r.auditEvents({})))).toMatchObject({
      ok: true,
    });
    await sqlite.close();
  }, 300_000);
});
