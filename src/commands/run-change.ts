import { DdxError } from '../errors.js';
import type { Outcome } from '../service/changes.js';
import type { Store, Writer } from '../store/store.js';
import { FreeIds } from './free-ids.js';

/**
 * Runs one change in one transaction: applied, it commits with its audit events; denied, only
 * the denied event is recorded (never in a dry run) and the denial is thrown after the commit.
 * A dry run decides in a transaction that is rolled back, so it sees exactly what a real run
 * would.
 */
export async function runChange<T>(
  store: Store,
  change: (w: Writer) => Promise<Outcome<T> & { revokeEvents?: Outcome<T>['event'][] }>,
  opts: { dryRun?: boolean; hint?: string } = {},
): Promise<T> {
  const dryRun = opts.dryRun ?? false;
  const outcome = await store.write(
    async (w) => {
      const o = await change(w);
      if (!o.ok) {
        if (!dryRun) await w.appendEvent(o.event);
        return o;
      }
      if (o.event) await w.appendEvent(o.event);
      for (const e of o.revokeEvents ?? []) if (e) await w.appendEvent(e);
      return o;
    },
    { rollback: dryRun },
  );
  // The denied event must commit, so the refusal is raised only once the transaction is over.
  if (!outcome.ok) throw DdxError.fromDenial(outcome.denial, opts.hint);
  return outcome.value;
}

/** Finds an id not taken yet: the slug, then slug-2, slug-3 and so on. */
export async function freeId(
  store: Store,
  table: 'workspaces' | 'apps',
  slug: string,
): Promise<string> {
  return store.read((r) => new FreeIds().free(r, table, slug));
}
