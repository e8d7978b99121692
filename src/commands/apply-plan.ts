import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as z from 'zod/mini';
import type { EventInput } from '../audit/event.js';
import { DdxError } from '../errors.js';
import { describeIssues, idSchema } from '../io/input.js';
import type { RecordPosition } from '../io/records.js';
import { table, type Cell } from '../io/render.js';
import { safeText } from '../io/sanitize.js';
import { ENVIRONMENTS, SCOPES } from '../rules/types.js';
import { setScope, type Refusal } from '../service/changes.js';
import type { Writer } from '../store/store.js';
import { metaFor, value, type Context, type Result } from './context.js';
import { PLAN_FORMAT, PlanSeal, planKey, progress } from './plan-file.js';

// A saved plan is applied only as it was reviewed: sealed by this database, every app still as
// the plan saw it, and every decision the same as the plan's; otherwise nothing is applied.
// Applying reports like set-scope --file, so the tally of a batch and its report live here too.

const ids = z.array(idSchema);
const opt = z.optional;
const side = z.strictObject({ scope: z.enum(SCOPES), workspaces: ids });
const changeSchema = z.strictObject({
  app: idSchema,
  request: z.strictObject({
    scope: opt(z.enum(SCOPES)),
    workspaces: opt(ids),
    add: opt(ids),
    remove: opt(ids),
    environment: opt(z.enum(ENVIRONMENTS)),
    revokeInstalls: opt(z.boolean()),
  }),
  before: side,
  beforeUpdatedAt: z.string(),
  after: side,
  gained: ids,
  lost: ids,
  revokedInstalls: ids,
  ticket: z.nullable(z.string()),
  reason: z.nullable(z.string()),
});
// The changes are checked one by one as they are applied: a plan of 100,000 is not copied whole.
const planSchema = z.strictObject({
  format: z.literal(PLAN_FORMAT),
  createdAt: z.string(),
  actor: z.string(),
  database: z.string(),
  changes: z.array(z.unknown()),
  unchanged: z.int().check(z.nonnegative()),
  digest: z.string().check(z.regex(/^[0-9a-f]{64}$/, 'a digest is 64 hex digits')),
});

const REMAKE = 'Make a new plan with `set-scope --file <file> --dry-run --save-plan <path>`.';

type Top = z.infer<typeof planSchema>;
type Change = z.infer<typeof changeSchema>;
type Meta = ReturnType<typeof metaFor>;

export async function applyPlanCommand(ctx: Context, path: string): Promise<Result> {
  const { top, changes } = loadPlan(path);
  const batch = randomUUID();
  const meta = metaFor(ctx, { batch });
  const store = await ctx.openStore();
  const t = new Tally();
  t.unchanged = top.unchanged;
  const bar = progress(ctx, 'plan changes');
  try {
    await store.write(async (w) => {
      checkSeal(top, changes(), await planKey(w));
      const touched = new Set<string>();
      for (const raw of changes()) {
        bar.tick(t.applied + 1);
        await applyChange(w, invalidUnless(changeSchema.safeParse(raw), path), meta, touched);
        t.applied++;
      }
    });
  } finally {
    bar.done();
  }
  return report(ctx, t, batch, path, top);
}

// Its own function, so the result's text() does not keep the plan's text alive.
function report(ctx: Context, t: Tally, batch: string, path: string, top: Top): Result {
  const json = { ...summaryJson(t, { dryRun: false, batch }), plan: path };
  const by = `${safeText(top.actor)} at ${safeText(top.createdAt)}`;
  const made = `From the plan ${safeText(path)}, made by ${by}.`;
  return value(json, () => summaryText(ctx, t, { dryRun: false, batch, notes: [made] }));
}

