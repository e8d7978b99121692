import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { EventInput } from '../audit/event.js';
import { DdxError } from '../errors.js';
import { describeIssues, idSchema } from '../io/input.js';
import type { RecordPosition } from '../io/records.js';
import { table, type Cell } from '../io/render.js';
import { safeText } from '../io/sanitize.js';
import { ENVIRONMENTS, SCOPES } from '../rules/types.js';
import { setScope, type Refusal } from '../service/changes.js';
import { metaFor, value, type Context, type Result } from './context.js';
import { PLAN_FORMAT, PlanSeal, planKey, progress } from './plan-file.js';

// A saved plan is applied only as it was reviewed: sealed by this database, every app still as
// the plan saw it, and every decision the same as the plan's; otherwise nothing is applied.
// Applying reports like set-scope --file, so the tally of a batch and its report live here too.

const ids = z.array(idSchema);
const side = z.strictObject({ scope: z.enum(SCOPES), workspaces: ids });
const changeSchema = z.strictObject({
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
});
// The changes are checked one by one as they are applied: a plan of 100,000 is not copied whole.
const planSchema = z.strictObject({
  format: z.literal(PLAN_FORMAT),
  createdAt: z.string(),
  actor: z.string(),
  database: z.string(),
  changes: z.array(z.unknown()),
  unchanged: z.number().int().nonnegative(),
  digest: z.string().regex(/^[0-9a-f]{64}$/, 'a digest is 64 hex digits'),
});

const REMAKE = 'Make a new plan with `set-scope --file <file> --dry-run --save-plan <path>`.';

