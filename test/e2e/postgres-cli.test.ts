// The built binary on PostgreSQL, end to end: every kind of command with `--db postgres://...`
// naming a fresh schema in a database of this file's own (dropped when the file ends). The tests
// of the PostgreSQL block are one staff member's session, in order: each starts where the one
// before left off. A connection error needs no server, so it always runs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describePg, useTestDatabase } from '../store/pg-helpers.js';
import { ACTOR, cli, jsonError, tempDir, type CliResult } from '../helpers/cli.js';

type Json = any;

describePg('ddx-share on PostgreSQL, end to end', () => {
  const pg = useTestDatabase();
  let url: string;
  let schema: string;
  let tmp: ReturnType<typeof tempDir>;

  beforeAll(() => {
    url = pg.freshUrl();
    schema = new URL(url).searchParams.get('schema')!;
    tmp = tempDir('ddx-e2e-pg-');
  });
  afterAll(() => tmp?.cleanup());

  /** `ddx-share --db <url> <args>`, with DDX_SHARE_DB unset so that --db is what counts. */
  const run = (args: readonly string[], input?: string): Promise<CliResult> =>
    cli(url, ['--db', url, ...args], {
      env: { DDX_SHARE_DB: undefined, XDG_DATA_HOME: join(tmp.dir, 'xdg') },
      ...(input === undefined ? {} : { input }),
    });
  /** Runs with --json; the exit code must be `exit`. Returns stdout parsed. */
  const json = async (args: readonly string[], exit = 0): Promise<Json> => {
    const r = await run([...args, '--json']);
    expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(exit);
    return exit === 0 ? JSON.parse(r.stdout) : jsonError(r.stderr);
  };
  const file = (name: string, text: string): string => {
    writeFileSync(join(tmp.dir, name), text);
    return join(tmp.dir, name);
  };

  it('creates workspaces and apps in a schema it migrates on first use', async () => {
    const acme = await json(['workspace', 'create', 'Acme', '--kind', 'organizational']);
    expect(acme).toMatchObject({ id: 'acme', kind: 'organizational', parentId: null });
    for (const [name, parent] of [
      ['Acme EU', 'acme'],
      ['Acme US', 'acme'],
      ['Acme Paris', 'acme-eu'],
      ['Globex', null],
    ] as const) {
      const args = ['workspace', 'create', name, '--kind', 'org'];
      await json(parent === null ? args : [...args, '--parent', parent]);
    }
    const pat = await run(['workspace', 'create', 'Pat', '--kind', 'personal']);
    expect([pat.exitCode, pat.stdout]).toEqual([0, 'Created personal workspace pat (Pat).\n']);
    expect(pat.stderr).toBe('');

    const billing = await json([
      'app',
      'create',
      'Billing',
      '--workspace',
      'acme',
      '--env',
      'prod',
    ]);
    expect(billing).toMatchObject({
      id: 'billing',
      workspaceId: 'acme',
      environment: 'production',
      scope: 'CurrentWorkspaceOnly',
      workspaces: [],
    });
    await json(['app', 'create', 'Ledger', '--workspace', 'acme', '--env', 'development']);
    await json(['app', 'create', 'CRM', '--workspace', 'globex', '--env', 'production']);
    const ids = (await json(['workspace', 'list'])).map((w: Json) => w.id).sort();
    expect(ids).toEqual(['acme', 'acme-eu', 'acme-paris', 'acme-us', 'globex', 'pat']);
    const status = await json(['migrate', 'status']);
    expect(status.current).toBeGreaterThan(0);
    expect(status.migrations.every((m: Json) => m.state === 'applied')).toBe(true);
  });

  it('set-scope walks an app through every scope, with who gains and who loses', async () => {
    const steps: [string[], string[], string[]][] = [
      [['children'], ['acme-eu', 'acme-paris', 'acme-us'], []],
      [['all', '--ticket', 'SUP-1', '--reason', 'go wide'], ['globex', 'pat'], []],
      [['custom', '--workspaces', 'acme-us,globex'], [], ['acme-eu', 'acme-paris', 'pat']],
      [['--add', 'pat', '--remove', 'globex'], ['pat'], ['globex']],
      [['current'], [], ['acme-us', 'pat']],
      [['AllChildWorkspaces'], ['acme-eu', 'acme-paris', 'acme-us'], []],
    ];
    for (const [args, gained, lost] of steps) {
      const r = await json(['set-scope', 'billing', ...args]);
      expect({ args, gained: r.gained, lost: r.lost }).toEqual({ args, gained, lost });
      expect(r.changed).toBe(true);
    }
    const shown = await json(['app', 'show', 'billing']);
    expect(shown).toMatchObject({ scope: 'AllChildWorkspaces', workspaces: [], installs: [] });
    const text = await run(['set-scope', 'crm', 'custom', '--workspaces', 'acme-us']);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toContain('CustomWorkspaceAccess');
  });

  it('refuses to share a development app (exit 3) and records the denial', async () => {
    const before = await json(['audit', 'head']);
    const e = await json(['set-scope', 'ledger', 'all', '--ticket', 'SUP-9'], 3);
    expect(e).toMatchObject({ code: 'DEVELOPMENT_APP_NOT_SHAREABLE', rule: 'R4' });
    const text = await run(['set-scope', 'ledger', 'children']);
    expect(text.exitCode).toBe(3);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(/^ddx-share: ledger is a development app/);
    const denied = await json(['audit', 'log', '--app', 'ledger', '--outcome', 'denied']);
    expect(denied.map((x: Json) => [x.seq, x.action, x.code, x.ticket])).toEqual([
      [before.seq + 1, 'app.set-scope', 'DEVELOPMENT_APP_NOT_SHAREABLE', 'SUP-9'],
      [before.seq + 2, 'app.set-scope', 'DEVELOPMENT_APP_NOT_SHAREABLE', null],
    ]);
    expect(denied[0]).toMatchObject({ actor: ACTOR, outcome: 'denied', target: 'ledger' });
    expect((await json(['app', 'show', 'ledger'])).scope).toBe('CurrentWorkspaceOnly');
  });

  it('install and uninstall, list --visible-to, explain and audience', async () => {
    expect(await json(['install', 'billing', '--workspace', 'acme-paris'])).toEqual({
      app: 'billing',
      workspace: 'acme-paris',
      installed: true,
    });
    await json(['install', 'billing', '--workspace', 'acme-us']);
    const again = await json(['install', 'billing', '--workspace', 'acme-us'], 3);
    expect(again.code).toBe('ALREADY_INSTALLED');
    const outside = await json(['install', 'billing', '--workspace', 'globex'], 3);
    expect(outside.code).toBe('NOT_INSTALLABLE');
    expect(await json(['uninstall', 'billing', '--workspace', 'acme-us'])).toEqual({
      app: 'billing',
      workspace: 'acme-us',
      installed: false,
    });

    const paris = await json(['list', '--visible-to', 'acme-paris']);
    expect(paris.map((a: Json) => [a.id, a.visible, a.installable, a.installed])).toEqual([
      ['billing', true, false, true],
    ]);
    const us = await json(['list', '--visible-to', 'acme-us']);
    expect(us.map((a: Json) => [a.id, a.installable])).toEqual([
      ['billing', true],
      ['crm', true],
    ]);
    expect(await json(['list', '--visible-to', 'pat'])).toEqual([]);

    const x = await json(['explain', 'billing', '--workspace', 'acme-us']);
    expect(x).toMatchObject({ visible: true, installable: true, adminApi: true });
    expect(x.reasons.map((r: Json) => r.code)).toEqual([
      'SCOPE_CHILD_WORKSPACE',
      'INSTALLABLE',
      'ADMIN_API_RETURNED',
    ]);
    const no = await json(['explain', 'billing', '--workspace', 'globex']);
    expect(no).toMatchObject({ visible: false, installable: false, adminApi: false });

    const audience = await json(['audience', 'billing']);
    expect(audience).toMatchObject({ app: 'billing', complete: true, futureDescendants: true });
    expect(audience.workspaces.map((w: Json) => [w.id, w.installed])).toEqual([
      ['acme', false],
      ['acme-eu', false],
      ['acme-paris', true],
      ['acme-us', false],
    ]);
  });

  it('bulk set-scope from a CSV file, all in one batch', async () => {
    const head = await json(['audit', 'head']);
    const csv = file(
      'scopes.csv',
      'app,scope,workspaces,ticket\ncrm,all,,T-1\nbilling,custom,acme-paris;globex,T-2\n',
    );
    const r = await json(['set-scope', '--file', csv]);
    expect(r).toMatchObject({ applied: 2, unchanged: 0, denied: [], invalid: [] });
    const evs = await json(['audit', 'log', '--since', '2000-01-01T00:00:00.000Z']);
    const mine = evs.filter((e: Json) => e.seq > head.seq);
    expect(mine.map((e: Json) => [e.target, e.ticket, e.batch])).toEqual([
      ['crm', 'T-1', r.batch],
      ['billing', 'T-2', r.batch],
    ]);
    const billing = await json(['app', 'show', 'billing']);
    expect(billing).toMatchObject({
      scope: 'CustomWorkspaceAccess',
      workspaces: ['acme-paris', 'globex'],
      installs: ['acme-paris'],
    });
    const bad = file('bad.csv', 'app,scope\nledger,all\nnope,all\n');
    const refused = await run(['set-scope', '--file', bad, '--json']);
    expect(refused.exitCode).toBe(3);
    expect(JSON.parse(refused.stdout)).toMatchObject({ applied: 0 });
  });

  it('a saved plan, applied later by apply-plan, exactly once', async () => {
    const csv = file('plan.csv', 'app,scope,ticket\ncrm,children,T-3\nbilling,current,T-4\n');
    const plan = join(tmp.dir, 'approvals.plan.json');
    const head = await json(['audit', 'head']);
    // billing is installed by acme-paris: going back to current without revoking is refused.
    const refused = await run(['set-scope', '--file', csv, '--dry-run', '--save-plan', plan]);
    expect(refused.exitCode).toBe(3);
    const ok = file(
      'plan2.csv',
      'app,scope,ticket,revokeInstalls\ncrm,children,T-3,\nbilling,current,T-4,yes\n',
    );
    const d = await json(['set-scope', '--file', ok, '--dry-run', '--save-plan', plan]);
    expect(d).toMatchObject({ applied: 2, dryRun: true, planSaved: true });
    expect((await json(['audit', 'head'])).seq).toBe(head.seq);

    const a = await json(['apply-plan', plan]);
    expect(a).toMatchObject({ applied: 2, denied: [], invalid: [], dryRun: false });
    const evs = (await json(['audit', 'log'])).filter((e: Json) => e.seq > head.seq);
    expect(evs.map((e: Json) => [e.action, e.target, e.ticket, e.batch === a.batch])).toEqual([
      ['app.set-scope', 'crm', 'T-3', true],
      ['app.set-scope', 'billing', 'T-4', true],
      ['app.uninstall', 'billing', 'T-4', true],
    ]);
    expect(await json(['app', 'show', 'billing'])).toMatchObject({
      scope: 'CurrentWorkspaceOnly',
      installs: [],
    });
    expect((await json(['apply-plan', plan], 3)).code).toBe('PLAN_STALE');
  });

  it('audit log, head, verify and check', async () => {
    const all = await json(['audit', 'log']);
    expect(all.length).toBeGreaterThan(20);
    expect(all.map((e: Json) => e.seq)).toEqual(all.map((_: Json, i: number) => i + 1));
    const head = await json(['audit', 'head']);
    expect(head).toEqual({ seq: all.at(-1).seq, hash: all.at(-1).hash });
    expect(await json(['audit', 'verify'])).toEqual({
      ok: true,
      events: all.length,
      firstBadSeq: null,
    });
    const withHead = await run(['audit', 'verify', '--head', `${head.seq}:${head.hash}`]);
    expect(withHead.exitCode, withHead.stderr).toBe(0);
    const wrong = await run(['audit', 'verify', '--head', `${head.seq}:${'0'.repeat(64)}`]);
    expect(wrong.exitCode).not.toBe(0);
    expect(await json(['audit', 'check'])).toEqual({ ok: true, violations: [] });
    const text = await run(['audit', 'head']);
    expect(text.stdout.trim()).toBe(`${head.seq}:${head.hash}`);
  });

  it('backup is refused (exit 2) with the pg_dump command to run instead', async () => {
    const out = join(tmp.dir, 'b.dump');
    const e = await json(['backup', out], 2);
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain('pg_dump');
    expect(e.message).toContain(`--schema=${schema}`);
    expect(e.message).toContain(out);
    const text = await run(['backup', out]);
    expect(text.exitCode).toBe(2);
    expect(text.stderr).toContain('pg_dump --format=custom');
  });

  it('migrate status and migrate on an up-to-date schema', async () => {
    const s = await json(['migrate', 'status']);
    expect(s.migrations.length).toBeGreaterThan(0);
    expect(s.current).toBe(s.migrations.at(-1).version);
    expect(s.migrations.map((m: Json) => m.state)).toEqual(s.migrations.map(() => 'applied'));
    const m = await run(['migrate', '--json']);
    expect(m.exitCode, m.stderr).toBe(0);
    expect(JSON.parse(m.stdout)).toMatchObject({ current: s.current });
  });
});

describe('ddx-share on an unreachable PostgreSQL', () => {
  const tmp = tempDir('ddx-e2e-pg-down-');
  afterAll(() => tmp.cleanup());
  const URL_ = 'postgres://postgres:sekrit@127.0.0.1:1/x';
  const run = (args: readonly string[]) =>
    cli(tmp.db, ['--db', URL_, ...args], {
      env: { DDX_SHARE_DB: undefined, XDG_DATA_HOME: join(tmp.dir, 'xdg') },
    });

  it('exits 5 naming host and database, never the password', async () => {
    for (const args of [['list'], ['set-scope', 'billing', 'all'], ['audit', 'verify']]) {
      const r = await run(args);
      expect(r.exitCode, args.join(' ')).toBe(5);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(
        /^ddx-share: Cannot use the PostgreSQL database x at 127\.0\.0\.1:1/,
      );
      expect(r.stderr).not.toContain('sekrit');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      const j = await run([...args, '--json']);
      expect(j.exitCode).toBe(5);
      expect(j.stderr).not.toContain('sekrit');
      const e = jsonError(j.stderr);
      expect(e.code).toBe('DB_UNAVAILABLE');
      expect(e.message).toContain('database x at 127.0.0.1:1');
    }
  });
});
