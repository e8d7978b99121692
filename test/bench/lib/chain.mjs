import { createHash } from 'node:crypto';

// The audit chain's encoding, restated from the comment at the top of src/audit/chain.ts so the
// bench imports nothing from src: the seed data and the sqlite3 baseline must carry real hashes
// or the append trigger (and `audit verify`) would refuse them.
//
//   sha256("ddx-share/audit/v1\n" + JSON.stringify([seq, at, actor, action, target, outcome,
//          code, before, after, ticket, reason, batch, prevHash]))
//
// before and after are canonical JSON text (keys sorted, no whitespace).

export const GENESIS = '0'.repeat(64);
const DOMAIN = 'ddx-share/audit/v1\n';

export function canonicalJson(value) {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

/** The next link after `head`; `input.before`/`after` are objects or null. */
export function nextEvent(input, head) {
  const e = {
    seq: head.seq + 1,
    at: input.at,
    actor: input.actor,
    action: input.action,
    target: input.target,
    outcome: input.outcome ?? 'applied',
    code: input.code ?? null,
    before: input.before == null ? null : canonicalJson(input.before),
    after: input.after == null ? null : canonicalJson(input.after),
    ticket: input.ticket ?? null,
    reason: input.reason ?? null,
    batch: input.batch ?? null,
    prevHash: head.hash,
  };
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
  e.hash = createHash('sha256')
    .update(DOMAIN + JSON.stringify(fields))
    .digest('hex');
  return e;
}

/** Column order of audit_events, matching the fields of an event from nextEvent. */
export const EVENT_COLUMNS =
  'seq, at, actor, action, target, outcome, code, before, after, ticket, reason, batch, ' +
  'prev_hash, hash';

export function eventValues(e) {
  return [
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
    e.hash,
  ];
}
