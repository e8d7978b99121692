// The audit trail end to end: an event for every change, applied or denied; `audit log` with its
// filters and formats; `audit head`; what `audit verify` catches on tampered copies of a real
// database, alone and with a saved head; and `backup`.
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashEvent } from '../../src/audit/chain.js';
import { ACTOR, cli, cliJson, jsonError, tempDir } from '../helpers/cli.js';

const OTHER = 'other@ddx.example';

interface EventJson {
  seq: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  code: string | null;
  before: unknown;
  after: unknown;
  ticket: string | null;
  reason: string | null;
  batch: string | null;
  prevHash: string;
  hash: string;
}

// One seeded database, built once with the CLI; each test works on its own copy of it.
let seed: ReturnType<typeof tempDir>;
/** A backup of the seed taken part-way, and the head saved at that moment. */
let earlyBackup: string;
let earlyHead: string;
let seedEvents: EventJson[];
let t: ReturnType<typeof tempDir>;

async function run(db: string, args: string[], expected = 0, actor = ACTOR): Promise<void> {
  const r = await cli(db, args, { actor });
  if (r.exitCode !== expected) {
    throw new Error(`${args.join(' ')} exited ${r.exitCode}, not ${expected}: ${r.stderr}`);
  }
}

beforeAll(async () => {
  seed = tempDir('ddx-e2e-audit-seed-');
  const db = seed.db;
  await run(db, ['workspace', 'create', 'Acme', '--kind', 'organizational']);
  await run(db, ['workspace', 'create', 'Acme EU', '--kind', 'org', '--parent', 'acme']);
  await run(db, ['workspace', 'create', 'Globex', '--kind', 'organizational'], 0, OTHER);
  await run(db, ['workspace', 'create', 'Pat', '--kind', 'personal']);
  await run(db, ['app', 'create', 'Billing', '--workspace', 'acme', '--env', 'production']);
  await run(db, ['app', 'create', 'Devtool', '--workspace', 'acme', '--env', 'development']);
  const early = await cli(db, ['audit', 'head']);
  earlyHead = early.stdout.trim();
  earlyBackup = join(seed.dir, 'early.db');
  await run(db, ['backup', earlyBackup]);
  // Denied: production in a personal workspace (R1), and a development app escalated (R4).
  await run(db, ['app', 'create', 'Oops', '--workspace', 'pat', '--env', 'production'], 3);
  await run(db, ['set-scope', 'devtool', 'all', '--ticket', 'SUP-9'], 3, OTHER);
  await run(db, [
    'set-scope',
    'billing',
    'children',
    '--ticket',
    'SUP-1',
    '--reason',
    'EU rollout',
  ]);
  await run(db, ['install', 'billing', '--workspace', 'acme-eu']);
  await run(db, ['install', 'billing', '--workspace', 'globex'], 3);
  await run(db, ['app', 'update', 'billing', '--name', 'Billing v2'], 0, OTHER);
  await run(db, ['uninstall', 'billing', '--workspace', 'acme-eu']);
  const log = await cliJson<EventJson[]>(db, ['audit', 'log']);
  seedEvents = log.json;
}, 120_000);
afterAll(() => seed.cleanup());

beforeEach(async () => {
  t = tempDir('ddx-e2e-audit-');
  await copyDb(seed.db, t.db);
});
afterEach(() => t.cleanup());

async function copyDb(from: string, to: string): Promise<void> {
  const src = new Database(from, { readonly: true });
  try {
    await src.backup(to);
  } finally {
    src.close();
  }
}

/** Raw SQL on the test's copy, with the audit guards dropped first so it can be tampered with. */
function tamper(sql: (db: Database.Database) => void): void {
  const db = new Database(t.db);
  try {
    db.exec(
      'DROP TRIGGER audit_events_update_guard; DROP TRIGGER audit_events_delete_guard; ' +
        'DROP TRIGGER audit_events_append_guard;',
    );
    sql(db);
  } finally {
    db.close();
  }
}

async function verify(args: string[] = []) {
  return cliJson<{ ok: boolean; events: number; firstBadSeq: number | null }>(t.db, [
    'audit',
    'verify',
    ...args,
  ]);
}

async function headOf(db: string): Promise<string> {
  const r = await cli(db, ['audit', 'head']);
  expect(r.exitCode).toBe(0);
  return r.stdout.trim();
}

const N = 13; // the events the seed wrote

