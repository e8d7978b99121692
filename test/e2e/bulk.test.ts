import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, cliJson, tempDir } from '../helpers/cli.js';

// Bulk files through the built binary: every format, stdin, all-or-nothing batches with every
// bad record reported, and plans that a second person reviews before they are applied.

let t: ReturnType<typeof tempDir>;
const file = (name: string, text: string): string => {
  const path = join(t.dir, name);
  writeFileSync(path, text);
  return path;
};
const head = async (): Promise<string> => (await cli(t.db, ['audit', 'head'])).stdout;

beforeEach(async () => {
  t = tempDir('ddx-e2e-bulk-');
  const ws = file(
    'ws.csv',
    'name,kind,parent,id\nAcme,organizational,,acme\n' +
      'Acme EU,org,acme,acme-eu\nGlobex,org,,globex\n',
  );
  expect((await cli(t.db, ['workspace', 'create', '--file', ws])).exitCode).toBe(0);
});
afterEach(() => t.cleanup());

describe('creating from files', () => {
  it('NDJSON and JSON arrays; a record may use a workspace made earlier in the file', async () => {
    const nd = file(
      'more.ndjson',
      '{"name":"Paris","kind":"org","parent":"acme-eu","id":"paris"}\n' +
        '{"name":"Lyon","kind":"org","parent":"paris","id":"lyon"}\n',
    );
    const r = await cliJson(t.db, ['workspace', 'create', '--file', nd]);
    expect(r.exitCode).toBe(0);
    expect(r.json).toMatchObject({ applied: 2, unchanged: 0, denied: [], invalid: [] });
    const apps = file(
      'apps.json',
      JSON.stringify([
        { name: 'Billing', workspace: 'lyon', env: 'production', id: 'billing' },
        { name: 'Notes', workspace: 'acme', env: 'development' },
      ]),
    );
    const a = await cliJson(t.db, ['app', 'create', '--file', apps]);
    expect(a.json.applied).toBe(2);
    expect((await cliJson(t.db, ['app', 'show', 'notes'])).json.environment).toBe('development');
  });

  it('reads stdin when --format says what it is, and refuses stdin without it', async () => {
    const input = 'app,scope\n';
    const missing = await cli(t.db, ['set-scope', '--file', '-'], { input });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('--format');
    const nd = '{"name":"Initech","kind":"personal","id":"initech"}\n';
    const r = await cliJson(t.db, ['workspace', 'create', '--file', '-', '--format', 'ndjson'], {
      input: nd,
    });
    expect(r.exitCode).toBe(0);
    expect(r.json.applied).toBe(1);
  });
});

describe('approvals: set-scope --file', () => {
  beforeEach(async () => {
    const apps = file(
      'apps.csv',
      'name,workspace,env,id\nBilling,acme,production,billing\nCRM,acme,production,crm\n' +
        'Ledger,acme,development,ledger\n',
    );
    expect((await cli(t.db, ['app', 'create', '--file', apps])).exitCode).toBe(0);
  });

  it('applies a clean batch in one go, custom lists separated by ; or spaces', async () => {
    const csv = file(
      'ok.csv',
      'app,scope,workspaces,ticket\nbilling,children,,SUP-1\ncrm,custom,globex;acme-eu,SUP-2\n',
    );
    const r = await cliJson(t.db, ['set-scope', '--file', csv]);
    expect(r.exitCode).toBe(0);
    expect(r.json).toMatchObject({ applied: 2, denied: [], invalid: [], dryRun: false });
    const crm = (await cliJson(t.db, ['app', 'show', 'crm'])).json;
    expect(crm.workspaces).toEqual(['acme-eu', 'globex']);
    const log = (await cliJson(t.db, ['audit', 'log', '--action', 'app.set-scope'])).json;
    expect(new Set(log.map((e: { batch: string }) => e.batch)).size).toBe(1);
  });

  it('applies nothing when one record is bad, and reports every bad record', async () => {
    const before = (await cliJson(t.db, ['list'])).json;
    const csv = file(
      'mixed.csv',
      'app,scope,workspaces\nbilling,all,\nledger,all,\nnope,all,\ncrm,sideways,\ncrm,custom,\n',
    );
    const r = await cliJson(t.db, ['set-scope', '--file', csv]);
    expect(r.exitCode).toBe(2); // malformed and denied together: the malformed decide
    expect(r.json.applied).toBe(0);
    const bad = [...r.json.denied, ...r.json.invalid].map((b: { line: number; code: string }) => [
      b.line,
      b.code,
    ]);
    expect(bad.sort()).toEqual(
      [
        [3, 'DEVELOPMENT_APP_NOT_SHAREABLE'],
        [4, 'UNKNOWN_APP'],
        [5, 'INVALID_INPUT'],
        [6, 'INVALID_INPUT'],
      ].sort(),
    );
    expect((await cliJson(t.db, ['list'])).json).toEqual(before);
    const denied = (await cliJson(t.db, ['audit', 'log', '--outcome', 'denied'])).json;
    expect(denied.map((e: { target: string }) => e.target).sort()).toEqual(['ledger', 'nope']);
  });

  it('a dry run writes nothing; a saved plan applies exactly once, as reviewed', async () => {
    const csv = file('plan.csv', 'app,scope\nbilling,all\ncrm,children\n');
    const planPath = join(t.dir, 'review.plan.json');
    const before = await head();
    const dry = await cliJson(t.db, [
      'set-scope',
      '--file',
      csv,
      '--dry-run',
      '--save-plan',
      planPath,
    ]);
    expect(dry.exitCode).toBe(0);
    expect(dry.json).toMatchObject({ applied: 2, dryRun: true }); // what would be applied
    expect(await head()).toBe(before);
    const applied = await cliJson(t.db, ['apply-plan', planPath]);
    expect(applied.exitCode).toBe(0);
    expect(applied.json.applied).toBe(2);
    expect((await cliJson(t.db, ['app', 'show', 'billing'])).json.scope).toBe('AllWorkspaces');
    // The apps have moved on since the plan was made: applying it again is refused whole.
    const again = await cli(t.db, ['apply-plan', planPath, '--json']);
    expect(again.exitCode).toBe(3);
    expect(again.stderr + again.stdout).toContain('PLAN_STALE');
  });

  it('refuses a plan edited after it was saved', async () => {
    const csv = file('plan.csv', 'app,scope\nbilling,all\n');
    const planPath = join(t.dir, 'review.plan.json');
    await cli(t.db, ['set-scope', '--file', csv, '--dry-run', '--save-plan', planPath]);
    writeFileSync(
      planPath,
      readFileSync(planPath, 'utf8').replace('AllWorkspaces', 'AllChildWorkspaces'),
    );
    const r = await cli(t.db, ['apply-plan', planPath, '--json']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr + r.stdout).toContain('PLAN_INVALID');
    expect((await cliJson(t.db, ['app', 'show', 'billing'])).json.scope).toBe(
      'CurrentWorkspaceOnly',
    );
  });
});
