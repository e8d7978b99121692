// Hostile input through every command and every file format, on the built binary: quotes and
// SQL fragments, NUL bytes, terminal escapes, bidi overrides, 1 MB strings, __proto__ keys,
// invalid UTF-8, ids of every wrong shape and numbers where strings belong. Each case must get
// its documented exit code (0 stored, 2 invalid, 3 refused, 4 not found), keep stdout one JSON
// document under --json, print no ESC, BEL, C1 or bidi control to a terminal, and store nothing
// it should not: the database is read back with --json at the end and must pass `audit check`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliJson, jsonError, tempDir, type CliResult } from '../helpers/cli.js';

const ESC = '\u001b';
const BEL = '\u0007';
const RLO = '\u202e';
const MB = 'x'.repeat(1024 * 1024);

/** What must never reach a terminal: C0 (but tab and newline), DEL, C1, bidi, line separators. */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

let tmp: ReturnType<typeof tempDir>;
let db: string;
let files: string;
let cases = 0;

/** Workspaces and apps that must exist at the end, by id, with their stored names. */
const workspaces = new Map<string, string>();
const apps = new Map<string, string>();

function visible(s: string): string {
  return s.replace(UNSAFE, (c) => `<U+${c.codePointAt(0)!.toString(16)}>`).slice(0, 2000);
}

function expectSafe(text: string, what: string): void {
  const m = UNSAFE.exec(text);
  expect(
    m,
    `${what} printed U+${m?.[0].codePointAt(0)!.toString(16)}: ${visible(text)}`,
  ).toBeNull();
}

function expectNoStack(r: CliResult, what: string): void {
  expect(r.stderr, what).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(r.stderr, what).not.toMatch(/unexpected error|This is a bug/);
}

interface Case {
  title: string;
  args: string[];
  exit: number;
  input?: string;
  /** Runs that change the database run once, with --json; the rest in both modes. */
  changes?: boolean;
}

async function runCase(c: Case, json: boolean): Promise<CliResult> {
  const args = json ? [...c.args, '--json'] : c.args;
  const r = await cli(db, args, c.input === undefined ? {} : { input: c.input });
  const what = `${c.title}${json ? ' (--json)' : ''}`;
  expect(r.exitCode, `${what}: ${visible(r.stderr)}`).toBe(c.exit);
  expectNoStack(r, what);
  if (json) {
    // Success, and an integrity finding (exit 6), print their document on stdout.
    if (r.exitCode === 0 || r.exitCode === 6) {
      expect(() => JSON.parse(r.stdout), what).not.toThrow();
    } else {
      expect(r.stdout, `${what}: stdout on failure`).toBe('');
      expect(jsonError(r.stderr).code, what).toMatch(/^[A-Z_]+$/);
      expect(r.stderr.trimEnd().split('\n'), what).toHaveLength(1);
    }
  } else {
    expectSafe(r.stdout, `${what} stdout`);
    expectSafe(r.stderr, `${what} stderr`);
  }
  cases++;
  return r;
}

/**
 * Two at a time: the machine has two cores and other test files run beside this one. A change
 * runs once with --json; every other case once, in --json and human mode by turns, so both modes
 * see every kind of input.
 */
async function runAll(list: Case[]): Promise<void> {
  const jobs = list.map((c, i) => () => runCase(c, c.changes === true || i % 2 === 0));
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < jobs.length) await jobs[next++]!();
    }),
  );
}

function file(name: string, body: string | Buffer): string {
  const path = join(files, name);
  writeFileSync(path, body);
  return path;
}

const ndjson = (records: unknown[]): string => records.map((r) => JSON.stringify(r)).join('\n');

beforeAll(async () => {
  tmp = tempDir('ddx-hostile-');
  db = tmp.db;
  files = join(tmp.dir, 'files');
  mkdirSync(files);
  const ok = async (args: string[]) => {
    const r = await cliJson(db, args);
    expect(r.exitCode, r.stderr).toBe(0);
  };
  await ok(['migrate']);
  await ok(['workspace', 'create', 'Acme', '--kind', 'org', '--id', 'acme']);
  await ok([
    'workspace',
    'create',
    'Acme EU',
    '--kind',
    'org',
    '--parent',
    'acme',
    '--id',
    'acme-eu',
  ]);
  await ok(['workspace', 'create', 'Solo', '--kind', 'personal', '--id', 'solo']);
  await ok([
    'app',
    'create',
    'Prod',
    '--workspace',
    'acme',
    '--env',
    'production',
    '--id',
    'prod1',
  ]);
  await ok(['app', 'create', 'Dev', '--workspace', 'acme', '--env', 'development', '--id', 'dev1']);
  for (const [id, name] of [
    ['acme', 'Acme'],
    ['acme-eu', 'Acme EU'],
    ['solo', 'Solo'],
  ]) {
    workspaces.set(id!, name!);
  }
  apps.set('prod1', 'Prod');
  apps.set('dev1', 'Dev');
});
afterAll(() => tmp?.cleanup());