describe('events are written for every change', () => {
  it('applied and denied, in order, each naming its actor', () => {
    expect(seedEvents.map((e) => [e.seq, e.action, e.target, e.outcome, e.code, e.actor])).toEqual([
      [1, 'workspace.create', 'acme', 'applied', null, ACTOR],
      [2, 'workspace.create', 'acme-eu', 'applied', null, ACTOR],
      [3, 'workspace.create', 'globex', 'applied', null, OTHER],
      [4, 'workspace.create', 'pat', 'applied', null, ACTOR],
      [5, 'app.create', 'billing', 'applied', null, ACTOR],
      [6, 'app.create', 'devtool', 'applied', null, ACTOR],
      [7, 'app.create', 'oops', 'denied', 'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE', ACTOR],
      [8, 'app.set-scope', 'devtool', 'denied', 'DEVELOPMENT_APP_NOT_SHAREABLE', OTHER],
      [9, 'app.set-scope', 'billing', 'applied', null, ACTOR],
      [10, 'app.install', 'billing', 'applied', null, ACTOR],
      [11, 'app.install', 'billing', 'denied', 'NOT_INSTALLABLE', ACTOR],
      [12, 'app.update', 'billing', 'applied', null, OTHER],
      [13, 'app.uninstall', 'billing', 'applied', null, ACTOR],
    ]);
    expect(seedEvents).toHaveLength(N);
  });

  it('the json shape: every field, before/after as objects, linked hashes', () => {
    for (const e of seedEvents) {
      expect(Object.keys(e)).toEqual([
        'seq',
        'at',
        'actor',
        'action',
        'target',
        'outcome',
        'code',
        'before',
        'after',
        'ticket',
        'reason',
        'batch',
        'prevHash',
        'hash',
      ]);
      expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
    }
    for (let i = 1; i < N; i++) expect(seedEvents[i]!.prevHash).toBe(seedEvents[i - 1]!.hash);
    expect(seedEvents[0]!.prevHash).toBe('0'.repeat(64));
    const scope = seedEvents[8]!;
    expect(scope).toMatchObject({
      before: { scope: 'CurrentWorkspaceOnly', workspaces: [] },
      after: { scope: 'AllChildWorkspaces', workspaces: [] },
      ticket: 'SUP-1',
      reason: 'EU rollout',
    });
    expect(seedEvents[11]).toMatchObject({
      before: { name: 'Billing' },
      after: { name: 'Billing v2' },
    });
    // Times rise with seq.
    const times = seedEvents.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('a denied dev-app escalation exits 3, writes a denied event, changes nothing', async () => {
    const r = await cli(t.db, [
      'set-scope',
      'devtool',
      'custom',
      '--workspaces',
      'globex',
      '--json',
    ]);
    expect(r.exitCode).toBe(3);
    expect(jsonError(r.stderr).code).toBe('DEVELOPMENT_APP_NOT_SHAREABLE');
    const log = await cliJson<EventJson[]>(t.db, ['audit', 'log', '--limit', '1']);
    expect(log.json).toHaveLength(1);
    expect(log.json[0]).toMatchObject({
      seq: N + 1,
      action: 'app.set-scope',
      target: 'devtool',
      outcome: 'denied',
      code: 'DEVELOPMENT_APP_NOT_SHAREABLE',
      actor: ACTOR,
    });
    const app = await cliJson(t.db, ['app', 'show', 'devtool']);
    expect(JSON.stringify(app.json)).toContain('CurrentWorkspaceOnly');
    expect((await verify()).exitCode).toBe(0);
  });

  it('a dry run writes no event', async () => {
    const before = await headOf(t.db);
    const r = await cli(t.db, ['set-scope', 'billing', 'all', '--dry-run']);
    expect(r.exitCode).toBe(0);
    expect(await headOf(t.db)).toBe(before);
  });
});

describe('audit log', () => {
  const log = async (args: string[]) => {
    const r = await cliJson<EventJson[]>(t.db, ['audit', 'log', ...args]);
    expect(r.exitCode).toBe(0);
    return r.json.map((e) => e.seq);
  };
  const seqs = (pred: (e: EventJson) => boolean) => seedEvents.filter(pred).map((e) => e.seq);

  it('json is an array of every event, oldest first', async () => {
    expect(await log([])).toEqual(seedEvents.map((e) => e.seq));
    expect((await cli(t.db, ['audit', 'log', '--format', 'json'])).stdout.trim()).toBe(
      JSON.stringify(seedEvents),
    );
  });

  it('--actor: only that staff member, in any case', async () => {
    expect(await log(['--actor', OTHER])).toEqual([3, 8, 12]);
    // Actors are stored lower-cased, so the filter takes any case.
    expect(await log(['--actor', OTHER.toUpperCase()])).toEqual([3, 8, 12]);
    expect(await log(['--actor', OTHER, '--outcome', 'denied'])).toEqual([8]);
  });

  it('--app, --action, --outcome', async () => {
    expect(await log(['--app', 'billing'])).toEqual(seqs((e) => e.target === 'billing'));
    expect(await log(['--action', 'app.install'])).toEqual([10, 11]);
    expect(await log(['--outcome', 'denied'])).toEqual([7, 8, 11]);
    expect(await log(['--outcome', 'applied'])).toEqual(seqs((e) => e.outcome === 'applied'));
    expect(await log(['--app', 'billing', '--outcome', 'denied'])).toEqual([11]);
    expect(await log(['--app', 'nobody'])).toEqual([]);
  });

  it('--since and --limit (the newest n, still oldest first)', async () => {
    const at = seedEvents[8]!.at;
    expect(await log(['--since', at])).toEqual(seqs((e) => e.at >= at));
    expect(await log(['--since', '2999-01-01'])).toEqual([]);
    expect(await log(['--since', '2000-01-01'])).toEqual(seedEvents.map((e) => e.seq));
    expect(await log(['--limit', '3'])).toEqual([N - 2, N - 1, N]);
    expect(await log(['--limit', '1000'])).toEqual(seedEvents.map((e) => e.seq));
    expect(await log(['--app', 'billing', '--limit', '2'])).toEqual([12, 13]);
    expect(
      await log(['--outcome', 'denied', '--limit', '2', '--since', seedEvents[7]!.at]),
    ).toEqual([8, 11]);
  });

  it('ndjson: one event a line, the same as json', async () => {
    const r = await cli(t.db, ['audit', 'log', '--format', 'ndjson']);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual(seedEvents);
  });

  it('csv: a header and one row per event', async () => {
    const r = await cli(t.db, ['audit', 'log', '--format', 'csv', '--outcome', 'denied']);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'seq,at,actor,action,target,outcome,code,ticket,batch,before,after,reason,prevHash,hash',
    );
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(/^8,[^,]+,other@ddx\.example,app\.set-scope,devtool,denied,/);
    expect(lines[2]).toContain('SUP-9');
    expect(lines[2]).toContain(seedEvents[7]!.hash);
  });

  it('table: a header and one row per event; "No events match." when none do', async () => {
    const r = await cli(t.db, ['audit', 'log', '--action', 'app.update']);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^seq\s+at\s+actor\s+action\s+target\s+outcome\s+code/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^12\s.*other@ddx\.example\s+app\.update\s+billing\s+applied/);
    const none = await cli(t.db, ['audit', 'log', '--app', 'nobody']);
    expect(none.stdout).toBe('No events match.\n');
  });

  it('refuses a bad filter with exit 2', async () => {
    for (const args of [
      ['--action', 'app.delete'],
      ['--outcome', 'maybe'],
      ['--since', 'last tuesday'],
      ['--limit', '0'],
      ['--limit', 'ten'],
      ['--format', 'xml'],
    ]) {
      const r = await cli(t.db, ['audit', 'log', ...args]);
      expect(r.exitCode, args.join(' ')).toBe(2);
    }
  });
});

