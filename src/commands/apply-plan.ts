import { randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DdxError } from '../errors.js';
import { describeIssues, idSchema } from '../io/input.js';
import { safeText } from '../io/sanitize.js';
import { ENVIRONMENTS, SCOPES } from '../rules/types.js';
import { setScope } from '../service/changes.js';
import { metaFor, value, type Context, type Result } from './context.js';
import { digestOf, PLAN_FORMAT, planKey, progress, summaryJson, summaryText } from './plan-file.js';
import { Tally } from './plan-file.js';

// A saved plan is applied only as it was reviewed: sealed by this database, every app still as
// the plan saw it, and every decision the same as the plan's. Otherwise nothing is applied.

const ids = z.array(idSchema);
const side = z.strictObject({ scope: z.enum(SCOPES), workspaces: ids });
const planSchema = z.strictObject({
  format: z.literal(PLAN_FORMAT),
  createdAt: z.string(),
  actor: z.string(),
  database: z.string(),
  changes: z.array(
    z.strictObject({
      app: idSchema,
      request: z.strictObject({
        scope: z.enum(SCOPES).optional(),
        workspaces: ids.optional(),
        add: ids.optional(),
        remove: ids.optional(),
        environment: z.enum(ENVIRONMENTS).optional(),
        revokeInstalls: z.boolean().optional(),
      }),
      before: side,
      beforeUpdatedAt: z.string(),
      after: side,
      gained: ids,
      lost: ids,
      revokedInstalls: ids,
      ticket: z.string().nullable(),
      reason: z.string().nullable(),
    }),
  ),
  unchanged: z.number().int().nonnegative(),
  digest: z.string().regex(/^[0-9a-f]{64}$/, 'a digest is 64 hex digits'),
});

const REMAKE = 'Make a new plan with `set-scope --file <file> --dry-run --save-plan <path>`.';

export async function applyPlanCommand(ctx: Context, path: string): Promise<Result> {
  const { plan, raw } = loadPlan(path);
  const batch = randomUUID();
  const meta = metaFor(ctx, { batch });
  const store = await ctx.openStore();
  const t = new Tally();
  t.unchanged = plan.unchanged;
  const bar = progress(ctx, 'plan changes');
  try {
    await store.write(async (w) => {
      checkSeal(raw, await planKey(w));
      // An app the plan changes twice carries this run's time by its second change; its first
      // change already checked the time the plan saw.
      const touched = new Set<string>();
      for (const c of plan.changes) {
        bar.tick(t.applied + 1);
        const app = await w.getApp(c.app);
        if (!app) throw stale(c.app, 'it no longer exists');
        if (
          !sameSide(app, c.before) ||
          (!touched.has(c.app) && app.updatedAt !== c.beforeUpdatedAt)
        ) {
          throw stale(c.app, 'its sharing changed after the plan was saved');
        }
        const m = { ...meta, ticket: c.ticket, reason: c.reason };
        const o = await setScope(w, c.app, c.request, m, { write: true });
        if (!o.ok) throw stale(c.app, `it would now be refused: ${o.denial.message}`);
        const v = o.value;
        if (
          !v.changed ||
          !sameSide(v.after, c.after) ||
          !same(v.revokedInstalls, c.revokedInstalls)
        ) {
          throw stale(c.app, 'the change would now differ from the plan');
        }
        if (o.event) await w.appendEvent(o.event);
        for (const e of o.revokeEvents ?? []) await w.appendEvent(e);
        touched.add(c.app);
        t.applied++;
      }
    });
  } finally {
    bar.done();
  }
  const json = { ...summaryJson(t, { dryRun: false, batch }), plan: path };
  const made = `From the plan ${safeText(path)}, made by ${safeText(plan.actor)} at ${safeText(plan.createdAt)}.`;
  return value(json, () => summaryText(ctx, t, { dryRun: false, batch, notes: [made] }));
}

function stale(app: string, why: string): DdxError {
  return new DdxError(
    'PLAN_STALE',
    `The plan is out of date: ${app}: ${why}. Nothing was applied.`,
    {
      hint: REMAKE,
      details: { app },
    },
  );
}

function sameSide(a: { scope: string; workspaces: readonly string[] }, b: typeof a): boolean {
  return a.scope === b.scope && same(a.workspaces, b.workspaces);
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** Reads a plan and checks its shape; the seal is checked inside the transaction. */
function loadPlan(path: string): {
  plan: z.infer<typeof planSchema>;
  raw: Record<string, unknown>;
} {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const why =
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'there is no such file'
        : (err as Error).message;
    throw new DdxError('PLAN_INVALID', `Cannot read the plan ${path}: ${why}.`, { hint: REMAKE });
  }
  const r = planSchema.safeParse(raw);
  if (!r.success) {
    throw new DdxError(
      'PLAN_INVALID',
      `${path} is not a ddx-share plan: ${describeIssues(r.error)}.`,
      {
        hint: REMAKE,
      },
    );
  }
  return { plan: r.data, raw: raw as Record<string, unknown> };
}

/** The digest must be this database's seal over exactly this content, every byte of it. */
function checkSeal(raw: Record<string, unknown>, key: string): void {
  const { digest, ...body } = raw;
  const want = Buffer.from(digestOf(body, key), 'hex');
  const got = Buffer.from(String(digest), 'hex');
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    throw new DdxError(
      'PLAN_INVALID',
      'The plan was edited after it was saved, or saved from another database; nothing was applied.',
      { hint: REMAKE },
    );
  }
}