// Names that are valid and must be stored exactly (after trimming), and shown escaped.
const GOOD_NAMES = [
  "Robert'); DROP TABLE workspaces;--",
  "'); DROP TABLE apps;--",
  '"quoted" and \'single\' and `back`',
  `${RLO}evil.exe`,
  '\u2066isolated\u2069 text',
  'zero\u200bwidth',
  '\u009b31m C1 CSI',
  'next\u0085line',
  'line\u2028separator',
  '__proto__',
  'constructor',
  '🚀 rocket Ωμέγα',
  '%s%n%x${process.env.HOME}',
  '<script>alert(1)</script>',
  '=HYPERLINK("http://x")',
  'x'.repeat(200),
  '  padded  ',
];

// Names that are invalid: control characters, blank, too long.
const BAD_NAMES = [
  `red${ESC}[31m`,
  `title${ESC}]0;pwned${BEL}`,
  `bell${BEL}`,
  'del\u007f',
  'line\nbreak',
  'cr\rreturn',
  'tab\tname',
  '',
  '   ',
  'x'.repeat(201),
];

// Ids of every wrong shape; none reaches the database.
const BAD_IDS = [
  'UPPER',
  '-lead',
  '_lead',
  'a'.repeat(65),
  'has space',
  'ünï',
  '../etc',
  'a/b',
  "x';--",
  "'); DROP TABLE apps;--",
  'a.b',
  `id${ESC}[2J`,
  `${RLO}abc`,
  '__proto__',
  'toString',
];

