import { createHmac, randomBytes, timingSafeEqual, type Hmac } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { canonicalJson } from '../audit/chain.js';
import { DdxError, usage } from '../errors.js';
import { InputError, RECORD_FORMATS, formatFromPath } from '../io/records.js';
import type { RawRecord, RecordFormat } from '../io/records.js';
import { table } from '../io/render.js';
import { safeText } from '../io/sanitize.js';
import type { ScopeRequest } from '../rules/decide.js';
import type { App, Scope } from '../rules/types.js';
import type { Meta } from '../service/changes.js';
import type { Store, Writer } from '../store/store.js';
import type { Context } from './context.js';

// The files of the bulk commands: the records file they read, and the sealed plan file a dry run
// of set-scope --file writes for apply-plan. Also the progress line both commands show.

/** At most `max` ids, then how many more: an AllWorkspaces change can reach 100,000. */
export function brief(ids: readonly string[], max = 8): string {
  if (ids.length === 0) return 'none';
  const shown = ids.slice(0, max).map(safeText).join(', ');
  return ids.length > max ? `${shown} and ${ids.length - max} more` : shown;
}

/**
 * A `\r` progress line on stderr, on a terminal only, once the work has taken a second: ctx.note
 * is line-based, and short runs stay quiet.
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
 * The reader's next record; its failures become INVALID_INPUT naming the file, since inside the
 * write callback an I/O error would be taken for one of the database's.
 */
export async function guarded(
  records: AsyncIterator<RawRecord>,
  file: string,
): Promise<IteratorResult<RawRecord>> {
  try {
    return await records.next();
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

type PlanTail = { createdAt: string; database: string; format: string; unchanged: number };

/**
 * HMAC-SHA256 over canonicalJson(plan without digest), fed one change at a time so a plan of
 * 100,000 changes is never copied whole. Its keys in canonical order: actor, changes, then the
 * rest (createdAt, database, format, unchanged).
 */
export class PlanSeal {
  private readonly hmac: Hmac;
  private count = 0;

  constructor(key: string, actor: string) {
    this.hmac = createHmac('sha256', Buffer.from(key, 'hex'));
    this.hmac.update(`{"actor":${JSON.stringify(actor)},"changes":[`);
  }

  add(change: unknown): void {
    this.hmac.update((this.count++ === 0 ? '' : ',') + canonicalJson(change));
  }

  digest(tail: PlanTail): string {
    return this.hmac.update(`],${canonicalJson(tail).slice(1)}`).digest('hex');
  }

  matches(digest: string, tail: PlanTail): boolean {
    const want = Buffer.from(this.digest(tail), 'hex');
    const got = Buffer.from(digest, 'hex');
    return got.length === want.length && timingSafeEqual(got, want);
  }
}

/** Starts the plan file; the key needs a committed write, as the dry run's is rolled back. */
export async function startPlan(store: Store, meta: Meta, path: string): Promise<PlanWriter> {
  const key = await store.write((w) => planKey(w));
  const head = {
    format: PLAN_FORMAT,
    createdAt: meta.at,
    actor: meta.actor,
    database: store.label,
  };
  return new PlanWriter(path, key, head);
}

/**
 * Writes a plan as its changes are decided, one per line, beside the target; `finish` renames
 * it over the target, so no one reads half a plan.
 */
export class PlanWriter {
  private readonly tmp: string;
  private readonly fd: number;
  private readonly seal: PlanSeal;
  private text: string;
  private count = 0;
  private closed = false;

  constructor(
    readonly path: string,
    key: string,
    private readonly head: Omit<PlanTail, 'unchanged'> & { actor: string },
  ) {
    this.tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.fd = this.io(() => openSync(this.tmp, 'wx', 0o600));
    this.seal = new PlanSeal(key, head.actor);
    const { format, createdAt, actor, database } = head;
    this.text = `${JSON.stringify({ format, createdAt, actor, database }, null, 2).slice(0, -2)},`;
    this.text += '\n  "changes": [';
  }

  add(change: PlanChange): void {
    this.seal.add(change);
    this.text += `${this.count++ === 0 ? '' : ','}\n    ${JSON.stringify(change)}`;
    if (this.text.length > 65536) this.flush();
  }

  /** Saves the plan, or throws it away if the batch had bad records; says which, for people. */
  end(bad: boolean, unchanged: number): string {
    const where = safeText(this.path);
    if (bad) {
      this.abort();
      return `The plan was not saved to ${where}: it has bad records.`;
    }
    const replaced = this.finish(unchanged) ? ', replacing the file there' : '';
    return `Saved the plan to ${where}${replaced}; apply it with \`ddx-share apply-plan\`.`;
  }

  /** Seals and renames the plan; says whether it replaced a file. */
  private finish(unchanged: number): boolean {
    const { createdAt, database, format } = this.head;
    const digest = this.seal.digest({ createdAt, database, format, unchanged });
    this.text += `\n  ],\n  "unchanged": ${unchanged},\n  "digest": "${digest}"\n}\n`;
    this.flush();
    this.io(() => fsyncSync(this.fd));
    this.close();
    const replaced = existsSync(this.path);
    this.io(() => renameSync(this.tmp, this.path));
    return replaced;
  }

  abort(): void {
    this.close();
    rmSync(this.tmp, { force: true });
  }

  private close(): void {
    // Once: a second close could close whatever file has been given the number since.
    if (!this.closed) this.io(() => closeSync(this.fd));
    this.closed = true;
  }

  private flush(): void {
    const text = this.text;
    this.text = '';
    this.io(() => writeSync(this.fd, text));
  }

  /** A file error as a usage error: written inside a transaction, it would pass for the DB's. */
  private io<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      rmSync(this.tmp, { force: true });
      const why = (err as Error).message;
      throw new DdxError('USAGE', `Cannot write the plan to ${this.path}: ${why}.`, {
        hint: 'Choose another path for --save-plan.',
      });
    }
  }
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
