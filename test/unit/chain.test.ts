// The audit hash chain: its canonical JSON, the hash of one event, and verification of a stream.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  GENESIS,
  hashEvent,
  nextEvent,
  verifyChain,
  type HashedFields,
} from '../../src/audit/chain.js';
import type { AuditEvent, EventInput } from '../../src/audit/event.js';

const RUNS = Number(process.env.FC_RUNS ?? 25);

function input(n: number, over: Partial<EventInput> = {}): EventInput {
  return {
    at: `2026-03-01T00:00:${String(n).padStart(2, '0')}.000Z`,
    actor: 'staff@ddx.example',
    action: 'app.set-scope',
    target: `app-${n}`,
    outcome: 'applied',
    code: null,
    before: { scope: 'CurrentWorkspaceOnly', workspaces: [] },
    after: { workspaces: [], scope: 'AllWorkspaces' },
    ticket: n % 2 === 0 ? `SUP-${n}` : null,
    reason: null,
    batch: null,
    ...over,
  };
}

function chain(n: number): AuditEvent[] {
  const out: AuditEvent[] = [];
  let head = { seq: 0, hash: GENESIS };
  for (let i = 1; i <= n; i++) {
    const e = nextEvent(input(i), head);
    out.push(e);
    head = { seq: e.seq, hash: e.hash };
  }
  return out;
}

async function* stream(events: readonly AuditEvent[]): AsyncIterable<AuditEvent> {
  for (const e of events) yield e;
}

/** Re-seals an event after editing it, as an attacker who knows the encoding would. */
function reseal(e: Omit<AuditEvent, 'hash'>): AuditEvent {
  const { hash: _drop, ...fields } = e as AuditEvent;
  return { ...fields, hash: hashEvent(fields) };
}

const base: HashedFields = {
  seq: 7,
  at: '2026-03-01T00:00:00.000Z',
  actor: 'staff@ddx.example',
  action: 'app.set-scope',
  target: 'billing',
  outcome: 'denied',
  code: 'DEVELOPMENT_APP_NOT_SHAREABLE',
  before: '{"scope":"CurrentWorkspaceOnly"}',
  after: '{"scope":"AllWorkspaces"}',
  ticket: 'SUP-1',
  reason: 'because',
  batch: 'b-1',
  prevHash: 'a'.repeat(64),
};