describe('single commands with hostile arguments', () => {
  it('workspace and app creation', async () => {
    const list: Case[] = [];
    GOOD_NAMES.forEach((name, i) => {
      list.push({
        title: `workspace create good name ${i}`,
        args: ['workspace', 'create', name, '--kind', 'org', '--parent', 'acme', '--id', `gw${i}`],
        exit: 0,
        changes: true,
      });
      workspaces.set(`gw${i}`, name.trim());
    });
    // Apps with these names come by file below; a few by argument too.
    for (const i of [0, 3, 6, 7, 8]) {
      const name = GOOD_NAMES[i]!;
      list.push({
        title: `app create good name ${i}`,
        args: ['app', 'create', name, '--workspace', 'acme', '--env', 'prod', '--id', `ga${i}`],
        exit: 0,
        changes: true,
      });
      apps.set(`ga${i}`, name.trim());
    }
    BAD_NAMES.forEach((name, i) => {
      list.push(
        i % 3 === 0
          ? {
              title: `app create bad name ${i}`,
              args: [
                'app',
                'create',
                name,
                '--workspace',
                'acme',
                '--env',
                'dev',
                '--id',
                `ba${i}`,
              ],
              exit: 2,
            }
          : {
              title: `workspace create bad name ${i}`,
              args: ['workspace', 'create', name, '--kind', 'org', '--id', `bw${i}`],
              exit: 2,
            },
      );
    });
    // Every bad id once, each through a different command that takes one.
    const takers: ((id: string, i: number) => string[])[] = [
      (id) => ['workspace', 'create', 'Fine', '--kind', 'org', `--id=${id}`],
      (id, i) => ['app', 'create', 'Fine', `--workspace=${id}`, '--env', 'dev', '--id', `bi${i}`],
      (id) => ['app', 'show', id],
      (id) => ['workspace', 'show', id],
      (id) => ['set-scope', id, 'all'],
      (id) => ['install', 'prod1', `--workspace=${id}`],
      (id) => ['list', `--visible-to=${id}`],
      (id) => ['audience', id],
      (id) => ['explain', id, '--workspace', 'acme'],
      (id) => ['uninstall', 'prod1', `--workspace=${id}`],
    ];
    BAD_IDS.forEach((id, i) => {
      list.push({ title: `bad id ${i}`, args: takers[i % takers.length]!(id, i), exit: 2 });
    });
    list.push(
      { title: 'kind typo', args: ['workspace', 'create', 'K', '--kind', 'team'], exit: 2 },
      { title: 'kind escape', args: ['workspace', 'create', 'K', '--kind', `org${ESC}`], exit: 2 },
      {
        title: 'parent unknown',
        args: ['workspace', 'create', 'K', '--kind', 'org', '--parent', 'nope', '--id', 'k1'],
        exit: 4,
      },
      {
        title: 'parent bad shape',
        args: ['workspace', 'create', 'K', '--kind', 'org', '--parent', 'No Pe', '--id', 'k2'],
        exit: 2,
      },
      {
        title: 'duplicate workspace id',
        args: ['workspace', 'create', 'Again', '--kind', 'org', '--id', 'acme'],
        exit: 3,
      },
      {
        title: 'env unknown',
        args: ['app', 'create', 'E', '--workspace', 'acme', '--env', 'qa'],
        exit: 2,
      },
      {
        title: 'env escape',
        args: ['app', 'create', 'E', '--workspace', 'acme', '--env', `prod${ESC}[0m`],
        exit: 2,
      },
      {
        title: 'production in a personal workspace',
        args: ['app', 'create', 'P', '--workspace', 'solo', '--env', 'prod', '--id', 'pp1'],
        exit: 3,
      },
      {
        title: 'app in unknown workspace',
        args: ['app', 'create', 'P', '--workspace', 'nope', '--env', 'dev', '--id', 'pp2'],
        exit: 4,
      },
      {
        title: 'duplicate app id',
        args: ['app', 'create', 'P', '--workspace', 'acme', '--env', 'dev', '--id', 'prod1'],
        exit: 3,
      },
    );
    await runAll(list);
  });

  it('reads, scope changes, installs, filters and the audit commands', async () => {
    const list: Case[] = [];
    const scopes = [
      'everyone',
      `all${ESC}[0m`,
      "'; DROP TABLE apps;--",
      '__proto__',
      'constructor',
      '',
    ];
    for (const [i, scope] of scopes.entries()) {
      list.push(
        i % 2 === 0
          ? { title: `set-scope bad scope ${i}`, args: ['set-scope', 'prod1', scope], exit: 2 }
          : { title: `list --scope bad ${i}`, args: ['list', `--scope=${scope}`], exit: 2 },
      );
    }
    for (const [i, format] of ['xml', `json${ESC}`, '__proto__', ''].entries()) {
      const cmd = i % 2 === 0 ? ['list'] : ['audit', 'log'];
      list.push({ title: `--format bad ${i}`, args: [...cmd, `--format=${format}`], exit: 2 });
    }
    list.push(
      { title: 'app show unknown', args: ['app', 'show', 'nope'], exit: 4 },
      { title: 'workspace show unknown', args: ['workspace', 'show', 'nope'], exit: 4 },
      { title: 'audience unknown', args: ['audience', 'nope'], exit: 4 },
      {
        title: 'explain unknown workspace',
        args: ['explain', 'prod1', '--workspace', 'nope'],
        exit: 4,
      },
      { title: 'explain bad workspace', args: ['explain', 'prod1', '--workspace', 'N O'], exit: 2 },
      { title: 'list --visible-to unknown', args: ['list', '--visible-to', 'nope'], exit: 4 },
      { title: 'list --env bad', args: ['list', '--env', `prod${BEL}`], exit: 2 },
      { title: 'list --workspace bad', args: ['list', '--workspace', 'A B'], exit: 2 },
      { title: 'dev app shared', args: ['set-scope', 'dev1', 'all'], exit: 3 },
      { title: 'custom without list', args: ['set-scope', 'prod1', 'custom'], exit: 2 },
      {
        title: 'custom list with a bad id',
        args: ['set-scope', 'prod1', 'custom', '--workspaces', "acme-eu,x';--"],
        exit: 2,
      },
      {
        title: 'custom list with an unknown id',
        args: ['set-scope', 'prod1', 'custom', '--workspaces', 'acme-eu,nope'],
        exit: 4,
      },
      {
        title: 'custom list naming the owner',
        args: ['set-scope', 'prod1', 'custom', '--workspaces', 'acme'],
        exit: 3,
      },
      {
        title: 'ticket with an escape',
        args: ['set-scope', 'prod1', 'all', '--ticket', `T-1${ESC}[2J`],
        exit: 2,
      },
      {
        title: 'reason too long',
        args: ['set-scope', 'prod1', 'all', '--reason', 'r'.repeat(2001)],
        exit: 2,
      },
      {
        title: 'reason with BEL',
        args: ['set-scope', 'prod1', 'all', '--reason', `why${BEL}`],
        exit: 2,
      },
      {
        title: '--save-plan without --file',
        args: ['set-scope', 'prod1', 'all', '--save-plan', 'p.json'],
        exit: 2,
      },
      {
        title: 'env change refused',
        args: ['app', 'update', 'prod1', '--env', 'development'],
        exit: 3,
      },
      {
        title: 'rename to an escape',
        args: ['app', 'update', 'prod1', '--name', `n${ESC}[1m`],
        exit: 2,
      },
      { title: 'install by the owner', args: ['install', 'prod1', '--workspace', 'acme'], exit: 3 },
      {
        title: 'install of an unknown app',
        args: ['install', 'nope', '--workspace', 'acme-eu'],
        exit: 4,
      },
      {
        title: 'install not covered',
        args: ['install', 'prod1', '--workspace', 'acme-eu'],
        exit: 3,
      },
      {
        title: 'uninstall never installed',
        args: ['uninstall', 'prod1', '--workspace', 'acme-eu'],
        exit: 3,
      },
      { title: 'audit log --since words', args: ['audit', 'log', '--since', 'yesterday'], exit: 2 },
      {
        title: 'audit log --since bidi',
        args: ['audit', 'log', '--since', `${RLO}2026`],
        exit: 2,
      },
      { title: 'audit log --limit 0', args: ['audit', 'log', '--limit', '0'], exit: 2 },
      { title: 'audit log --limit -1', args: ['audit', 'log', '--limit=-1'], exit: 2 },
      { title: 'audit log --limit 1.5', args: ['audit', 'log', '--limit', '1.5'], exit: 2 },
      { title: 'audit log --limit words', args: ['audit', 'log', '--limit', 'ten'], exit: 2 },
      {
        title: 'audit log --action bad',
        args: ['audit', 'log', '--action', 'app.delete'],
        exit: 2,
      },
      { title: 'audit log --outcome bad', args: ['audit', 'log', '--outcome', `x${RLO}`], exit: 2 },
      { title: 'audit log --app bad', args: ['audit', 'log', '--app', "'; --"], exit: 2 },
      {
        title: 'audit verify --head garbage',
        args: ['audit', 'verify', '--head', '1:xyz'],
        exit: 2,
      },
      {
        title: 'audit verify --head escape',
        args: ['audit', 'verify', '--head', `${ESC}[2J`],
        exit: 2,
      },
      {
        title: 'audit verify --head past the end',
        args: ['audit', 'verify', '--head', `999999:${'0'.repeat(64)}`],
        exit: 6,
      },
      { title: 'unknown command with an escape', args: [`${ESC}[2J`], exit: 2 },
      { title: 'unknown option with a bidi override', args: ['list', `--${RLO}x`], exit: 2 },
      { title: 'unknown subcommand with quotes', args: ['app', "'); DROP TABLE apps;--"], exit: 2 },
      {
        title: 'apply-plan of a missing file',
        args: ['apply-plan', join(files, 'none.json')],
        exit: 2,
      },
      {
        title: 'backup into a folder that does not exist',
        args: ['backup', join(files, 'no-such-folder', 'b.db')],
        exit: 2,
      },
    );
    await runAll(list);
  });

  it('valid changes with hostile tickets and reasons are stored', async () => {
    const list: Case[] = [
      {
        title: 'scope with an SQL ticket',
        args: ['set-scope', 'ga0', 'all', '--ticket', "T'); DROP TABLE audit_events;--"],
        exit: 0,
        changes: true,
      },
      {
        title: 'scope with a bidi reason',
        args: ['set-scope', 'ga6', 'children', '--reason', `because ${RLO}reversed`],
        exit: 0,
        changes: true,
      },
      {
        title: 'custom list in odd separators',
        args: ['set-scope', 'ga7', 'custom', '--workspaces', ' acme-eu ;gw0,, gw1 '],
        exit: 0,
        changes: true,
      },
      {
        title: 'rename to an SQL fragment',
        args: ['app', 'update', 'ga3', '--name', "x'); DELETE FROM apps;--"],
        exit: 0,
        changes: true,
      },
      {
        title: 'install under children',
        args: ['install', 'ga6', '--workspace', 'gw3'],
        exit: 0,
        changes: true,
      },
    ];
    apps.set('ga3', "x'); DELETE FROM apps;--");
    for (const c of list) await runCase(c, true);
    const show = await cliJson(db, ['app', 'show', 'ga7']);
    expect(show.json.workspaces).toEqual(['acme-eu', 'gw0', 'gw1']);
    const log = await cliJson(db, ['audit', 'log', '--app', 'ga0']);
    expect(log.json.at(-1).ticket).toBe("T'); DROP TABLE audit_events;--");
  });
});