describe('audit head', () => {
  it('prints <seq>:<hash> of the last event', async () => {
    const last = seedEvents.at(-1)!;
    expect((await cli(t.db, ['audit', 'head'])).stdout).toBe(`${N}:${last.hash}\n`);
    const j = await cliJson(t.db, ['audit', 'head']);
    expect(j.json).toEqual({ seq: N, hash: last.hash });
  });

  it('of an empty chain is 0:GENESIS', async () => {
    const fresh = join(t.dir, 'fresh.db');
    expect((await cli(fresh, ['audit', 'head'])).stdout).toBe(`0:${'0'.repeat(64)}\n`);
    expect((await cliJson(fresh, ['audit', 'verify'])).json).toEqual({
      ok: true,
      events: 0,
      firstBadSeq: null,
    });
  });
});

describe('audit verify on tampered copies', () => {
  const headNow = () => `${N}:${seedEvents.at(-1)!.hash}`;

  it('an intact chain holds, alone and with its saved head', async () => {
    expect(await verify()).toMatchObject({
      exitCode: 0,
      json: { ok: true, events: N, firstBadSeq: null },
    });
    expect((await verify(['--head', headNow()])).exitCode).toBe(0);
    expect((await verify(['--head', earlyHead])).exitCode).toBe(0);
    const text = await cli(t.db, ['audit', 'verify', '--head', earlyHead]);
    expect(text.stdout).toContain(`${N} event(s)`);
  });

  it('a malformed --head is a usage error (exit 2)', async () => {
    for (const bad of ['12', '12:xyz', `x:${'a'.repeat(64)}`]) {
      expect((await cli(t.db, ['audit', 'verify', '--head', bad])).exitCode).toBe(2);
    }
  });

  it('one field of one event edited: caught without a saved head, at that event', async () => {
    tamper((db) => db.exec("UPDATE audit_events SET actor = 'mallory@evil.example' WHERE seq = 5"));
    const r = await verify();
    expect(r).toMatchObject({ exitCode: 6, json: { ok: false, firstBadSeq: 5 } });
    const text = await cli(t.db, ['audit', 'verify']);
    expect(text.exitCode).toBe(6);
    expect(text.stdout).toContain('broken at event 5');
  });

  it('a denial turned into "applied": caught without a saved head', async () => {
    tamper((db) =>
      db.exec("UPDATE audit_events SET outcome = 'applied', code = NULL WHERE seq = 8"),
    );
    expect(await verify()).toMatchObject({ exitCode: 6, json: { firstBadSeq: 8 } });
  });

  it('a middle event deleted: caught without a saved head', async () => {
    tamper((db) => db.exec('DELETE FROM audit_events WHERE seq = 7'));
    expect(await verify()).toMatchObject({ exitCode: 6, json: { ok: false, firstBadSeq: 7 } });
  });

  it('the last event deleted: NOT caught without a saved head; caught with --head', async () => {
    tamper((db) => db.exec(`DELETE FROM audit_events WHERE seq = ${N}`));
    expect(await verify()).toMatchObject({ exitCode: 0, json: { ok: true, events: N - 1 } });
    expect(await verify(['--head', headNow()])).toMatchObject({
      exitCode: 6,
      json: { ok: false, firstBadSeq: N },
    });
  });

  it("two events' contents swapped: caught without a saved head", async () => {
    tamper((db) => {
      const cols =
        'at, actor, action, target, outcome, code, before, after, ticket, reason, batch, ' +
        'prev_hash, hash';
      const get = db.prepare(`SELECT ${cols} FROM audit_events WHERE seq = ?`);
      const a = get.get(9) as Record<string, unknown>;
      const b = get.get(10) as Record<string, unknown>;
      const set = db.prepare(
        `UPDATE audit_events SET (${cols}) = (${cols
          .split(', ')
          .map((c) => `@${c}`)
          .join(', ')}) WHERE seq = @seq`,
      );
      set.run({ ...b, seq: 9 });
      set.run({ ...a, seq: 10 });
    });
    const r = await verify();
    expect(r.exitCode).toBe(6);
    expect(r.json.firstBadSeq).toBe(9);
  });

  it('a forged appended event with a wrong hash: caught without a saved head', async () => {
    tamper((db) => {
      db.prepare(
        'INSERT INTO audit_events (seq, at, actor, action, target, outcome, prev_hash, hash) ' +
          "VALUES (?, ?, 'mallory@evil.example', 'app.set-scope', 'devtool', 'applied', ?, ?)",
      ).run(N + 1, new Date().toISOString(), seedEvents.at(-1)!.hash, 'f'.repeat(64));
    });
    expect(await verify()).toMatchObject({ exitCode: 6, json: { firstBadSeq: N + 1 } });
  });

  it(
    'a forged appended event with a correctly recomputed hash: NOT caught by verify, and not by ' +
      'an earlier saved head either (a saved head proves the prefix, not that nothing was added)',
    async () => {
      tamper((db) => {
        const fields = {
          seq: N + 1,
          at: new Date().toISOString(),
          actor: 'mallory@evil.example',
          action: 'app.set-scope',
          target: 'devtool',
          outcome: 'applied',
          code: null,
          before: '{"scope":"CurrentWorkspaceOnly","workspaces":[]}',
          after: '{"scope":"AllWorkspaces","workspaces":[]}',
          ticket: null,
          reason: null,
          batch: null,
          prevHash: seedEvents.at(-1)!.hash,
        };
        db.prepare(
          'INSERT INTO audit_events VALUES (@seq, @at, @actor, @action, @target, @outcome, ' +
            '@code, @before, @after, @ticket, @reason, @batch, @prevHash, @hash)',
        ).run({ ...fields, hash: hashEvent(fields) });
      });
      expect(await verify()).toMatchObject({ exitCode: 0, json: { ok: true, events: N + 1 } });
      expect((await verify(['--head', headNow()])).exitCode).toBe(0);
      expect((await verify(['--head', earlyHead])).exitCode).toBe(0);
    },
  );

  it(
    'history rewritten and fully re-sealed from an event on: NOT caught without a saved ' +
      'head; caught with --head',
    async () => {
      tamper((db) => {
        // The attacker knows the encoding: edit event 8, then recompute every hash after it.
        const rows = db.prepare('SELECT * FROM audit_events WHERE seq >= 8 ORDER BY seq').all() as {
          [k: string]: any;
        }[];
        let prev = db
          .prepare('SELECT hash FROM audit_events WHERE seq = 7')
          .pluck()
          .get() as string;
        const upd = db.prepare(
          'UPDATE audit_events SET outcome = ?, code = ?, prev_hash = ?, hash = ? WHERE seq = ?',
        );
        for (const r of rows) {
          const outcome = r.seq === 8 ? 'applied' : r.outcome;
          const code = r.seq === 8 ? null : r.code;
          const hash = hashEvent({
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            action: r.action,
            target: r.target,
            outcome,
            code,
            before: r.before,
            after: r.after,
            ticket: r.ticket,
            reason: r.reason,
            batch: r.batch,
            prevHash: prev,
          });
          upd.run(outcome, code, prev, hash, r.seq);
          prev = hash;
        }
      });
      expect(await verify()).toMatchObject({ exitCode: 0, json: { ok: true } });
      expect(await verify(['--head', headNow()])).toMatchObject({
        exitCode: 6,
        json: { ok: false, firstBadSeq: N },
      });
      // A head saved before the rewritten part still holds: it proves only the prefix.
      expect((await verify(['--head', earlyHead])).exitCode).toBe(0);
    },
  );

  it(
    'an older copy restored: NOT caught without a saved head; caught with a --head saved ' +
      'after more events',
    async () => {
      await copyDb(earlyBackup, t.db);
      expect(await verify()).toMatchObject({ exitCode: 0, json: { ok: true, events: 6 } });
      expect((await verify(['--head', earlyHead])).exitCode).toBe(0);
      const r = await verify(['--head', headNow()]);
      expect(r).toMatchObject({ exitCode: 6, json: { ok: false, firstBadSeq: N } });
      const text = await cli(t.db, ['audit', 'verify', '--head', headNow()]);
      expect(text.stdout).toContain('older copy');
    },
  );
});