export async function applyPlanCommand(ctx: Context, path: string): Promise<Result> {
  const plan = loadPlan(path);
  const batch = randomUUID();
  const meta = metaFor(ctx, { batch });
  const store = await ctx.openStore();
  const t = new Tally();
  t.unchanged = plan.unchanged;
  const bar = progress(ctx, 'plan changes');
  try {
    await store.write(async (w) => {
      checkSeal(plan, await planKey(w));
      // An app the plan changes twice carries this run's time by its second change; its first
      // change already checked the time the plan saw.
      const touched = new Set<string>();
      for (const raw of plan.changes) {
        bar.tick(t.applied + 1);
        const c = invalidUnless(changeSchema.safeParse(raw), path);
        const app = await w.getApp(c.app);
        if (!app) throw stale(c.app, 'it no longer exists');
        const moved = !touched.has(c.app) && app.updatedAt !== c.beforeUpdatedAt;
        if (moved || !sameSide(app, c.before))
          throw stale(c.app, 'it changed after the plan was saved');
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

function invalidUnless<T>(r: z.ZodSafeParseResult<T>, path: string): T {
  if (r.success) return r.data;
  throw new DdxError(
    'PLAN_INVALID',
    `${path} is not a ddx-share plan: ${describeIssues(r.error)}.`,
    {
      hint: REMAKE,
    },
  );
}

/** Reads a plan and checks its shape; the seal is checked inside the transaction. */
function loadPlan(path: string): z.infer<typeof planSchema> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'there is no such file' : (err as Error).message;
    throw new DdxError('PLAN_INVALID', `Cannot read the plan ${path}: ${why}.`, { hint: REMAKE });
  }
  return invalidUnless(planSchema.safeParse(raw), path);
}

/** The digest must be this database's seal over exactly this content, every byte of it. */
function checkSeal(plan: z.infer<typeof planSchema>, key: string): void {
  const seal = new PlanSeal(key, plan.actor);
  for (const c of plan.changes) seal.add(c);
  const { createdAt, database, format, unchanged } = plan;
  if (!seal.matches(plan.digest, { createdAt, database, format, unchanged })) {
    throw new DdxError(
      'PLAN_INVALID',
      'The plan was edited after it was saved, or saved from another database; nothing was applied.',
      { hint: REMAKE },
    );
  }
}

// ---- the tally of a batch, and its report ----

/** Reports kept per kind of bad record; past this they are only counted, to bound memory. */
export const REPORT_CAP = 1000;

export type BadRecord = RecordPosition & { id: string | null; code: string; message: string };

export class Tally {
  applied = 0;
  unchanged = 0;
  deniedTotal = 0;
  invalidTotal = 0;
  readonly denied: BadRecord[] = [];
  readonly invalid: BadRecord[] = [];
  /** Every denied record's event, uncapped: each one must be recorded. */
  readonly deniedEvents: EventInput[] = [];
  /** Dry runs only: the first changes, to show; a saved plan has every one. */
  readonly changes: unknown[] = [];

  get bad(): boolean {
    return this.deniedTotal > 0 || this.invalidTotal > 0;
  }

  get exitCode(): number | undefined {
    return this.invalidTotal > 0 ? 2 : this.deniedTotal > 0 ? 3 : undefined;
  }

  reject(at: RecordPosition, id: string | null, message: string): void {
    this.invalidTotal++;
    if (this.invalid.length < REPORT_CAP) {
      this.invalid.push({ ...at, id, code: 'INVALID_INPUT', message });
    }
  }

  change(c: unknown): void {
    if (this.changes.length < REPORT_CAP) this.changes.push(c);
  }

  refuse(at: RecordPosition, id: string, r: Refusal): void {
    this.deniedTotal++;
    this.deniedEvents.push(r.event);
    if (this.denied.length < REPORT_CAP) {
      this.denied.push({ ...at, id, code: r.denial.code, message: r.denial.message });
    }
  }
}

export function summaryJson(t: Tally, opts: { dryRun: boolean; batch: string }): Summary {
  // A batch with bad records applies nothing, so `applied` says 0; `accepted` keeps the count of
  // records that would apply once the bad ones are fixed.
  const out: Summary = {
    applied: t.bad ? 0 : t.applied,
    unchanged: t.unchanged,
    denied: t.denied,
    invalid: t.invalid,
    dryRun: opts.dryRun,
    batch: opts.batch,
    accepted: t.applied,
    deniedTotal: t.deniedTotal,
    invalidTotal: t.invalidTotal,
  };
  // The first REPORT_CAP changes, like the bad records; `accepted` says how many in all.
  if (opts.dryRun) out.changes = t.changes;
  return out;
}

type Summary = Record<string, unknown>;

export function summaryText(
  ctx: Context,
  t: Tally,
  opts: { dryRun: boolean; batch: string; changes?: () => string; notes?: string[] },
): string {
  const s = ctx.style;
  const bad = t.deniedTotal + t.invalidTotal;
  const none = opts.dryRun ? 'Dry run: nothing would be applied' : 'Nothing was applied';
  const lines = [
    t.bad
      ? s.red(`${none}: ${bad} record(s) are invalid or refused. Fix them and run it again.`)
      : opts.dryRun
        ? `Dry run: ${t.applied} record(s) would change; nothing was written.`
        : `Applied ${t.applied} record(s) in one transaction (batch ${opts.batch}).`,
  ];
  if (t.bad && !opts.dryRun && t.deniedTotal > 0) {
    lines.push(`The refusals are in the audit trail (batch ${opts.batch}).`);
  }
  if (opts.dryRun && t.applied > 0 && opts.changes) lines.push('', opts.changes());
  if (opts.dryRun && t.changes.length < t.applied) {
    lines.push(s.dim(`(showing the first ${t.changes.length} of ${t.applied} changes)`));
  }
  const totals: Cell[][] = [
    [opts.dryRun || t.bad ? 'would apply' : 'applied', t.applied],
    ['unchanged', t.unchanged],
    ['denied', t.deniedTotal],
    ['invalid', t.invalidTotal],
  ];
  lines.push('', table(['records', 'count'], totals, s));
  // Invalid and denied records interleave in the file, so they are shown in its order.
  const bads = [...t.invalid, ...t.denied].sort((a, b) => position(a) - position(b));
  if (bads.length > 0) {
    const where = 'index' in bads[0]! ? 'index' : 'line';
    const rows = bads.map((r): Cell[] => [position(r), r.id, r.code, r.message]);
    lines.push('', table([where, 'id', 'code', 'message'], rows, s));
    if (rows.length < bad) lines.push(s.dim(`(showing ${rows.length} of ${bad} bad records)`));
  }
  for (const note of opts.notes ?? []) lines.push(note);
  return lines.join('\n');
}

function position(r: BadRecord): number {
  return 'line' in r ? r.line : r.index;
}