interface Bulk {
  title: string;
  command: string[];
  path: string;
  exit: number;
  /** Positions (line, or index for JSON) of the records that must be reported, with codes. */
  bad?: Record<number, string>;
}

/** Runs a file with --json and checks its report; then (unless `mode` says) in human mode. */
async function runBulk(b: Bulk, mode: 'both' | 'json' | 'human' = 'both'): Promise<void> {
  const args = [...b.command, '--file', b.path];
  if (mode === 'human') return humanBulk(b, args);
  const r = await cli(db, [...args, '--json']);
  expect(r.exitCode, `${b.title}: ${visible(r.stderr)}`).toBe(b.exit);
  expectNoStack(r, b.title);
  if (b.bad) {
    const doc = JSON.parse(r.stdout) as {
      applied: number;
      invalid: { line?: number; index?: number; code: string }[];
      denied: { line?: number; index?: number; code: string }[];
      invalidTotal: number;
      deniedTotal: number;
    };
    const got = Object.fromEntries(
      [...doc.invalid, ...doc.denied].map((x) => [x.line ?? x.index, x.code]),
    );
    expect(got, b.title).toEqual(b.bad);
    expect(doc.applied, b.title).toBe(0);
    cases += Object.keys(b.bad).length;
  } else {
    if (r.exitCode === 0) expect(() => JSON.parse(r.stdout)).not.toThrow();
    else expect(r.stdout).toBe('');
    cases++;
  }
  if (mode === 'both') await humanBulk(b, args);
}