/** Applies one change exactly as planned, or throws PLAN_STALE to roll the whole plan back. */
async function applyChange(w: Writer, c: Change, meta: Meta, touched: Set<string>): Promise<void> {
  const app = await w.getApp(c.app);
  if (!app) throw stale(c.app, 'it no longer exists');
  // By its second change in this plan, an app carries this run's time; the first checked it.
  const moved = !touched.has(c.app) && app.updatedAt !== c.beforeUpdatedAt;
  if (moved || !sameSide(app, c.before)) throw stale(c.app, 'it changed after the plan was saved');
  const m = { ...meta, ticket: c.ticket, reason: c.reason };
  const o = await setScope(w, c.app, c.request, m, { write: true });
  if (!o.ok) throw stale(c.app, `it would now be refused: ${o.denial.message}`);
  const v = o.value;
  const same =
    v.changed && sameSide(v.after, c.after) && sameList(v.revokedInstalls, c.revokedInstalls);
  if (!same) throw stale(c.app, 'the change would now differ from the plan');
  if (o.event) await w.appendEvent(o.event);
  for (const e of o.revokeEvents ?? []) await w.appendEvent(e);
  touched.add(c.app);
}

function stale(app: string, why: string): DdxError {
  const message = `The plan is out of date: ${app}: ${why}. Nothing was applied.`;
  return new DdxError('PLAN_STALE', message, { hint: REMAKE, details: { app } });
}

function sameSide(a: { scope: string; workspaces: readonly string[] }, b: typeof a): boolean {
  return a.scope === b.scope && sameList(a.workspaces, b.workspaces);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

function invalidUnless<T>(r: ReturnType<z.ZodMiniType<T>['safeParse']>, path: string): T {
  if (r.success) return r.data;
  const message = `${path} is not a ddx-share plan: ${describeIssues(r.error)}.`;
  throw new DdxError('PLAN_INVALID', message, { hint: REMAKE });
}

const OPEN = '\n  "changes": [';
const CLOSE = '\n  ],\n  "unchanged": ';

/**
 * Reads a plan. PlanWriter puts each change on a line of its own, so those are parsed one at a
 * time, each time they are needed: a plan of 100,000 changes is never held whole as objects. A
 * plan laid out otherwise (reformatted by some tool) is parsed whole.
 */
function loadPlan(path: string): { top: Top; changes: () => Iterable<unknown> } {
  let buf: Buffer; // kept as bytes: a second, decoded copy of a large plan would double it
  try {
    buf = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'there is no such file' : (err as Error).message;
    throw new DdxError('PLAN_INVALID', `Cannot read the plan ${path}: ${why}.`, { hint: REMAKE });
  }
  const start = buf.indexOf(OPEN);
  const end = buf.lastIndexOf(CLOSE);
  if (start >= 0 && end > start) {
    const lines = function* (): Iterable<unknown> {
      for (let at = start + OPEN.length; at < end;) {
        const next = Math.min(end, buf.indexOf(0x0a, at + 1) >>> 0); // -1 >>> 0 is past end
        yield JSON.parse(buf.toString('utf8', at + 1, buf[next - 1] === 0x2c ? next - 1 : next));
        at = next;
      }
    };
    try {
      for (const c of lines()) void c; // every line is one change, or the layout is not ours
      const head = buf.toString('utf8', 0, start);
      const rest = JSON.parse(`${head}${OPEN}]${buf.toString('utf8', end + 4)}`);
      return { top: invalidUnless(planSchema.safeParse(rest), path), changes: lines };
    } catch (err) {
      if (err instanceof DdxError) throw err;
    }
  }
  let raw: unknown;
  try {
    raw = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    const why = (err as Error).message;
    throw new DdxError('PLAN_INVALID', `${path} is not JSON: ${why}.`, { hint: REMAKE });
  }
  const top = invalidUnless(planSchema.safeParse(raw), path);
  return { top, changes: () => top.changes };
}

/** The digest must be this database's seal over exactly this content, every byte of it. */
function checkSeal(top: Top, changes: Iterable<unknown>, key: string): void {
  const seal = new PlanSeal(key, top.actor);
  for (const c of changes) seal.add(c);
  const { createdAt, database, format, unchanged } = top;
  if (seal.matches(top.digest, { createdAt, database, format, unchanged })) return;
  const message = 'The plan was edited after it was saved, or saved from another database';
  throw new DdxError('PLAN_INVALID', `${message}; nothing was applied.`, { hint: REMAKE });
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