describe('backup', () => {
  it('writes a 0600 copy that passes integrity_check and audit verify', async () => {
    const out = join(t.dir, 'copy.db');
    const r = await cliJson(t.db, ['backup', out]);
    expect(r.exitCode).toBe(0);
    expect(r.json).toMatchObject({ path: out });
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const db = new Database(out, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.prepare('SELECT count(*) FROM audit_events').pluck().get()).toBe(N);
    } finally {
      db.close();
    }
    expect(await cliJson(out, ['audit', 'verify'])).toMatchObject({
      exitCode: 0,
      json: { ok: true, events: N },
    });
    expect(await headOf(out)).toBe(await headOf(t.db));
  });

  it('refuses to overwrite without --force (exit 2), and replaces with --force', async () => {
    const out = join(t.dir, 'copy.db');
    expect((await cli(t.db, ['backup', out])).exitCode).toBe(0);
    await run(t.db, ['workspace', 'create', 'Initech', '--kind', 'organizational']);
    const again = await cli(t.db, ['backup', out]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain('--force');
    expect(await headOf(out)).toMatch(new RegExp(`^${N}:`));
    const forced = await cli(t.db, ['backup', out, '--force']);
    expect(forced.exitCode).toBe(0);
    expect(await headOf(out)).toBe(await headOf(t.db));
    expect(await headOf(out)).toMatch(new RegExp(`^${N + 1}:`));
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });
});