async function humanBulk(b: Bulk, args: string[]): Promise<void> {
  const human = await cli(db, args);
  expect(human.exitCode, `${b.title}: ${visible(human.stderr)}`).toBe(b.exit);
  expectSafe(human.stdout, `${b.title} stdout`);
  expectSafe(human.stderr, `${b.title} stderr`);
  expectNoStack(human, b.title);
}

describe('bulk files with hostile records', () => {
  it('workspace records: every bad one is reported and nothing is stored', async () => {
    const bad: unknown[] = [
      ...[42, 0, 1.5, true, ['a'], { a: 1 }, null].map((name) => ({ name, kind: 'org' })),
      ...BAD_NAMES.map((name) => ({ name, kind: 'org' })),
      { name: 'a\u0000b', kind: 'org' },
      { name: MB, kind: 'org' },
      { name: 'ok', kind: 1 },
      { name: 'ok', kind: 'team' },
      { name: 'ok', kind: 'org', id: 7 },
      { name: 'ok', kind: 'org', parent: false },
      ...BAD_IDS.map((id) => ({ name: 'ok', kind: 'org', id })),
      JSON.parse('{"__proto__": {"name": "p"}, "name": "ok", "kind": "org"}'),
      JSON.parse('{"name": "ok", "kind": "org", "__proto__": {"parent": "acme"}}'),
      { constructor: 'x', name: 'ok', kind: 'org' },
      { prototype: {}, name: 'ok', kind: 'org' },
      { name: 'ok' },
      {},
      42,
      'a string',
      [1, 2],
      true,
    ];
    const lines = bad.map((r) => JSON.stringify(r));
    lines.push('{"name": "ok", "kind": "org",}', "{'name': 'x'}", '{"name": "unterminated', 'null');
    const expected: Record<number, string> = {};
    lines.forEach((_, i) => (expected[i + 1] = 'INVALID_INPUT'));
    await runBulk({
      title: 'workspaces.ndjson',
      command: ['workspace', 'create'],
      path: file('ws-bad.ndjson', lines.join('\n')),
      exit: 2,
      bad: expected,
    });
    const asJson: Record<number, string> = {};
    bad.forEach((_, i) => (asJson[i] = 'INVALID_INPUT'));
    await runBulk({
      title: 'workspaces.json',
      command: ['workspace', 'create'],
      path: file('ws-bad.json', JSON.stringify(bad)),
      exit: 2,
      bad: asJson,
    });
    const csvRows = [
      'name,kind,parent,id',
      `"red${ESC}[31m",org,,c1`,
      `"nul\u0000",org,,c2`,
      `"${'x'.repeat(201)}",org,,c3`,
      `"${MB}",org,,c4`,
      'ok,org,,UPPER',
      'ok,team,,c6',
      'ok,org,"a/b",c7',
      'ok,org',
      'ok,org,,c9,extra',
      `"${BEL}",org,,c10`,
    ];
    const csvBad: Record<number, string> = {};
    for (let line = 2; line <= csvRows.length; line++) csvBad[line] = 'INVALID_INPUT';
    await runBulk({
      title: 'workspaces.csv',
      command: ['workspace', 'create'],
      path: file('ws-bad.csv', csvRows.join('\n')),
      exit: 2,
      bad: csvBad,
    });
    // Refusals: the batch is all or nothing, each refusal reported and recorded.
    await runBulk({
      title: 'refused workspace records',
      command: ['workspace', 'create'],
      path: file(
        'ws-denied.ndjson',
        ndjson([
          { name: 'Fine', kind: 'org', id: 'fine-1' },
          { name: 'Again', kind: 'org', id: 'acme' },
          { name: 'Orphan', kind: 'org', parent: 'nope', id: 'orphan' },
        ]),
      ),
      exit: 3,
      bad: { 2: 'ALREADY_EXISTS', 3: 'UNKNOWN_WORKSPACE' },
    });
  });

  it('app and scope records', async () => {
    const appBad: unknown[] = [
      { name: 1, workspace: 'acme', env: 'dev' },
      { name: 'ok', workspace: 42, env: 'dev' },
      { name: 'ok', workspace: 'acme', env: true },
      { name: 'ok', workspace: ['acme'], env: 'dev' },
      { name: 'ok', workspace: 'acme', env: 'staging' },
      { name: 'ok', workspace: "acme'; --", env: 'dev' },
      { name: `x${ESC}[31m`, workspace: 'acme', env: 'dev' },
      { name: MB, workspace: 'acme', env: 'dev' },
      { name: 'ok', workspace: 'acme', env: 'dev', id: 'Bad Id' },
      JSON.parse('{"name":"ok","workspace":"acme","env":"dev","__proto__":{"id":"p"}}'),
      { name: 'ok', workspace: 'acme' },
    ];
    const appBadAt: Record<number, string> = {};
    appBad.forEach((_, i) => (appBadAt[i] = 'INVALID_INPUT'));
    await runBulk({
      title: 'apps.json',
      command: ['app', 'create'],
      path: file('app-bad.json', JSON.stringify(appBad)),
      exit: 2,
      bad: appBadAt,
    });
    await runBulk({
      title: 'refused app records',
      command: ['app', 'create'],
      path: file(
        'app-denied.ndjson',
        ndjson([
          { name: 'P', workspace: 'solo', env: 'production', id: 'pp3' },
          { name: 'Q', workspace: 'nope', env: 'development', id: 'pp4' },
          { name: 'R', workspace: 'acme', env: 'development', id: 'dev1' },
        ]),
      ),
      exit: 3,
      bad: {
        1: 'PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE',
        2: 'UNKNOWN_WORKSPACE',
        3: 'ALREADY_EXISTS',
      },
    });
    const scopeBad: unknown[] = [
      { app: 1, scope: 'all' },
      { app: 'prod1', scope: 'everyone' },
      { app: 'prod1', scope: true },
      { app: 'prod1', scope: 'all', revokeInstalls: 'yes' },
      { app: 'prod1', scope: 'custom' },
      { app: 'prod1' },
      { app: 'prod1', workspaces: 42 },
      { app: 'prod1', workspaces: [1, 2] },
      { app: 'prod1', workspaces: ['acme-eu', "x';--"] },
      { app: 'prod1', scope: 'all', ticket: `T${ESC}` },
      { app: 'prod1', scope: 'all', reason: 'r'.repeat(2001) },
      { app: 'prod1', scope: 'all', env: 42 },
      { app: 'BAD APP', scope: 'all' },
      JSON.parse('{"__proto__":{"app":"prod1"},"scope":"all"}'),
      JSON.parse('{"app":"prod1","scope":"all","__proto__":{"revokeInstalls":true}}'),
    ];
    const lines = scopeBad.map((r) => JSON.stringify(r));
    const scopeBadAt: Record<number, string> = {};
    lines.forEach((_, i) => (scopeBadAt[i + 1] = 'INVALID_INPUT'));
    await runBulk({
      title: 'scope.ndjson',
      command: ['set-scope'],
      path: file('scope-bad.ndjson', lines.join('\n')),
      exit: 2,
      bad: scopeBadAt,
    });
    await runBulk({
      title: 'scope.csv',
      command: ['set-scope'],
      path: file(
        'scope-bad.csv',
        [
          'app,scope,workspaces,revokeInstalls,ticket',
          'prod1,all,,maybe,',
          'prod1,everyone,,,',
          'prod1,custom,"acme-eu,BAD",,',
          `prod1,all,,,"T${BEL}"`,
          'prod1,,,,',
        ].join('\n'),
      ),
      exit: 2,
      bad: {
        2: 'INVALID_INPUT',
        3: 'INVALID_INPUT',
        4: 'INVALID_INPUT',
        5: 'INVALID_INPUT',
        6: 'INVALID_INPUT',
      },
    });
    await runBulk({
      title: 'refused scope records',
      command: ['set-scope'],
      path: file(
        'scope-denied.csv',
        [
          'app,scope,workspaces',
          'dev1,all,',
          'prod1,custom,acme',
          'nope,all,',
          'prod1,custom,nope',
        ].join('\n'),
      ),
      exit: 3,
      bad: {
        2: 'DEVELOPMENT_APP_NOT_SHAREABLE',
        3: 'OWNER_IN_ACCESS_LIST',
        4: 'UNKNOWN_APP',
        5: 'UNKNOWN_WORKSPACE',
      },
    });
  });

  it('whole files that are not records at all', async () => {
    const utf8 = [
      [0xff],
      [0xfe, 0xff],
      [0xc3, 0x28],
      [0xc0, 0xaf],
      [0xe0, 0x80, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xe2, 0x82],
    ];
    const list: Bulk[] = [];
    // Each bad sequence in one of the three formats, by turns.
    utf8.forEach((bytes, i) => {
      const bad = Buffer.from(bytes);
      const cat = (...parts: (string | Buffer)[]): Buffer =>
        Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
      const kinds: Bulk[] = [
        {
          title: `invalid UTF-8 ${i} in NDJSON`,
          command: ['workspace', 'create'],
          path: file(`u${i}.ndjson`, cat('{"name":"a', bad, '","kind":"org"}')),
          exit: 2,
        },
        {
          title: `invalid UTF-8 ${i} in CSV`,
          command: ['app', 'create'],
          path: file(`u${i}.csv`, cat('name,workspace,env\nx', bad, ',acme,dev\n')),
          exit: 2,
        },
        {
          title: `invalid UTF-8 ${i} in JSON`,
          command: ['set-scope'],
          path: file(`u${i}.json`, cat('[{"app":"prod1","scope":"all","reason":"', bad, '"}]')),
          exit: 2,
        },
      ];
      list.push(kinds[i % 3]!);
    });
    const ws = ['workspace', 'create'];
    const whole: [string, string | Buffer, string[]?][] = [
      ['empty.csv', ''],
      ['blank.csv', '\n\n  \n'],
      ['bom-only.csv', '\ufeff'],
      ['header-unknown.csv', 'name,kind,__proto__\nx,org,y\n'],
      ['header-duplicate.csv', 'name,kind,name\nx,org,y\n'],
      ['header-missing.csv', 'name\nx\n'],
      ['header-empty-column.csv', 'name,,kind\nx,,org\n'],
      ['open-quote.csv', 'name,kind\n"never closed,org\n'],
      ['empty.ndjson', ''],
      ['empty.json', ''],
      ['object.json', '{"name":"x","kind":"org"}'],
      ['null.json', 'null'],
      ['number.json', '42'],
      ['trailing.json', '[{"name":"x","kind":"org"}] garbage'],
      ['proto.json', '{"__proto__":[{"name":"x","kind":"org"}]}'],
      ['records.txt', 'name,kind\nx,org\n'],
      ['records.xml', '<x/>', ['--format', 'xml']],
    ];
    for (const [name, body, extra] of whole) {
      list.push({
        title: name,
        command: [...ws, ...(extra ?? [])],
        path: file(name, body),
        exit: 2,
      });
    }
    list.push(
      { title: 'a directory', command: ws, path: files, exit: 2 },
      { title: 'a missing file', command: ws, path: join(files, 'missing.csv'), exit: 2 },
      { title: 'stdin without --format', command: ws, path: '-', exit: 2 },
    );
    let next = 0;
    await Promise.all(
      [0, 1].map(async () => {
        while (next < list.length) {
          const i = next++;
          await runBulk(list[i]!, i % 4 === 0 ? 'both' : i % 2 === 0 ? 'json' : 'human');
        }
      }),
    );
    const plan = file('plan.json', '{"__proto__":{"format":"x"},"changes":"all"}');
    await runCase(
      { title: 'apply-plan of a forged plan', args: ['apply-plan', plan], exit: 2 },
      true,
    );
    const planUtf8 = file('plan-utf8.json', Buffer.from([0x7b, 0xff, 0x7d]));
    await runCase(
      { title: 'apply-plan of invalid UTF-8', args: ['apply-plan', planUtf8], exit: 2 },
      true,
    );
  });

  it('good files with hostile values are stored exactly', async () => {
    const records = GOOD_NAMES.map((name, i) => ({
      name,
      kind: 'org',
      parent: 'gw0',
      id: `fw${i}`,
    }));
    GOOD_NAMES.forEach((name, i) => workspaces.set(`fw${i}`, name.trim()));
    await runBulk(
      {
        title: 'good workspaces.ndjson',
        command: ['workspace', 'create'],
        path: file('ws-good.ndjson', '\ufeff' + ndjson(records) + '\r\n'),
        exit: 0,
      },
      'human',
    );
    const appsJson = GOOD_NAMES.map((name, i) => ({
      name,
      workspace: 'gw1',
      env: 'production',
      id: `fa${i}`,
    }));
    GOOD_NAMES.forEach((name, i) => apps.set(`fa${i}`, name.trim()));
    await runBulk(
      {
        title: 'good apps.json',
        command: ['app', 'create'],
        path: file('app-good.json', JSON.stringify(appsJson)),
        exit: 0,
      },
      'json',
    );
    const csv = [
      'name,workspace,env,id',
      ...GOOD_NAMES.slice(0, 8).map((n, i) => `"${n.replace(/"/g, '""')}",gw2,dev,ca${i}`),
    ];
    GOOD_NAMES.slice(0, 8).forEach((name, i) => apps.set(`ca${i}`, name.trim()));
    await runBulk(
      {
        title: 'good apps.csv',
        command: ['app', 'create'],
        path: file('app-good.csv', csv.join('\r\n')),
        exit: 0,
      },
      'human',
    );
    await runBulk(
      {
        title: 'good scope.csv',
        command: ['set-scope'],
        path: file(
          'scope-good.csv',
          [
            'app,scope,workspaces,ticket,reason',
            `fa0,all,,"T'); DROP TABLE apps;--","${RLO}reason"`,
            'fa1,custom,"acme-eu;gw3",,',
            `fa2,children,,"=cmd|' /C calc'!A0",`,
          ].join('\n'),
        ),
        exit: 0,
      },
      'json',
    );
  });
});

