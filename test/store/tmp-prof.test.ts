import { it } from 'vitest';
import { Conn } from '../../src/store/postgres/connection.js';
import { setScope, type Meta } from '../../src/service/changes.js';
import { T, app, ws } from './pg-fixtures.js';
import { describePg, useTestDatabase } from './pg-helpers.js';
describePg('prof', () => {
  const db = useTestDatabase();
  it('prof', async () => {
    const store = await db.open();
    await store.write(async (w) => {
      for (let t = 0; t < 2000; t++) await w.insertWorkspace(ws(`team-${t}`, t < 20 ? null : `team-${Math.floor(t / 20) - 1}`));
      for (let i = 0; i < 20000; i++) {
        await w.insertApp(app(`app-${i}`, `team-${(i * 7) % 2000}`, 'production'));
        if (i % 10 === 0) await w.addInstall(`app-${i}`, `team-${(i * 7 + 1) % 2000}`, T);
      }
    });
    const stats = new Map<string, [number, number]>();
    const orig = Conn.prototype.rows;
    Conn.prototype.rows = async function (this: Conn, text: string, values?: readonly unknown[]) {
      const t = performance.now();
      try { return await orig.call(this, text, values); } finally {
        const k = text.slice(0, 60); const s = stats.get(k) ?? [0, 0]; s[0]++; s[1] += performance.now() - t; stats.set(k, s);
      }
    } as typeof orig;
    const t0 = performance.now();
    await store.write(async (w) => {
      for (let i = 0; i < 20000; i++) {
        if (process.env.PREFETCH && i % 1000 === 0) await (w as any).getApps(Array.from({ length: 1000 }, (_, k) => `app-${i + k}`));
        const meta: Meta = { actor: 'staff@ddx.example', at: T, batch: 'bulk-1', ticket: `T-${i}` };
        const req = i % 2 ? { scope: 'AllWorkspaces' as const } : { scope: 'AllChildWorkspaces' as const, revokeInstalls: true };
        const o = await setScope(w, `app-${i}`, req, meta, { write: true });
        if (!o.ok) throw new Error(o.denial.message);
        if (o.event) await w.appendEvent(o.event);
        for (const e of o.revokeEvents ?? []) await w.appendEvent(e);
      }
    });
    console.log('total', performance.now() - t0);
    for (const [k, [n, ms]] of stats) console.log(n, ms.toFixed(0), k);
  }, 300000);
});
