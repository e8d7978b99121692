// What the binary prints: exactly one JSON document per command with --json; colour only when
// it is wanted; hostile text stored as given but never reaching a terminal raw; CSV cells that a
// spreadsheet will not run as formulas; and a reader that stops early is no crash.
import Database from 'better-sqlite3';
import { parse as parseCsv } from 'csv-parse/sync';
import { execa } from 'execa';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChange } from '../../src/commands/run-change.js';
import { createApp, createWorkspace, install, setScope } from '../../src/service/changes.js';
import type { Meta } from '../../src/service/changes.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { ACTOR, BIN, cli, jsonError, ROOT, tempDir, type CliResult } from '../helpers/cli.js';

type Json = any;

const ESC = '\u001b';
const RLO = '\u202e';
const TITLE = `${ESC}]0;pwned${'\u0007'}`;
const CLEAR = `${ESC}[2J`;

let tmp: ReturnType<typeof tempDir>;
let seeded: string;
let copies = 0;

function copy(from = seeded): string {
  const db = join(tmp.dir, `copy-${++copies}.db`);
  copyFileSync(from, db);
  return db;
}

const META: Meta = { actor: ACTOR, at: '2024-01-01T00:00:00.000Z' };

/** acme (org) > acme-eu (org); globex (org); pat (personal); apps billing and ledger. */
async function seed(db: string): Promise<void> {
  const store = SqliteStore.open(db);
  try {
    for (const [id, kind, parentId] of [
      ['acme', 'organizational', null],
      ['acme-eu', 'organizational', 'acme'],
      ['globex', 'organizational', null],
      ['pat', 'personal', null],
    ] as const) {
      await runChange(store, (w) => createWorkspace(w, { id, name: id, kind, parentId }, META));
    }
    for (const [id, environment] of [
      ['billing', 'production'],
      ['ledger', 'development'],
    ] as const) {
      const req = { id, name: id, workspaceId: 'acme', environment };
      await runChange(store, (w) => createApp(w, req, META));
    }
    const all = { scope: 'AllWorkspaces' as const };
    await runChange(store, (w) => setScope(w, 'billing', all, META, { write: true }));
    await runChange(store, (w) => install(w, 'billing', 'globex', META));
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  tmp = tempDir('ddx-e2e-output-');
  seeded = join(tmp.dir, 'seeded.db');
  await seed(seeded);
});
afterAll(() => tmp.cleanup());

/** Exactly one JSON document: one line, parsed whole. */
function oneDocument(r: CliResult, what: string): Json {
  expect(r.stdout.endsWith('\n'), what).toBe(true);
  expect(r.stdout.split('\n'), what).toHaveLength(2);
  return JSON.parse(r.stdout);
}