describe('canonicalJson', () => {
  it('sorts object keys at every depth and has no whitespace', () => {
    const value = { b: 1, a: { d: [{ z: 1, y: [{ q: 2, p: 1 }] }], c: null }, ' ': 'x y' };
    expect(canonicalJson(value)).toBe(
      '{" ":"x y","a":{"c":null,"d":[{"y":[{"p":1,"q":2}],"z":1}]},"b":1}',
    );
  });

  it('keeps a "__proto__" key as data', () => {
    expect(canonicalJson(JSON.parse('{"b":1,"__proto__":{"x":1}}'))).toBe(
      '{"__proto__":{"x":1},"b":1}',
    );
  });

  it('keeps array order, which is meaningful', () => {
    expect(canonicalJson({ w: ['b', 'a'] })).toBe('{"w":["b","a"]}');
  });

  it('prints keys in code-unit order, integer-like keys included', () => {
    // The reference: JSON.stringify with every key, sorted, as its property list, which it
    // follows for every object (an object's own order would put integer-like keys first).
    const keys = (v: unknown, out: Set<string>): Set<string> => {
      if (v !== null && typeof v === 'object') {
        for (const [k, item] of Object.entries(v)) keys(item, out.add(k));
      }
      return out;
    };
    const reference = (v: unknown): string => JSON.stringify(v, [...keys(v, new Set())].sort());
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: RUNS },
    );
    expect(canonicalJson({ b: 1, 10: 1, 9: 1, '': 1 })).toBe('{"":1,"10":1,"9":1,"b":1}');
    expect(canonicalJson({ b: undefined, a: [undefined, () => 1], d: new Date(0) })).toBe(
      '{"a":[null,null],"d":"1970-01-01T00:00:00.000Z"}',
    );
  });

  it('is the same for objects built in any key order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
        expect(JSON.parse(canonicalJson(obj))).toEqual(JSON.parse(JSON.stringify(obj)));
        // Encoding the parsed text again changes nothing: it is its own canonical form.
        const text = canonicalJson(obj);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('hashEvent', () => {
  it('is 64 hex characters and deterministic', () => {
    expect(hashEvent(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashEvent({ ...base })).toBe(hashEvent(base));
  });

  it('changes when any single field changes', () => {
    const seen = new Set([hashEvent(base)]);
    for (const key of Object.keys(base) as (keyof HashedFields)[]) {
      const value = base[key];
      const changed =
        typeof value === 'number' ? value + 1 : key === 'prevHash' ? 'b'.repeat(64) : `${value}x`;
      const h = hashEvent({ ...base, [key]: changed });
      expect(seen.has(h), `changing ${key} must change the hash`).toBe(false);
      seen.add(h);
    }
    expect(seen.size).toBe(Object.keys(base).length + 1);
  });

  it('tells null from the string "null" and from the empty string', () => {
    for (const key of ['code', 'before', 'after', 'ticket', 'reason', 'batch'] as const) {
      const hashes = new Set(
        [null, 'null', ''].map((v) => hashEvent({ ...base, [key]: v as string | null })),
      );
      expect(hashes.size, key).toBe(3);
    }
  });

  it('does not let text move from a field into its neighbour (actor "a", action "b|c")', () => {
    const h1 = hashEvent({ ...base, actor: 'a', action: 'b|c' });
    const h2 = hashEvent({ ...base, actor: 'a|b', action: 'c' });
    expect(h1).not.toBe(h2);
    // Nor with characters that look like the encoding's own separators.
    const h3 = hashEvent({ ...base, actor: 'a","b', action: 'c' });
    const h4 = hashEvent({ ...base, actor: 'a', action: 'b","c' });
    expect(h3).not.toBe(h4);
    const h5 = hashEvent({ ...base, ticket: 'x', reason: null });
    const h6 = hashEvent({ ...base, ticket: null, reason: 'x' });
    expect(h5).not.toBe(h6);
  });

  it('any split of a text between two neighbouring fields hashes differently', () => {
    const keys = ['at', 'actor', 'action', 'target', 'outcome', 'code', 'before', 'after'];
    const neighbours = keys.slice(0, -1).map((k, i) => [k, keys[i + 1]!] as const);
    fc.assert(
      fc.property(
        fc.constantFrom(...neighbours),
        fc.string({ minLength: 2, maxLength: 12 }),
        fc.nat(),
        fc.nat(),
        ([left, right], text, i, j) => {
          const a = i % (text.length + 1);
          const b = j % (text.length + 1);
          fc.pre(a !== b);
          const split = (k: number): HashedFields => ({
            ...base,
            [left]: text.slice(0, k),
            [right]: text.slice(k),
          });
          expect(hashEvent(split(a))).not.toBe(hashEvent(split(b)));
        },
      ),
      { numRuns: RUNS * 4 },
    );
  });
});

describe('nextEvent', () => {
  it('links to the head, numbers the next seq, and stores before/after canonically', () => {
    const e = nextEvent(input(1), { seq: 41, hash: 'c'.repeat(64) });
    expect(e.seq).toBe(42);
    expect(e.prevHash).toBe('c'.repeat(64));
    expect(e.after).toBe('{"scope":"AllWorkspaces","workspaces":[]}');
    expect(e.hash).toBe(hashEvent(e));
    expect(nextEvent(input(1, { before: null }), { seq: 0, hash: GENESIS }).before).toBeNull();
  });
});

describe('verifyChain', () => {
  it('accepts an empty stream', async () => {
    expect(await verifyChain(stream([]))).toEqual({
      ok: true,
      events: 0,
      firstBadSeq: null,
      problem: null,
    });
  });

  it('accepts a good chain and counts it', async () => {
    expect(await verifyChain(stream(chain(10)))).toEqual({
      ok: true,
      events: 10,
      firstBadSeq: null,
      problem: null,
    });
  });

  it('catches a gap: a removed middle event', async () => {
    const events = chain(6);
    events.splice(2, 1);
    const r = await verifyChain(stream(events));
    expect(r).toMatchObject({ ok: false, firstBadSeq: 3, events: 3 });
    expect(r.problem).toContain('event 3 is missing');
  });

  it('catches a chain that does not start at 1', async () => {
    const r = await verifyChain(stream(chain(3).slice(1)));
    expect(r).toMatchObject({ ok: false, firstBadSeq: 1 });
  });

  it('catches a first event that does not link to GENESIS', async () => {
    const [first] = chain(1);
    const forged = reseal({ ...first!, prevHash: 'f'.repeat(64) });
    const r = await verifyChain(stream([forged]));
    expect(r).toMatchObject({ ok: false, firstBadSeq: 1 });
    expect(r.problem).toContain('does not link');
  });

  it('catches a bad link even when the event itself is re-sealed', async () => {
    const events = chain(5);
    events[3] = reseal({ ...events[3]!, prevHash: 'e'.repeat(64) });
    const r = await verifyChain(stream(events));
    expect(r).toMatchObject({ ok: false, firstBadSeq: 4, events: 4 });
    expect(r.problem).toBe('event 4 does not link to event 3');
  });

  it('catches an edited field (bad hash), at that event', async () => {
    const events = chain(5);
    events[1] = { ...events[1]!, actor: 'mallory@ddx.example' };
    const r = await verifyChain(stream(events));
    expect(r).toMatchObject({ ok: false, firstBadSeq: 2, events: 2 });
    expect(r.problem).toBe('event 2 does not match its hash');
  });

  it('catches an edited event that was re-sealed, at the event after it', async () => {
    const events = chain(5);
    events[1] = reseal({ ...events[1]!, outcome: 'denied' });
    const r = await verifyChain(stream(events));
    expect(r).toMatchObject({ ok: false, firstBadSeq: 3 });
  });

  it('catches two events swapped', async () => {
    const events = chain(5);
    [events[1], events[2]] = [events[2]!, events[1]!];
    const r = await verifyChain(stream(events));
    expect(r.ok).toBe(false);
    expect(r.firstBadSeq).toBe(2);
  });

  it('does not catch a truncated chain: only a saved head can', async () => {
    expect((await verifyChain(stream(chain(5).slice(0, 3)))).ok).toBe(true);
  });

  it('stops at the first bad event of a long random chain', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 30 }), fc.nat(), async (n, k) => {
        const events = chain(n);
        const bad = k % n;
        events[bad] = { ...events[bad]!, target: `${events[bad]!.target}!` };
        const r = await verifyChain(stream(events));
        expect(r).toMatchObject({ ok: false, firstBadSeq: bad + 1, events: bad + 1 });
      }),
      { numRuns: RUNS },
    );
  });
});
