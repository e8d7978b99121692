import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { canonicalJson } from '../audit/chain.js';
import type { EventInput } from '../audit/event.js';
import { DdxError } from '../errors.js';
import { describeIssues, idSchema } from '../io/input.js';
import type { RecordPosition } from '../io/records.js';
import { table, type Cell } from '../io/render.js';
import { safeText } from '../io/sanitize.js';
import { ENVIRONMENTS, SCOPES } from '../rules/types.js';
import type { Refusal } from '../service/changes.js';
import type { Writer } from '../store/store.js';
import type { Context } from './context.js';

// What the bulk commands and apply-plan share: the tally of a batch, how it is reported, the
// progress line, and the sealed plan file.

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
  /** Dry runs only: what would change, for the plan. */
  readonly changes: Record<string, unknown>[] = [];

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

  refuse(at: RecordPosition, id: string, r: Refusal): void {
    this.deniedTotal++;
    this.deniedEvents.push(r.event);
    if (this.denied.length < REPORT_CAP) {
      this.denied.push({ ...at, id, code: r.denial.code, message: r.denial.message });
    }
  }
}

export function summaryJson(
  t: Tally,
  opts: { dryRun: boolean; batch: string },
): Record<string, unknown> {
  // A batch with bad records applies nothing, so `applied` says 0; `accepted` keeps the count of
  // records that would apply once the bad ones are fixed.
  const out: Record<string, unknown> = {
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
  if (opts.dryRun) out.changes = t.changes;
  return out;
}

export function summaryText(
  ctx: Context,
  t: Tally,
  opts: { dryRun: boolean; batch: string; changes?: () => string; notes?: string[] },
): string {
  const s = ctx.style;
  const lines: string[] = [];
  const bad = t.deniedTotal + t.invalidTotal;
  if (t.bad) {
    lines.push(
      s.red(
        `${opts.dryRun ? 'Dry run: nothing would be applied' : 'Nothing was applied'}: ` +
          `${bad} record(s) are invalid or refused. Fix them and run the file again.`,
      ),
    );
    if (!opts.dryRun && t.deniedTotal > 0) {
      lines.push(`The ${t.deniedTotal} refusal(s) are in the audit trail (batch ${opts.batch}).`);
    }
  } else if (opts.dryRun) {
    lines.push(`Dry run: ${t.applied} record(s) would change; nothing was written.`);
  } else {
    lines.push(`Applied ${t.applied} record(s) in one transaction (batch ${opts.batch}).`);
  }
  if (opts.dryRun && t.applied > 0 && opts.changes) lines.push('', opts.changes());
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

/** At most `max` ids, then how many more: an AllWorkspaces change can reach 100,000. */
export function brief(ids: readonly string[], max = 8): string {
  if (ids.length === 0) return 'none';
  const shown = ids.slice(0, max).map(safeText).join(', ');
  return ids.length > max ? `${shown} and ${ids.length - max} more` : shown;
}

/**
 * A `\r` progress line on stderr, only on a terminal and only once the work has taken a second:
 * short runs stay quiet, and ctx.note is line-based.
 */
export function progress(ctx: Context, what: string): { tick(n: number): void; done(): void } {
  if (!ctx.stderrIsTTY) return { tick() {}, done() {} };
  const start = Date.now();
  let last = 0;
  let shown = false;
  return {
    tick(n) {
      if ((n & 255) !== 0) return;
      const now = Date.now();
      if (now - start < 1000 || now - last < 100) return;
      last = now;
      shown = true;
      process.stderr.write(`\r${what}: ${n} records read…`);
    },
    done() {
      if (shown) process.stderr.write('\r\u001b[K');
    },
  };
}

// ---- the plan file ----

export const PLAN_FORMAT = 'ddx-share-plan/1';

const sharing = z.strictObject({ scope: z.enum(SCOPES), workspaces: z.array(idSchema) });
const ids = z.array(idSchema);
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
  before: sharing,
  beforeUpdatedAt: z.string(),
  after: sharing,
  gained: ids,
  lost: ids,
  revokedInstalls: ids,
  ticket: z.string().nullable(),
  reason: z.string().nullable(),
});
const planSchema = z.strictObject({
  format: z.literal(PLAN_FORMAT),
  createdAt: z.string(),
  actor: z.string(),
  database: z.string(),
  changes: z.array(changeSchema),
  unchanged: z.number().int().nonnegative(),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
});

export type PlanChange = z.infer<typeof changeSchema>;
export type Plan = z.infer<typeof planSchema>;

/** The per-database secret that seals plans: only someone with the database can seal one. */
export function planKey(w: Writer): Promise<string> {
  return w.setting('plan-key', () => randomBytes(32).toString('hex'));
}

function digestOf(body: Record<string, unknown>, key: string): string {
  return createHmac('sha256', Buffer.from(key, 'hex')).update(canonicalJson(body)).digest('hex');
}

export function sealPlan(body: Omit<Plan, 'digest'>, key: string): Plan {
  return { ...body, digest: digestOf(body, key) };
}

/** Written beside the target and renamed over it, so a reader never sees half a plan. */
export function savePlan(path: string, plan: Plan): { replaced: boolean } {
  const replaced = existsSync(path);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(plan, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new DdxError('USAGE', `Cannot write the plan to ${path}: ${(err as Error).message}.`, {
      hint: 'Choose another path for --save-plan.',
    });
  }
  return { replaced };
}

/** Reads a plan and checks its shape; the seal is checked against the database separately. */
export function loadPlan(path: string): { plan: Plan; raw: Record<string, unknown> } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new DdxError('PLAN_INVALID', `Cannot read the plan ${path}: ${(err as Error).message}.`, {
      hint: 'Pass a file saved by `set-scope --file ... --dry-run --save-plan`.',
    });
  }
  const r = planSchema.safeParse(raw);
  if (!r.success) {
    throw new DdxError('PLAN_INVALID', `${path} is not a ddx-share plan: ${describeIssues(r.error)}.`);
  }
  return { plan: r.data, raw: raw as Record<string, unknown> };
}

/** Throws PLAN_INVALID unless the digest is this database's seal over exactly this content. */
export function checkSeal(raw: Record<string, unknown>, key: string): void {
  const { digest, ...body } = raw;
  const want = Buffer.from(digestOf(body, key), 'hex');
  const got = Buffer.from(String(digest), 'hex');
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    throw new DdxError(
      'PLAN_INVALID',
      'The plan was edited after it was saved, or saved from another database; nothing was applied.',
      { hint: 'Make a new plan with `set-scope --file ... --dry-run --save-plan`.' },
    );
  }
}