describe('--json prints exactly one JSON document on stdout', () => {
  it('for every command, one after the other on one database', async () => {
    const db = copy();
    const file = (name: string, text: string): string => {
      writeFileSync(join(tmp.dir, name), text);
      return join(tmp.dir, name);
    };
    const steps: string[][] = [
      ['migrate'],
      ['migrate', 'status'],
      ['workspace', 'create', 'Initech', '--kind', 'organizational'],
      ['workspace', 'create', '--file', file('ws.csv', 'name,kind\nHooli,organizational\n')],
      ['workspace', 'list'],
      ['workspace', 'list', '--tree'],
      ['workspace', 'show', 'initech'],
      ['app', 'create', 'Tool', '--workspace', 'initech', '--env', 'production'],
      ['app', 'create', '--file', file('apps.csv', 'name,workspace,env\nKit,hooli,dev\n')],
      ['app', 'show', 'tool'],
      ['app', 'update', 'tool', '--name', 'Tool 2'],
      ['set-scope', 'tool', 'custom', '--workspaces', 'acme', '--dry-run'],
      ['set-scope', 'tool', 'children'],
      ['set-scope', '--file', file('scopes.csv', 'app,scope\ntool,all\n'), '--dry-run'],
      ['set-scope', 'tool', 'all'],
      ['install', 'tool', '--workspace', 'acme'],
      ['uninstall', 'tool', '--workspace', 'acme'],
      ['list'],
      ['list', '--format', 'json'],
      ['list', '--visible-to', 'acme-eu', '--shared'],
      ['list', '--workspace', 'pat'],
      ['explain', 'tool', '--workspace', 'acme'],
      ['audience', 'tool'],
      ['audit', 'log'],
      ['audit', 'log', '--limit', '2', '--format', 'json'],
      ['audit', 'verify'],
      ['audit', 'head'],
      ['audit', 'check'],
      ['backup', join(tmp.dir, 'backup.db')],
    ];
    for (const args of steps) {
      const r = await cli(db, [...args, '--json'], { cwd: tmp.dir });
      expect({ args, exitCode: r.exitCode, stderr: r.stderr }).toEqual({
        args,
        exitCode: 0,
        stderr: '',
      });
      oneDocument(r, args.join(' '));
    }
    const demo = await cli(db, ['demo', '--json'], { cwd: tmp.dir });
    expect(demo.exitCode).toBe(0);
    expect(oneDocument(demo, 'demo').db).toBe(join(tmp.dir, 'ddx-share-demo.db'));
  });

  it('arrays stay one document however many rows they have', async () => {
    const r = await cli(seeded, ['list', '--json']);
    expect(oneDocument(r, 'list').map((a: Json) => a.id)).toEqual(['billing', 'ledger']);
    const none = await cli(seeded, ['list', '--env', 'dev', '--workspace', 'globex', '--json']);
    expect(none.stdout).toBe('[]\n');
  });

  it('a failure prints its document on stderr and nothing on stdout', async () => {
    const r = await cli(seeded, ['app', 'show', 'nope', '--json']);
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toBe('');
    expect(jsonError(r.stderr)).toMatchObject({ code: 'UNKNOWN_APP', rule: 'R12' });
  });

  it('--json refuses a --format that is not one JSON document', async () => {
    for (const args of [
      ['list', '--format', 'csv'],
      ['list', '--format', 'table'],
      ['list', '--format', 'ndjson'],
      ['audit', 'log', '--format', 'csv'],
    ]) {
      const r = await cli(seeded, [...args, '--json']);
      expect({ args, exitCode: r.exitCode, stdout: r.stdout }).toEqual({
        args,
        exitCode: 2,
        stdout: '',
      });
      expect(jsonError(r.stderr).code).toBe('USAGE');
    }
  });

  it('--json never colours, even when colour is forced', async () => {
    const r = await cli(seeded, ['explain', 'billing', '--workspace', 'acme', '--json'], {
      env: { NO_COLOR: undefined, FORCE_COLOR: '1' },
    });
    expect(r.stdout).not.toContain(ESC);
    oneDocument(r, 'explain');
  });
});

