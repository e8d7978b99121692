import { createHash } from 'node:crypto';
import type { AuditEvent, EventInput } from './event.js';

// The hash chain. Each event's hash is sha256 over a fixed encoding of its fields and the
// previous event's hash, so changing, removing, reordering or inserting any event breaks every
// link after it:
//
//   sha256( "ddx-share/audit/v1\n" + JSON.stringify([seq, at, actor, action, target, outcome,
//           code, before, after, ticket, reason, batch, prevHash]) )
//
// A JSON array of fields in a fixed order, strings escaped by JSON, leaves no way to move text
// from one field into its neighbour; the prefix keeps these hashes from meaning anything else.
// before and after are canonical JSON text (object keys sorted, no whitespace), stored exactly
// as hashed. The first event links to GENESIS.

export const GENESIS = '0'.repeat(64);
const DOMAIN = 'ddx-share/audit/v1\n';

/** JSON with object keys sorted at every depth and no whitespace. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    // No prototype, so a "__proto__" key is kept as data instead of setting the prototype.
    const out: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(value).sort()) {
      out[key] = sortKeys((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return value;
}

export type HashedFields = Omit<AuditEvent, 'hash'>;

export function hashEvent(e: HashedFields): string {
  const fields = [
    e.seq,
    e.at,
    e.actor,
    e.action,
    e.target,
    e.outcome,
    e.code,
    e.before,
    e.after,
    e.ticket,
    e.reason,
    e.batch,
    e.prevHash,
  ];
  return createHash('sha256')
    .update(DOMAIN + JSON.stringify(fields))
    .digest('hex');
}

/** Turns what a command recorded into the next link after the given head. */
export function nextEvent(input: EventInput, head: { seq: number; hash: string }): AuditEvent {
  const fields: HashedFields = {
    seq: head.seq + 1,
    at: input.at,
    actor: input.actor,
    action: input.action,
    target: input.target,
    outcome: input.outcome,
    code: input.code,
    before: input.before === null ? null : canonicalJson(input.before),
    after: input.after === null ? null : canonicalJson(input.after),
    ticket: input.ticket,
    reason: input.reason,
    batch: input.batch,
    prevHash: head.hash,
  };
  return { ...fields, hash: hashEvent(fields) };
}

export interface VerifyResult {
  ok: boolean;
  events: number;
  firstBadSeq: number | null;
  problem: string | null;
}

/**
 * Checks a stream of events, oldest first, in constant memory: seq runs 1, 2, 3 ... without a
 * gap, each links to the hash before it, and each hash matches its fields.
 */
export async function verifyChain(events: AsyncIterable<AuditEvent>): Promise<VerifyResult> {
  let prev = { seq: 0, hash: GENESIS };
  let count = 0;
  for await (const e of events) {
    count++;
    const bad = (problem: string): VerifyResult => ({
      ok: false,
      events: count,
      firstBadSeq: e.seq,
      problem,
    });
    if (e.seq !== prev.seq + 1) {
      return {
        ok: false,
        events: count,
        firstBadSeq: prev.seq + 1,
        problem: `event ${prev.seq + 1} is missing (the next one is ${e.seq})`,
      };
    }
    if (e.prevHash !== prev.hash) return bad(`event ${e.seq} does not link to event ${prev.seq}`);
    if (hashEvent(e) !== e.hash) return bad(`event ${e.seq} does not match its hash`);
    prev = { seq: e.seq, hash: e.hash };
  }
  return { ok: true, events: count, firstBadSeq: null, problem: null };
}
