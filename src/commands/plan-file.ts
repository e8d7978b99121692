import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { canonicalJson } from '../audit/chain.js';
import type { EventInput } from '../audit/event.js';
import { DdxError, usage } from '../errors.js';
import { InputError, RECORD_FORMATS, formatFromPath } from '../io/records.js';
import type { RawRecord, RecordFormat, RecordPosition } from '../io/records.js';
import { table, type Cell } from '../io/render.js';
import { safeText } from '../io/sanitize.js';
import type { ScopeRequest } from '../rules/decide.js';
import type { App, Scope } from '../rules/types.js';
import type { Meta, Refusal } from '../service/changes.js';
import type { Store, Writer } from '../store/store.js';
import type { Context } from './context.js';

// What the bulk commands and apply-plan share: the input file, the tally of a batch and how it
// is reported, the progress line, and the sealed plan file.

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

/** A `\r` progress line on stderr, on a terminal, once the work has taken a second (ctx.note
 * is line-based, and short runs stay quiet). */
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

// ---- the input file ----

export function pickFormat(file: string, format: string | undefined): RecordFormat {
  if (format !== undefined) {
    const found = RECORD_FORMATS.find((f) => f === format.trim().toLowerCase());
    if (found) return found;
    throw usage(`Unknown --format "${format}": use one of ${RECORD_FORMATS.join(', ')}.`);
  }
  if (file === '-') throw usage('Reading records from stdin (--file -) needs --format.', FORMATS);
  const found = formatFromPath(file);
  if (found) return found;
  throw usage(`Cannot tell the format of ${file} from its name (.csv, .ndjson, .json).`, FORMATS);
}
const FORMATS = 'Pass --format csv, ndjson or json.';

type Input = { stream: NodeJS.ReadableStream; close(): void };

export async function openInput(file: string): Promise<Input> {
  if (file === '-') return { stream: process.stdin, close() {} };
  let fh: FileHandle | undefined;
  try {
    fh = await open(file, 'r');
    if ((await fh.stat()).isDirectory()) throw Object.assign(new Error(''), { code: 'EISDIR' });
  } catch (err) {
    await fh?.close();
    throw inputProblem(err, file);
  }
  const stream = fh.createReadStream();
  return { stream, close: () => stream.destroy() };
}

const FS_REASONS: Record<string, string> = { ENOENT: 'no such file', EISDIR: 'a directory' };

export function inputProblem(err: unknown, file: string): unknown {
  if (err instanceof InputError) {
    return new DdxError('INVALID_INPUT', `Invalid input in ${file}: ${err.message}.`);
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('E')) return err;
  const why = FS_REASONS[code] ?? (err as Error).message;
  return new DdxError('INVALID_INPUT', `Cannot read ${file}: ${why}.`, { hint: 'Check --file.' });
}

/**
 * The reader's own failures, as INVALID_INPUT naming the file: raised inside the write callback,
 * an I/O error would otherwise be taken for one of the database's.
 */
export async function* guarded(records: AsyncIterable<RawRecord>, file: string) {
  try {
    yield* records;
  } catch (err) {
    throw inputProblem(err, file);
  }
}

// ---- the plan file ----

export const PLAN_FORMAT = 'ddx-share-plan/1';

type Side = { scope: Scope; workspaces: string[] };

export interface PlanChange {
  app: string;
  request: ScopeRequest;
  before: Side;
  beforeUpdatedAt: string;
  after: Side;
  gained: string[];
  lost: string[];
  revokedInstalls: string[];
  ticket: string | null;
  reason: string | null;
}

/** The per-database secret that seals plans: only someone with the database can seal one. */
export function planKey(w: Writer): Promise<string> {
  return w.setting('plan-key', () => randomBytes(32).toString('hex'));
}

export function digestOf(body: Record<string, unknown>, key: string): string {
  return createHmac('sha256', Buffer.from(key, 'hex')).update(canonicalJson(body)).digest('hex');
}

/**
 * Seals a dry run's changes into a plan, written beside the target and renamed over it so no one
 * reads half a plan. The key needs a committed write of its own: the dry run's was rolled back.
 */
export async function writePlan(store: Store, meta: Meta, t: Tally, path: string): Promise<string> {
  const key = await store.write((w) => planKey(w));
  const body = {
    ...{ format: PLAN_FORMAT, createdAt: meta.at, actor: meta.actor, database: store.label },
    ...{ changes: t.changes, unchanged: t.unchanged },
  };
  const plan = { ...body, digest: digestOf(body, key) };
  const replaced = existsSync(path) ? ', replacing the file there' : '';
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
  return `Saved the plan to ${safeText(path)}${replaced}; apply it with \`ddx-share apply-plan\`.`;
}

/** A set-scope record's change as a plan keeps it. */
export function planChange(
  rec: { app: string; request: ScopeRequest; ticket: string | null; reason: string | null },
  v: { before: App; after: App; revokedInstalls: string[] },
  gained: string[],
  lost: string[],
): PlanChange {
  const { before, after, revokedInstalls } = v;
  return {
    ...rec,
    before: { scope: before.scope, workspaces: before.workspaces },
    beforeUpdatedAt: before.updatedAt,
    after: { scope: after.scope, workspaces: after.workspaces },
    ...{ gained, lost, revokedInstalls },
  };
}

export function planTable(changes: readonly PlanChange[]): string {
  const side = (x: Side): string =>
    x.scope === 'CustomWorkspaceAccess' ? `${x.scope} (${brief(x.workspaces, 4)})` : x.scope;
  return table(
    ['app', 'before', 'after', 'gained', 'lost', 'installs revoked'],
    changes.map((c) => [
      c.app,
      side(c.before),
      side(c.after),
      ...[c.gained, c.lost, c.revokedInstalls].map((l) => brief(l)),
    ]),
  );
}