describe('colour', () => {
  const COMMANDS = [
    ['workspace', 'list'],
    ['explain', 'billing', '--workspace', 'globex'],
    ['set-scope', 'billing', 'children', '--dry-run', '--revoke-installs'],
    ['audience', 'billing'],
  ];
  const run = (args: string[], env: Record<string, string | undefined>, flags: string[] = []) =>
    cli(seeded, [...flags, ...args], { env: { NO_COLOR: undefined, ...env } });

  it.each([
    ['NO_COLOR=1', { NO_COLOR: '1' }, []],
    ['NO_COLOR=1 beats FORCE_COLOR=1', { NO_COLOR: '1', FORCE_COLOR: '1' }, []],
    ['--no-color beats FORCE_COLOR=1', { FORCE_COLOR: '1' }, ['--no-color']],
    ['stdout is not a terminal', {}, []],
    ['FORCE_COLOR=0', { FORCE_COLOR: '0' }, []],
  ] as const)('none when %s', async (_, env, flags) => {
    for (const args of COMMANDS) {
      const r = await run(args, env, [...flags]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout, args.join(' ')).not.toContain(ESC);
      expect(r.stderr).not.toContain(ESC);
    }
  });

  it('some with FORCE_COLOR=1 (an empty NO_COLOR does not count)', async () => {
    for (const args of COMMANDS) {
      const r = await run(args, { FORCE_COLOR: '1', NO_COLOR: '' });
      expect(r.stdout, args.join(' ')).toMatch(/\u001b\[(1|2|31|32|33)m/);
    }
    // Colour never changes the words.
    const plain = await run(COMMANDS[1]!, { NO_COLOR: '1' });
    const coloured = await run(COMMANDS[1]!, { FORCE_COLOR: '1' });
    expect(coloured.stdout.replace(/\u001b\[\d+m/g, '')).toBe(plain.stdout);
  });

  it('by default on a terminal (through script(1))', async () => {
    const { exitCode, stdout } = await execa(
      'script',
      ['-qfec', `'${process.execPath}' '${BIN}' workspace list`, '/dev/null'],
      {
        env: { PATH: process.env.PATH, DDX_SHARE_DB: seeded, TERM: 'xterm' },
        extendEnv: false,
        reject: false,
        input: '',
      },
    );
    expect(exitCode).toBe(0);
    expect(stdout).toContain(`${ESC}[1mid`);
  });

  it('error messages are never coloured', async () => {
    const r = await run(['app', 'show', 'nope'], { FORCE_COLOR: '1' });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toBe('ddx-share: No app has the id nope.\nSee `ddx-share list`.\n');
  });
});

describe('hostile text', () => {
  const NAMES = {
    rlo: `invoice${RLO}fdp.exe`,
    zwsp: `acme\u200b`,
    title: `Evil ${TITLE} Corp`,
    clear: `Wipe ${CLEAR}out`,
  };
  let db: string;
  /** Every human view of the data, in one string: none may hold a raw control character. */
  const VIEWS = [
    ['workspace', 'list'],
    ['workspace', 'list', '--tree'],
    ['workspace', 'show', 'hostile-title'],
    ['app', 'show', 'hostile-app'],
    ['list'],
    ['list', '--visible-to', 'hostile-title'],
    ['explain', 'hostile-app', '--workspace', 'hostile-title'],
    ['audience', 'hostile-app'],
    ['audit', 'log'],
  ];

  beforeAll(async () => {
    db = copy();
    // Names with bidi and invisible characters pass the input checks; control characters do
    // not (see below), so those arrive the way text from elsewhere would: written straight
    // into the database.
    const ok = async (args: string[], actor?: string): Promise<void> => {
      const r = await cli(db, args, actor === undefined ? {} : { actor });
      if (r.exitCode !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
    };
    await ok(['workspace', 'create', NAMES.rlo, '--kind', 'org', '--id', 'hostile-rlo']);
    await ok(['workspace', 'create', NAMES.zwsp, '--kind', 'org', '--id', 'hostile-zwsp']);
    await ok(['workspace', 'create', 'placeholder', '--kind', 'org', '--id', 'hostile-title']);
    await ok([
      'app',
      'create',
      'placeholder',
      '--workspace',
      'acme',
      '--env',
      'prod',
      '--id',
      'hostile-app',
    ]);
    await ok([
      'set-scope',
      'hostile-app',
      'all',
      '--ticket',
      `SUP-${RLO}1`,
      '--reason',
      `why${RLO}`,
    ]);
    await ok(['install', 'hostile-app', '--workspace', 'hostile-title']);
    const d = new Database(db);
    try {
      d.prepare('UPDATE workspaces SET name = ? WHERE id = ?').run(NAMES.title, 'hostile-title');
      d.prepare('UPDATE apps SET name = ? WHERE id = ?').run(NAMES.clear, 'hostile-app');
    } finally {
      d.close();
    }
  });

  it('is stored as given: --json gives it back exactly, escaped only as JSON escapes', async () => {
    const ws = await cli(db, ['workspace', 'list', '--json']);
    const names = Object.fromEntries(JSON.parse(ws.stdout).map((w: Json) => [w.id, w.name]));
    expect(names['hostile-rlo']).toBe(NAMES.rlo);
    expect(names['hostile-zwsp']).toBe(NAMES.zwsp);
    expect(names['hostile-title']).toBe(NAMES.title);
    // JSON escapes the control characters, so no raw ESC reaches the terminal even here.
    expect(ws.stdout).not.toContain(ESC);
    expect(ws.stdout).toContain('\\u001b]0;pwned\\u0007');
    const app = await cli(db, ['app', 'show', 'hostile-app', '--json']);
    expect(JSON.parse(app.stdout).name).toBe(NAMES.clear);
    const log = JSON.parse((await cli(db, ['audit', 'log', '--json'])).stdout) as Json[];
    expect(log.map((e) => e.ticket)).toContain(`SUP-${RLO}1`);
    expect(log.map((e) => e.reason)).toContain(`why${RLO}`);
  });

  it('is printed escaped in every human view', async () => {
    for (const args of VIEWS) {
      const r = await cli(db, args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout, args.join(' ')).not.toContain(ESC);
      expect(r.stdout, args.join(' ')).not.toContain(RLO);
      expect(r.stdout, args.join(' ')).not.toContain('\u200b');
      expect(r.stdout, args.join(' ')).not.toContain('\u0007');
      expect(r.stderr).toBe('');
    }
    const show = await cli(db, ['workspace', 'show', 'hostile-title']);
    expect(show.stdout).toContain('Evil \\u{1b}]0;pwned\\u{7} Corp');
    const tree = await cli(db, ['workspace', 'list', '--tree']);
    expect(tree.stdout).toContain('hostile-rlo invoice\\u{202e}fdp.exe (organizational)');
    expect(tree.stdout).toContain('hostile-zwsp acme\\u{200b} (organizational)');
    const log = await cli(db, ['audit', 'log']);
    expect(log.stdout).toContain('SUP-\\u{202e}1');
  });

  it('CSV, a data format, keeps bidi characters but never a raw control character', async () => {
    for (const args of [
      ['list', '--format', 'csv'],
      ['audit', 'log', '--format', 'csv'],
    ]) {
      const r = await cli(db, args);
      expect(r.exitCode).toBe(0);
      expect(r.stdout, args.join(' ')).not.toContain(ESC);
      expect(r.stdout, args.join(' ')).not.toContain('\u0007');
    }
    const csv = (await cli(db, ['list', '--format', 'csv'])).stdout;
    const rows = parseCsv(csv, { columns: true }) as Record<string, string>[];
    const byId = Object.fromEntries(rows.map((r) => [r.id, r.name]));
    expect(byId['hostile-app']).toBe('Wipe \\u{1b}[2Jout');
    const log = await cli(db, ['audit', 'log', '--format', 'csv']);
    expect(log.stdout).toContain(`SUP-${RLO}1`);
  });

  it('is printed escaped in messages on stderr', async () => {
    const cases: [string[], number][] = [
      [['set-scope', 'hostile-app', `all${CLEAR}`], 2],
      [[`frob${TITLE}`], 2],
      [['audit', 'log', '--action', `x${CLEAR}${RLO}`], 2],
      [['list', '--format', `csv${RLO}`], 2],
      // An actor that could pass for another in the trail is refused before anything else.
      [['install', 'hostile-app', '--workspace', 'hostile-title'], 2],
    ];
    for (const [args, exit] of cases) {
      for (const json of [false, true]) {
        const r = await cli(db, json ? [...args, '--json'] : args, {
          actor: `kim${ESC}c${RLO}@evil.example`,
        });
        expect(r.exitCode, r.stderr).toBe(exit);
        expect(r.stdout).toBe('');
        expect(r.stderr).not.toContain(ESC);
        if (!json) expect(r.stderr).not.toContain(RLO);
      }
    }
    const r = await cli(db, ['set-scope', 'hostile-app', `all${CLEAR}`]);
    expect(r.stderr).toMatch(/^ddx-share: Unknown scope "all\\u\{1b\}\[2J"/);
  });

  it('control characters and NUL are refused at input, and nothing is written', async () => {
    const before = readFileSync(db);
    for (const bad of [NAMES.title, NAMES.clear, 'tab\there', 'line\nbreak']) {
      const r = await cli(db, ['workspace', 'create', bad, '--kind', 'org', '--json']);
      expect(r.exitCode).toBe(2);
      expect(jsonError(r.stderr)).toMatchObject({
        code: 'INVALID_INPUT',
        message: 'Invalid workspace name: a name cannot hold control characters.',
      });
      const renamed = await cli(db, ['app', 'update', 'billing', '--name', bad]);
      expect(renamed.exitCode).toBe(2);
      expect(renamed.stderr).not.toContain(ESC);
    }
    // A NUL cannot travel in an argument at all; in a file it is refused like the rest.
    const file = join(tmp.dir, 'nul.ndjson');
    writeFileSync(file, '{"name":"nul\\u0000here","kind":"organizational"}\n');
    const r = await cli(db, ['workspace', 'create', '--file', file, '--json']);
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({
      applied: 0,
      invalid: [expect.objectContaining({ code: 'INVALID_INPUT', line: 1 })],
    });
    expect(readFileSync(db).equals(before)).toBe(true);
  });
});

describe('CSV output guards cells against spreadsheet formulas', () => {
  it('a cell starting with = + - @ is quoted as text', async () => {
    const db = copy();
    const names = ['=HYPERLINK("http://evil.example","x")', '+1+1', '-2+3', '@SUM(A1:A9)'];
    for (const [i, name] of names.entries()) {
      // After `--` a name that starts with a dash is not taken for an option.
      const args = ['app', 'create', '--workspace', 'acme', '--env', 'dev', '--id', `f${i}`];
      const r = await cli(db, [...args, '--', name]);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    await cli(
      db,
      ['set-scope', 'billing', 'custom', '--workspaces', 'globex', '--ticket', '=1+2'],
      {
        actor: '=cmd@evil.example',
      },
    );
    const csv = await cli(db, ['list', '--format', 'csv', '--env', 'dev']);
    expect(csv.exitCode).toBe(0);
    expect(csv.stdout).toContain(`f0,"'=HYPERLINK(""http://evil.example"",""x"")",acme,`);
    const rows = parseCsv(csv.stdout, { columns: true }) as Record<string, string>[];
    const byId = Object.fromEntries(rows.map((r) => [r.id, r.name]));
    expect(byId).toMatchObject({
      f0: `'${names[0]}`,
      f1: "'+1+1",
      f2: "'-2+3",
      f3: "'@SUM(A1:A9)",
      ledger: 'ledger',
    });
    for (const row of rows) expect(row.name).not.toMatch(/^[=+\-@]/);
    // The JSON formats carry the names as they are.
    const json = JSON.parse((await cli(db, ['list', '--json', '--env', 'dev'])).stdout);
    expect(json.map((a: Json) => a.name)).toEqual([...names, 'ledger']);

    const log = await cli(db, ['audit', 'log', '--format', 'csv', '--action', 'app.set-scope']);
    const events = parseCsv(log.stdout, { columns: true }) as Record<string, string>[];
    const last = events.at(-1)!;
    expect(last.actor).toBe("'=cmd@evil.example");
    expect(last.ticket).toBe("'=1+2");
    for (const e of events) for (const v of Object.values(e)) expect(v).not.toMatch(/^[=+\-@]/);
  });
});

describe('a reader that stops early', () => {
  it('`ddx-share list --format ndjson | head -n 1` ends quietly, with no stack trace', async () => {
    const db = copy();
    const store = SqliteStore.open(db);
    try {
      await store.write(async (w) => {
        for (let i = 0; i < 3000; i++) {
          const req = {
            id: `bulk-${i}`,
            name: `Bulk app ${i}`,
            workspaceId: 'acme',
            environment: 'development' as const,
          };
          const o = await createApp(w, req, META);
          if (!o.ok) throw new Error(o.denial.message);
          if (o.event) await w.appendEvent(o.event);
        }
      });
    } finally {
      await store.close();
    }
    for (const args of ['list --format ndjson', 'audit log --format csv', 'list']) {
      const r = await execa(
        'bash',
        [
          '--norc',
          '--noprofile',
          '-c',
          `'${process.execPath}' '${BIN}' ${args} | head -n 1; echo "exit=\${PIPESTATUS[0]}" >&2`,
        ],
        {
          env: { PATH: process.env.PATH, DDX_SHARE_DB: db, NO_COLOR: '1' },
          extendEnv: false,
          reject: false,
          cwd: ROOT,
        },
      );
      expect(r.stdout.split('\n')).toHaveLength(1);
      expect(r.stderr, args).toBe('exit=0');
    }
  });
});

describe('the binary itself', () => {
  it('--version and --help go to stdout and exit 0', async () => {
    const v = await cli(seeded, ['--version']);
    expect(v.exitCode).toBe(0);
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const h = await cli(seeded, ['set-scope', '--help']);
    expect(h.exitCode).toBe(0);
    expect(h.stdout).toContain('Usage: ddx-share set-scope [options] [app] [scope]');
    expect(h.stdout).toContain('$ ddx-share set-scope billing-sync all --ticket SUP-1234');
    expect(h.stderr).toBe('');
    expect(existsSync(dirname(BIN))).toBe(true);
  });
});