describe('what was stored, and how it is shown', () => {
  it('holds exactly the valid records, with names as given', async () => {
    const ws = await cliJson<{ id: string; name: string }[]>(db, ['workspace', 'list']);
    expect(new Map(ws.json.map((w) => [w.id, w.name]))).toEqual(workspaces);
    const all = await cliJson<{ id: string; name: string; scope: string }[]>(db, ['list']);
    expect(new Map(all.json.map((a) => [a.id, a.name]))).toEqual(apps);
    const scopes = Object.fromEntries(all.json.map((a) => [a.id, a.scope]));
    expect(scopes.fa0).toBe('AllWorkspaces');
    expect(scopes.fa1).toBe('CustomWorkspaceAccess');
    expect(scopes.fa2).toBe('AllChildWorkspaces');
    expect(scopes.prod1).toBe('CurrentWorkspaceOnly');
    expect(scopes.dev1).toBe('CurrentWorkspaceOnly');
    const check = await cli(db, ['audit', 'check', '--json']);
    expect(check.exitCode, check.stdout).toBe(0);
    const verify = await cliJson(db, ['audit', 'verify']);
    expect(verify.json.ok).toBe(true);
    const applied = await cliJson<unknown[]>(db, ['audit', 'log', '--outcome', 'applied']);
    expect(applied.json.length).toBeGreaterThan(workspaces.size + apps.size);
  });

  it('human output of every read escapes what a terminal would act on', async () => {
    const reads: string[][] = [
      ['workspace', 'list'],
      ['workspace', 'list', '--tree'],
      ['list'],
      ['list', '--format', 'csv'],
      ['list', '--visible-to', 'gw3'],
      ['list', '--visible-to', 'acme-eu', '--format', 'csv'],
      ['audit', 'log'],
      ['audit', 'log', '--format', 'csv'],
      ['audience', 'fa0'],
      ['audience', 'fa1'],
      ['explain', 'fa3', '--workspace', 'gw1'],
      ...[0, 3, 6, 7, 8].map((i) => ['app', 'show', `ga${i}`]),
      ...[3, 4, 5, 6, 7, 8, 12].map((i) => ['workspace', 'show', `gw${i}`]),
      ['app', 'show', 'fa4'],
      ['set-scope', 'fa5', 'all', '--dry-run'],
      ['set-scope', '--file', join(files, 'scope-good.csv'), '--dry-run'],
    ];
    const csvBidi: string[] = [];
    let next = 0;
    await Promise.all(
      [0, 1].map(async () => {
        while (next < reads.length) {
          const args = reads[next++]!;
          const r = await cli(db, args);
          expect(r.exitCode, `${args.join(' ')}: ${visible(r.stderr)}`).toBe(0);
          expectNoStack(r, args.join(' '));
          // A CSV keeps bidi and line-separator characters as data (a spreadsheet needs them);
          // every control character is escaped there too.
          const isCsv = args.includes('csv');
          const text = isCsv
            ? r.stdout.replace(/[\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu, (c) => {
                csvBidi.push(args.join(' '));
                return `<U+${c.codePointAt(0)!.toString(16)}>`;
              })
            : r.stdout;
          expectSafe(text, args.join(' '));
          expectSafe(r.stderr, args.join(' '));
          cases++;
        }
      }),
    );
    console.log(
      `[hostile] ${cases} cases; CSV output passes bidi controls through as data in: ` +
        `${[...new Set(csvBidi)].join('; ') || 'none'}`,
    );
    expect(cases).toBeGreaterThanOrEqual(200);
  });
});

describe('defects found here, fixed, and kept from coming back', () => {
  it('audit log --since refuses text that is not an ISO 8601 date', async () => {
    const r = await cli(db, ['audit', 'log', '--since', 'Robert 2026', '--json']);
    expect(r.exitCode).toBe(2);
  });

  it('backup escapes its path: an escape in the name never reaches the terminal', async () => {
    const r = await cli(db, ['backup', join(files, `b${ESC}[31mred.db`)]);
    expect(r.exitCode).toBe(0);
    expectSafe(r.stdout, 'backup');
  });

  it('a lone surrogate in a name is refused, never stored as invalid UTF-8', async () => {
    const path = file('surrogate.ndjson', '{"name":"lone \\ud800 half","kind":"org","id":"sur"}');
    const r = await cli(db, ['workspace', 'create', '--file', path, '--json']);
    // Refused as invalid input, or stored exactly as given: either is sound.
    if (r.exitCode === 0) {
      const show = await cliJson(db, ['workspace', 'show', 'sur']);
      expect(show.json.name).toBe('lone \ud800 half');
    } else expect(r.exitCode).toBe(2);
  });
});
