import { verifyChain } from '../audit/chain.js';
import type { AuditEvent, AuditFilter } from '../audit/event.js';
import { DdxError, EXIT } from '../errors.js';
import { check, idSchema } from '../io/input.js';
import { csvRow, table, type Cell } from '../io/render.js';
import { safeText } from '../io/sanitize.js';
import { ACTIONS, OUTCOMES } from '../rules/types.js';
import { scanData } from '../service/check.js';
import { parseFormat } from './list.js';
import { value, type Context, type Result } from './context.js';

export interface AuditLogOptions {
  app?: string | undefined;
  actor?: string | undefined;
  action?: string | undefined;
  outcome?: string | undefined;
  since?: string | undefined;
  limit?: string | undefined;
  format?: string | undefined;
}

function eventJson(e: AuditEvent): Record<string, unknown> {
  return {
    seq: e.seq,
    at: e.at,
    actor: e.actor,
    action: e.action,
    target: e.target,
    outcome: e.outcome,
    code: e.code,
    before: e.before === null ? null : JSON.parse(e.before),
    after: e.after === null ? null : JSON.parse(e.after),
    ticket: e.ticket,
    reason: e.reason,
    batch: e.batch,
    prevHash: e.prevHash,
    hash: e.hash,
  };
}

function filterOf(opts: AuditLogOptions): AuditFilter {
  const f: AuditFilter = {};
  if (opts.app !== undefined) f.target = check(idSchema, opts.app, '--app');
  if (opts.actor !== undefined) f.actor = opts.actor.trim().toLowerCase();
  if (opts.action !== undefined) {
    if (!(ACTIONS as readonly string[]).includes(opts.action)) {
      throw new DdxError(
        'USAGE',
        `Unknown action "${opts.action}": use one of ${ACTIONS.join(', ')}.`,
      );
    }
    f.action = opts.action;
  }
  if (opts.outcome !== undefined) {
    if (!(OUTCOMES as readonly string[]).includes(opts.outcome)) {
      throw new DdxError('USAGE', `Unknown outcome "${opts.outcome}": use applied or denied.`);
    }
    f.outcome = opts.outcome;
  }
  if (opts.since !== undefined) {
    // Only ISO 8601 dates: Date.parse alone reads a year out of almost any text.
    const iso = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
    const t = iso.test(opts.since.trim()) ? Date.parse(opts.since.trim()) : NaN;
    if (Number.isNaN(t)) {
      throw new DdxError('USAGE', `--since takes an ISO 8601 date, not "${opts.since}".`);
    }
    f.since = new Date(t).toISOString();
  }
  if (opts.limit !== undefined) {
    const n = Number(opts.limit);
    if (!Number.isInteger(n) || n < 1)
      throw new DdxError('USAGE', '--limit takes a whole number above 0.');
    f.limit = n;
  }
  return f;
}

const FORMATS = ['table', 'json', 'ndjson', 'csv'] as const;
const HEAD = ['seq', 'at', 'actor', 'action', 'target', 'outcome', 'code', 'ticket', 'batch'];

function cells(e: AuditEvent): Cell[] {
  return [e.seq, e.at, e.actor, e.action, e.target, e.outcome, e.code, e.ticket, e.batch];
}

export async function auditLogCommand(ctx: Context, opts: AuditLogOptions): Promise<Result> {
  const filter = filterOf(opts);
  const format = parseFormat(opts.format, FORMATS, ctx.json);
  const store = await ctx.openStore();
  const events = store.stream((r) => r.auditEvents(filter));
  async function* lines(): AsyncIterable<string> {
    if (format === 'ndjson') {
      for await (const e of events) yield JSON.stringify(eventJson(e)) + '\n';
    } else if (format === 'json') {
      let first = true;
      for await (const e of events) {
        yield (first ? '[' : ',') + JSON.stringify(eventJson(e));
        first = false;
      }
      yield first ? '[]\n' : ']\n';
    } else if (format === 'csv') {
      yield csvRow([...HEAD, 'before', 'after', 'reason', 'prevHash', 'hash']) + '\n';
      for await (const e of events) {
        yield csvRow([...cells(e), e.before, e.after, e.reason, e.prevHash, e.hash]) + '\n';
      }
    } else {
      const rows: Cell[][] = [];
      for await (const e of events) rows.push(cells(e));
      yield rows.length === 0 ? 'No events match.\n' : table(HEAD, rows, ctx.style) + '\n';
    }
  }
  return { kind: 'lines', lines: lines() };
}

export function parseHead(value: string): { seq: number; hash: string } {
  const m = /^(\d+):([0-9a-f]{64})$/.exec(value.trim());
  if (!m)
    throw new DdxError('USAGE', '--head takes <seq>:<hash>, as printed by `ddx-share audit head`.');
  return { seq: Number(m[1]), hash: m[2]! };
}

export async function auditVerifyCommand(
  ctx: Context,
  opts: { head?: string | undefined },
): Promise<Result> {
  const saved = opts.head === undefined ? undefined : parseHead(opts.head);
  const store = await ctx.openStore();
  const { result, held } = await store.read(async (r) => {
    const result = await verifyChain(r.auditEvents({}));
    let held: string | null = null;
    if (saved && result.ok) {
      const e = await r.auditEvent(saved.seq);
      if (!e)
        held =
          `the chain ends before the saved head ${saved.seq}: ` +
          'events were removed or an older copy restored';
      else if (e.hash !== saved.hash)
        held = `event ${saved.seq} no longer has the saved hash: history was rewritten`;
    }
    return { result, held };
  });
  const ok = result.ok && held === null;
  const firstBadSeq = result.ok ? (held === null ? null : saved!.seq) : result.firstBadSeq;
  const problem = result.problem ?? held;
  return value(
    { ok, events: result.events, firstBadSeq },
    () =>
      ok
        ? `The audit chain holds: ${result.events} event(s)` +
          (saved ? `, including the saved head ${saved.seq}.` : '.')
        : ctx.style.red(`The audit chain is broken at event ${firstBadSeq}: ${problem}.`),
    ok ? EXIT.ok : EXIT.integrity,
  );
}

export async function auditHeadCommand(ctx: Context): Promise<Result> {
  const store = await ctx.openStore();
  const head = await store.read((r) => r.auditHead());
  return value(head, () => `${head.seq}:${head.hash}`);
}

export async function auditCheckCommand(ctx: Context): Promise<Result> {
  const store = await ctx.openStore();
  const violations = [...(await store.read((r) => scanData(r))), ...(await store.checkGuards())];
  const ok = violations.length === 0;
  return value(
    { ok, violations },
    () =>
      ok
        ? 'No violations: the data keeps every rule and the database guards are all in place.'
        : `${violations.length} violation(s):\n` +
          table(
            ['rule', 'code', 'target', 'message'],
            violations.map((v) => [v.rule, v.code, v.target, v.message]),
            ctx.style,
          ),
    ok ? EXIT.ok : EXIT.integrity,
  );
}

export async function backupCommand(
  ctx: Context,
  path: string,
  opts: { force?: boolean },
): Promise<Result> {
  const store = await ctx.openStore();
  const r = await store.backup(path, { force: opts.force ?? false });
  return value(r, () => `Backed up to ${safeText(r.path)} (${r.bytes} bytes).`);
}
