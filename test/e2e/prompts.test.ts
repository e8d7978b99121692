// The prompts of `set-scope`, driven through a real pseudo-terminal: a small python3 pty driver
// (below) runs the binary, waits for each prompt to show, and types keystrokes. Every change
// the terminal makes is checked in the database afterwards. Without a terminal, and with
// --json, nothing is ever asked.
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChange } from '../../src/commands/run-change.js';
import { createApp, createWorkspace, install, setScope } from '../../src/service/changes.js';
import type { Meta } from '../../src/service/changes.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { ACTOR, BIN, cli, jsonError, ROOT, tempDir } from '../helpers/cli.js';
import { onPty, type Terminal } from '../helpers/pty.js';

const UP = '\u001b[A';
const DOWN = '\u001b[B';
const ENTER = '\r';
const CTRL_C = '\u0003';

let tmp: ReturnType<typeof tempDir>;
let seeded: string;
let copies = 0;

/**
 * acme (org) > acme-eu (org) > acme-eu-paris (org); acme > acme-us (org); globex (org);
 * pat (personal). Apps of acme: billing (production), ledger (development), shared (production,
 * AllChildWorkspaces, installed by acme-eu-paris).
 */
async function seed(db: string): Promise<void> {
  const store = SqliteStore.open(db);
  const meta: Meta = { actor: ACTOR, at: '2024-01-01T00:00:00.000Z' };
  try {
    for (const [id, kind, parentId] of [
      ['acme', 'organizational', null],
      ['acme-eu', 'organizational', 'acme'],
      ['acme-eu-paris', 'organizational', 'acme-eu'],
      ['acme-us', 'organizational', 'acme'],
      ['globex', 'organizational', null],
      ['pat', 'personal', null],
    ] as const) {
      const name = `${id} workspace`;
      await runChange(store, (w) => createWorkspace(w, { id, name, kind, parentId }, meta));
    }
    for (const [id, environment] of [
      ['billing', 'production'],
      ['ledger', 'development'],
      ['shared', 'production'],
    ] as const) {
      const req = { id, name: `${id} app`, workspaceId: 'acme', environment };
      await runChange(store, (w) => createApp(w, req, meta));
    }
    const children = { scope: 'AllChildWorkspaces' as const };
    await runChange(store, (w) => setScope(w, 'shared', children, meta, { write: true }));
    await runChange(store, (w) => install(w, 'shared', 'acme-eu-paris', meta));
  } finally {
    await store.close();
  }
}

function copy(): string {
  const db = join(tmp.dir, `copy-${++copies}.db`);
  copyFileSync(seeded, db);
  return db;
}

/** Runs `ddx-share <args>` on a terminal and has the conversation. */
async function onTerminal(
  db: string,
  args: string[],
  steps: [pattern: string, keys: string][],
): Promise<Terminal> {
  const spec = {
    argv: [process.execPath, BIN, ...args],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      TERM: 'xterm-256color',
      NO_COLOR: '1',
      DDX_SHARE_DB: db,
      DDX_ACTOR: ACTOR,
      XDG_DATA_HOME: join(tmp.dir, 'xdg'),
    },
    cwd: ROOT,
    steps,
    timeout: 15,
  };
  return onPty(spec);
}

