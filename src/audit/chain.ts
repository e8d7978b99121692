import { hash } from 'node:crypto';
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

/**
 * JSON with object keys sorted at every depth and no whitespace: what JSON.stringify would print
 * for the same value with its keys sorted, written out directly rather than through a sorted
 * copy (an audit event has two of these, and a bulk batch tens of thousands of events).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const toJson = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJson === 'function') return canonicalJson(toJson.call(value));
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      out += (i === 0 ? '' : ',') + (omitted(item) ? 'null' : canonicalJson(item));
    }
    return `${out}]`;
  }
  let out = '';
  for (const key of Object.keys(value).sort()) {
    const item = (value as Record<string, unknown>)[key];
    if (!omitted(item))
      out += `${out === '' ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `{${out}}`;
}

/** The values JSON.stringify leaves out of an object (and prints as null in an array). */
function omitted(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
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
  return hash('sha256', DOMAIN + JSON.stringify(fields), 'hex');
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