/** The terminal's output without cursor movements and colours, for reading. */
function text(t: Terminal): string {
  return t.output.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

function sharing(db: string, app: string): { scope: string; workspaces: string[] } {
  const d = new Database(db);
  try {
    const row = d.prepare('SELECT scope FROM apps WHERE id = ?').get(app) as { scope: string };
    const list = d
      .prepare('SELECT workspace_id FROM app_access WHERE app_id = ? ORDER BY 1')
      .pluck()
      .all(app) as string[];
    return { scope: row.scope, workspaces: list };
  } finally {
    d.close();
  }
}

function events(db: string): { seq: number; action: string; outcome: string; code: string }[] {
  const d = new Database(db);
  try {
    return d
      .prepare('SELECT seq, actor, action, target, outcome, code FROM audit_events')
      .all() as {
      seq: number;
      action: string;
      outcome: string;
      code: string;
    }[];
  } finally {
    d.close();
  }
}

beforeAll(async () => {
  tmp = tempDir('ddx-e2e-prompts-');
  seeded = join(tmp.dir, 'seeded.db');
  await seed(seeded);
  const python = await execa('python3', ['-c', 'import pty, termios'], { reject: false });
  if (python.exitCode !== 0) throw new Error('these tests need python3 with its pty module');
});
afterAll(() => tmp.cleanup());

describe('set-scope on a terminal', () => {
  it('asks for the app, then the scope, shows the change, and applies it on yes', async () => {
    const db = copy();
    const t = await onTerminal(
      db,
      ['set-scope'],
      [
        ['Which app\\?', 'bill'],
        ['❯ billing', ENTER],
        ['❯ CurrentWorkspaceOnly', DOWN],
        ['❯ AllChildWorkspaces', ENTER],
        ['Apply this change\\? \\(y/N\\)', 'y' + ENTER],
      ],
    );
    expect(t.failed, text(t)).toBeNull();
    expect(t.exitCode, text(t)).toBe(0);
    const shown = text(t);
    // The search lists every app with its environment and scope.
    expect(shown).toContain('billing  billing app (production, CurrentWorkspaceOnly)');
    expect(shown).toContain('Sharing scope for billing (now CurrentWorkspaceOnly)');
    expect(shown).toContain('AllWorkspaces: every workspace in the Console');
    // Before the question: what would change, and who would gain and lose.
    const preview = shown.indexOf(
      'Would change billing: CurrentWorkspaceOnly -> AllChildWorkspaces',
    );
    expect(preview).toBeGreaterThan(-1);
    expect(shown.indexOf('gain access: acme-eu, acme-eu-paris, acme-us', preview)).toBeGreaterThan(
      preview,
    );
    expect(shown.indexOf('Apply this change?')).toBeGreaterThan(preview);
    // After it: what did change.
    expect(shown).toMatch(/Changed billing: CurrentWorkspaceOnly -> AllChildWorkspaces\n/);
    expect(sharing(db, 'billing')).toEqual({ scope: 'AllChildWorkspaces', workspaces: [] });
    expect(events(db).at(-1)).toMatchObject({
      actor: ACTOR,
      action: 'app.set-scope',
      outcome: 'applied',
    });
  });

  it('custom: the list is picked with a checkbox, the owner not offered', async () => {
    const db = copy();
    const t = await onTerminal(
      db,
      ['set-scope'],
      [
        ['Which app\\?', 'billing'],
        ['❯ billing', ENTER],
        ['❯ CurrentWorkspaceOnly', DOWN + DOWN + DOWN],
        ['❯ CustomWorkspaceAccess', ENTER],
        ['Which workspaces may see it\\?', DOWN + DOWN + DOWN],
        ['❯◯ globex', ' '],
        ['❯◉ globex', DOWN],
        ['❯◯ pat', ' '],
        ['❯◉ pat', ENTER],
        ['Apply this change\\?', 'y' + ENTER],
      ],
    );
    expect(t.failed, text(t)).toBeNull();
    expect(t.exitCode, text(t)).toBe(0);
    const shown = text(t);
    expect(shown).toContain('◯ acme-eu  acme-eu workspace');
    expect(shown).not.toMatch(/◯ acme +acme workspace/);
    expect(shown).toContain(
      'Would change billing: CurrentWorkspaceOnly -> CustomWorkspaceAccess (globex, pat)',
    );
    expect(shown).toContain('gain access: globex, pat');
    expect(sharing(db, 'billing')).toEqual({
      scope: 'CustomWorkspaceAccess',
      workspaces: ['globex', 'pat'],
    });
  });

  it('a development app: cross-workspace scopes are shown disabled, with why', async () => {
    const db = copy();
    const before = events(db).length;
    const t = await onTerminal(
      db,
      ['set-scope'],
      [
        ['Which app\\?', 'ledger'],
        ['❯ ledger', ENTER],
        ['❯ CurrentWorkspaceOnly', DOWN],
        ['❯ AllChildWorkspaces', ENTER],
        ['This option is disabled and cannot be selected', CTRL_C],
      ],
    );
    expect(t.failed, text(t)).toBeNull();
    const shown = text(t);
    for (const scope of [
      'AllChildWorkspaces: every workspace under the owner',
      'AllWorkspaces: every workspace in the Console',
      'CustomWorkspaceAccess: a list of workspaces you choose',
    ]) {
      expect(shown).toContain(`- ${scope} development apps never leave their workspace`);
    }
    expect(shown).toMatch(/❯ CurrentWorkspaceOnly: only the owner sees it\n/);
    expect(t.exitCode).toBe(130);
    expect(shown).toContain('Cancelled; nothing was changed.');
    expect(sharing(db, 'ledger').scope).toBe('CurrentWorkspaceOnly');
    expect(events(db)).toHaveLength(before);
  });

  it('declining the confirmation is CANCELLED (exit 130) and changes nothing', async () => {
    const db = copy();
    const before = events(db).length;
    const t = await onTerminal(
      db,
      ['set-scope', 'billing', 'all'],
      [['Apply this change\\?', 'n' + ENTER]],
    );
    expect(t.failed, text(t)).toBeNull();
    expect(t.exitCode).toBe(130);
    expect(text(t)).toContain('Would change billing: CurrentWorkspaceOnly -> AllWorkspaces');
    expect(text(t)).toContain('ddx-share: Cancelled; nothing was changed.');
    expect(sharing(db, 'billing').scope).toBe('CurrentWorkspaceOnly');
    expect(events(db)).toHaveLength(before);
  });

  it('Ctrl-C in any prompt exits 130 and changes nothing', async () => {
    const conversations: [string[], [string, string][]][] = [
      [['set-scope'], [['Which app\\?', CTRL_C]]],
      [['set-scope', 'billing'], [['❯ CurrentWorkspaceOnly', CTRL_C]]],
      [['set-scope', 'billing', 'custom'], [['Which workspaces may see it\\?', ' ' + CTRL_C]]],
      [['set-scope', 'billing', 'children'], [['Apply this change\\?', CTRL_C]]],
    ];
    for (const [args, steps] of conversations) {
      const db = copy();
      const before = events(db).length;
      const t = await onTerminal(db, args, steps);
      expect(t.failed, text(t)).toBeNull();
      expect({ args, exitCode: t.exitCode }).toEqual({ args, exitCode: 130 });
      expect(text(t)).toContain('Cancelled; nothing was changed.');
      expect(sharing(db, 'billing').scope).toBe('CurrentWorkspaceOnly');
      expect(events(db)).toHaveLength(before);
    }
  });

  it('a refused change is refused before any question, and the denial is recorded', async () => {
    const db = copy();
    const before = events(db).length;
    const t = await onTerminal(db, ['set-scope', 'shared', 'current'], []);
    expect(t.exitCode).toBe(3);
    expect(text(t)).toMatch(/^ddx-share: CurrentWorkspaceOnly would take shared away from 1/m);
    expect(text(t)).not.toContain('Apply this change?');
    expect(events(db).slice(before)).toEqual([
      expect.objectContaining({
        action: 'app.set-scope',
        outcome: 'denied',
        code: 'SCOPE_CHANGE_STRANDS_INSTALLS',
      }),
    ]);
    expect(sharing(db, 'shared').scope).toBe('AllChildWorkspaces');
  });

  it('nothing to change: no question', async () => {
    const t = await onTerminal(copy(), ['set-scope', 'billing', 'current'], []);
    expect(t.exitCode).toBe(0);
    expect(text(t)).toContain('Nothing to change: billing already has CurrentWorkspaceOnly.');
  });

  it('--yes applies without asking; --dry-run never asks', async () => {
    const db = copy();
    const dry = await onTerminal(db, ['set-scope', 'billing', 'all', '--dry-run'], []);
    expect(dry.exitCode).toBe(0);
    expect(text(dry)).toContain('Dry run: nothing was written.');
    expect(text(dry)).not.toContain('Apply this change?');
    const yes = await onTerminal(db, ['set-scope', 'billing', 'all', '--yes'], []);
    expect(yes.exitCode).toBe(0);
    expect(text(yes)).toContain('Changed billing: CurrentWorkspaceOnly -> AllWorkspaces');
    expect(text(yes)).not.toContain('Apply this change?');
    expect(sharing(db, 'billing').scope).toBe('AllWorkspaces');
  });

  it('--json never prompts, even on a terminal', async () => {
    for (const args of [
      ['set-scope', '--json'],
      ['set-scope', 'billing', '--json'],
    ]) {
      const t = await onTerminal(copy(), args, []);
      expect(t.exitCode).toBe(2);
      const doc = JSON.parse(text(t).trim());
      expect(doc.error.code).toBe('USAGE');
      expect(text(t)).not.toContain('?');
    }
    const ok = await onTerminal(copy(), ['set-scope', 'billing', 'children', '--json'], []);
    expect(ok.exitCode).toBe(0);
    expect(JSON.parse(text(ok).trim())).toMatchObject({ changed: true, dryRun: false });
  });
});

describe('set-scope without a terminal never asks', () => {
  it('a missing argument is a usage error that says what to pass (exit 2)', async () => {
    const db = copy();
    const cases: [string[], string][] = [
      [['set-scope'], 'ddx-share: set-scope needs an app id.\nPass it as the first argument.\n'],
      [
        ['set-scope', 'billing'],
        'ddx-share: set-scope needs a scope.\nPass one of current, children, all, custom ' +
          '(or --add/--remove to edit a custom list).\n',
      ],
      [
        ['set-scope', 'billing', 'custom'],
        'ddx-share: CustomWorkspaceAccess needs its list of workspaces.\n' +
          'Pass --workspaces <id,...>.\n',
      ],
    ];
    for (const [args, stderr] of cases) {
      const r = await cli(db, args, { input: 'y\n' });
      expect(r).toEqual({ exitCode: 2, stdout: '', stderr });
      const j = await cli(db, [...args, '--json']);
      expect(j.exitCode).toBe(2);
      expect(jsonError(j.stderr).code).toBe('USAGE');
    }
  });

  it('a complete command applies at once, with no confirmation', async () => {
    const db = copy();
    const r = await cli(db, ['set-scope', 'billing', 'children']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^Changed billing/);
    expect(r.stderr).toBe('');
    expect(sharing(db, 'billing').scope).toBe('AllChildWorkspaces');
  });
});

describe('colour on a terminal', () => {
  it('is on by default and off with NO_COLOR', async () => {
    const db = copy();
    const spec = (env: Record<string, string>) =>
      onPty({
        argv: [process.execPath, BIN, 'workspace', 'list'],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm', DDX_SHARE_DB: db, ...env },
        cwd: ROOT,
        steps: [],
        timeout: 15,
      });
    const coloured = await spec({});
    expect(coloured.output).toContain('\u001b[1mid');
    const plain = await spec({ NO_COLOR: '1' });
    expect(plain.output).not.toContain('\u001b[1m');
  });
});
