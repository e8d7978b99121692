import { Command, CommanderError, Option } from 'commander';
import type { Context, Result } from './commands/context.js';
import * as cmdM from './commands/migrate.js';
import * as cmdW from './commands/workspace.js';
import * as cmdA from './commands/app.js';
import * as cmdS from './commands/set-scope.js';
import * as cmdI from './commands/install.js';
import * as cmdL from './commands/list.js';
import * as cmdX from './commands/explain.js';
import * as cmdU from './commands/audit.js';
import { DdxError, EXIT } from './errors.js';
import { colorWanted, COLOR, PLAIN } from './io/render.js';
import { safeText } from './io/sanitize.js';
import { openStore, resolveDbLocation } from './store/open.js';
import type { Store } from './store/store.js';
import { VERSION } from './version.js';

// The command table. The everyday commands are bundled in, since loading many small modules
// costs more at start-up than parsing them; bulk files, the demo and PostgreSQL are imported
// only when they run.

interface Globals {
  db?: string;
  actor?: string;
  json?: boolean;
  yes?: boolean;
  color?: boolean;
  verbose?: boolean;
}

type Run = (ctx: Context) => Promise<Result>;

function example(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText(
    'after',
    `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}`,
  );
}

function build(run: (fn: Run, globals: () => Globals) => void): Command {
  const program = new Command('ddx-share')
    .description('Govern who can see and install apps in the DDx API Console.')
    .version(VERSION, '-V, --version')
    .option(
      '--db <path>',
      'SQLite file or postgres:// URL (default: $DDX_SHARE_DB, else the XDG data folder)',
    )
    .option('--actor <email>', 'the staff member making the change (default: $DDX_ACTOR)')
    .option('--json', 'print one JSON document on stdout; never prompt')
    .option('-y, --yes', 'answer yes to every confirmation')
    .option('--no-color', 'plain output (also NO_COLOR)')
    .option('--verbose', 'show stack traces of unexpected errors')
    .showSuggestionAfterError(true)
    .exitOverride();
  const g = (): Globals => program.opts<Globals>();
  const on = (cmd: Command, fn: (...args: any[]) => Run): Command =>
    cmd.action((...args: unknown[]) => run(fn(...args), g));

  const migrate = on(
    example(
      program.command('migrate').description('apply pending migrations'),
      'ddx-share migrate',
    ),
    () => async (ctx) => cmdM.migrateCommand(ctx),
  );
  on(
    example(
      migrate.command('status').description('applied and pending migrations'),
      'ddx-share migrate status --json',
    ),
    () => async (ctx) => cmdM.migrateStatusCommand(ctx),
  );

  const ws = program.command('workspace').description('create and inspect workspaces');
  on(
    example(
      ws
        .command('create')
        .description('create a workspace, or many from --file')
        .argument('[name]', 'the workspace name')
        .addOption(new Option('--kind <kind>', 'organizational or personal'))
        .option('--parent <id>', 'the parent workspace')
        .option('--id <id>', 'the id (default: made from the name)')
        .option(
          '--file <path>',
          'create one workspace per record of a CSV, NDJSON or JSON file (- for stdin)',
        )
        .option('--format <format>', 'csv, ndjson or json (default: from the file extension)')
        .option('--dry-run', 'show what would be created, write nothing'),
      'ddx-share workspace create "Acme EU" --kind organizational --parent acme',
      'ddx-share workspace create --file workspaces.csv --dry-run',
    ),
    (name: string | undefined, o: Record<string, any>) => async (ctx) => {
      if (o.file !== undefined) {
        return (await import('./commands/bulk.js')).bulkWorkspacesCommand(ctx, o as any);
      }
      if (name === undefined || o.kind === undefined) {
        throw new DdxError('USAGE', 'workspace create needs a name and --kind.', {
          hint: 'Example: ddx-share workspace create Acme --kind organizational',
        });
      }
      return cmdW.createWorkspaceCommand(ctx, {
        name,
        ...o,
      } as any);
    },
  );
  on(
    example(
      ws.command('list').description('every workspace').option('--tree', 'draw the hierarchy'),
      'ddx-share workspace list --tree',
    ),
    (o: { tree?: boolean }) => async (ctx) => cmdW.listWorkspacesCommand(ctx, o),
  );
  on(
    example(
      ws.command('show').description('one workspace').argument('<id>'),
      'ddx-share workspace show acme-eu',
    ),
    (id: string) => async (ctx) => cmdW.showWorkspaceCommand(ctx, id),
  );

  const app = program.command('app').description('create and inspect apps');
  on(
    example(
      app
        .command('create')
        .description('create an app (always CurrentWorkspaceOnly), or many from --file')
        .argument('[name]', 'the app name')
        .option('--workspace <id>', 'the workspace that owns it')
        .option('--env <env>', 'development or production (fixed for good)')
        .option('--id <id>', 'the id (default: made from the name)')
        .option(
          '--file <path>',
          'create one app per record of a CSV, NDJSON or JSON file (- for stdin)',
        )
        .option('--format <format>', 'csv, ndjson or json (default: from the file extension)')
        .option('--dry-run', 'show what would be created, write nothing'),
      'ddx-share app create "Billing Sync" --workspace acme --env production',
    ),
    (name: string | undefined, o: Record<string, any>) => async (ctx) => {
      if (o.file !== undefined)
        return (await import('./commands/bulk.js')).bulkAppsCommand(ctx, o as any);
      if (name === undefined || o.workspace === undefined || o.env === undefined) {
        throw new DdxError('USAGE', 'app create needs a name, --workspace and --env.', {
          hint: 'Example: ddx-share app create "Billing Sync" --workspace acme --env production',
        });
      }
      return cmdA.createAppCommand(ctx, { name, ...o } as any);
    },
  );
  on(
    example(
      app.command('show').description('one app, with its installs').argument('<id>'),
      'ddx-share app show billing-sync',
    ),
    (id: string) => async (ctx) => cmdA.showAppCommand(ctx, id),
  );
  on(
    example(
      app
        .command('update')
        .description('rename an app (its environment and owner never change)')
        .argument('<id>')
        .option('--name <name>', 'the new name')
        .option('--env <env>', 'refused: an environment is fixed at creation'),
      'ddx-share app update billing-sync --name "Billing Sync v2"',
    ),
    (id: string, o: { name?: string; env?: string }) => async (ctx) =>
      cmdA.updateAppCommand(ctx, id, o),
  );

  on(
    example(
      program
        .command('set-scope')
        .description("set a production app's sharing scope, or approve many from --file")
        .argument('[app]', 'the app id (prompted for on a terminal)')
        .argument('[scope]', 'current, children, all or custom (any spelling)')
        .option('--workspaces <ids>', 'the custom access list (replaces it)')
        .option('--add <ids>', 'add to the custom access list')
        .option('--remove <ids>', 'remove from the custom access list')
        .option('--ticket <ref>', 'the support ticket behind the change')
        .option('--reason <text>', 'why')
        .option('--revoke-installs', 'also remove installs the new scope no longer covers')
        .option('--dry-run', 'show what would change, write nothing')
        .option(
          '--file <path>',
          'one request per record of a CSV, NDJSON or JSON file (- for stdin)',
        )
        .option('--format <format>', 'csv, ndjson or json (default: from the file extension)')
        .option('--save-plan <path>', 'with --dry-run and --file: save the plan for apply-plan'),
      'ddx-share set-scope billing-sync all --ticket SUP-1234',
      'ddx-share set-scope billing-sync custom --workspaces globex,initech',
      'ddx-share set-scope --file approvals.csv --dry-run --save-plan approvals.plan.json',
    ),
    (appId: string | undefined, scope: string | undefined, o: Record<string, any>) =>
      async (ctx) => {
        if (o.file !== undefined)
          return (await import('./commands/bulk.js')).bulkScopeCommand(ctx, o as any);
        if (o.savePlan !== undefined) {
          throw new DdxError('USAGE', '--save-plan goes with --file and --dry-run.');
        }
        return cmdS.setScopeCommand(ctx, {
          app: appId,
          scope,
          ...o,
        });
      },
  );
  on(
    example(
      program
        .command('apply-plan')
        .description('apply exactly the changes of a saved plan')
        .argument('<path>'),
      'ddx-share apply-plan approvals.plan.json',
    ),
    (path: string) => async (ctx) =>
      (await import('./commands/apply-plan.js')).applyPlanCommand(ctx, path),
  );
  for (const [verb, un] of [
    ['install', false],
    ['uninstall', true],
  ] as const) {
    on(
      example(
        program
          .command(verb)
          .description(un ? 'remove an install' : 'install an app into a workspace that sees it')
          .argument('<app>')
          .requiredOption('--workspace <id>', 'the installing workspace'),
        `ddx-share ${verb} billing-sync --workspace acme-eu`,
      ),
      (appId: string, o: { workspace: string }) => async (ctx) =>
        cmdI.installCommand(ctx, appId, o, un),
    );
  }
  on(
    example(
      program
        .command('list')
        .description('apps, filtered; with --visible-to, what one workspace sees')
        .option('--env <env>', 'development or production')
        .option('--scope <scope>', 'a sharing scope')
        .option('--workspace <id>', 'apps owned by this workspace')
        .option(
          '--visible-to <id>',
          'apps this workspace sees, with installable/adminApi/installed',
        )
        .option('--shared', 'only apps with a cross-workspace scope')
        .option('--format <format>', 'table, json, ndjson or csv'),
      'ddx-share list --visible-to acme-eu --format csv',
    ),
    (o: Record<string, any>) => async (ctx) => cmdL.listCommand(ctx, o),
  );
  on(
    example(
      program
        .command('explain')
        .description('does a workspace see, install, get from the Admin API an app, and why')
        .argument('<app>')
        .requiredOption('--workspace <id>', 'the workspace asking'),
      'ddx-share explain billing-sync --workspace globex',
    ),
    (appId: string, o: { workspace: string }) => async (ctx) => cmdX.explainCommand(ctx, appId, o),
  );
  on(
    example(
      program
        .command('audience')
        .description('every workspace that sees the app, and how')
        .argument('<app>'),
      'ddx-share audience billing-sync',
    ),
    (appId: string) => async (ctx) => cmdX.audienceCommand(ctx, appId),
  );

  const audit = program.command('audit').description('the tamper-evident audit trail');
  on(
    example(
      audit
        .command('log')
        .description('events, oldest first')
        .option('--app <id>', 'events about this app or workspace')
        .option('--actor <email>', 'events by this staff member')
        .option('--action <action>', 'workspace.create, app.create, app.set-scope, ...')
        .option('--outcome <outcome>', 'applied or denied')
        .option('--since <iso-date>', 'events at or after this time')
        .option('--limit <n>', 'only the newest n')
        .option('--format <format>', 'table, json, ndjson or csv'),
      'ddx-share audit log --app billing-sync --outcome denied',
    ),
    // `audit log` never changes anything, so there --actor can only be the filter.
    (o: Record<string, any>) => async (ctx) =>
      cmdU.auditLogCommand(ctx, { ...o, actor: g().actor }),
  );
  on(
    example(
      audit
        .command('verify')
        .description('recompute the hash chain')
        .option('--head <seq:hash>', 'also prove the chain still holds this earlier head'),
      'ddx-share audit verify --head 42:9f86d081884c7d65...',
    ),
    (o: { head?: string }) => async (ctx) => cmdU.auditVerifyCommand(ctx, o),
  );
  on(
    example(
      audit.command('head').description("the chain's latest seq and hash, to keep elsewhere"),
      'ddx-share audit head',
    ),
    () => async (ctx) => cmdU.auditHeadCommand(ctx),
  );
  on(
    example(
      audit
        .command('check')
        .description("scan the data and the database's guards for anything the rules forbid"),
      'ddx-share audit check',
    ),
    () => async (ctx) => cmdU.auditCheckCommand(ctx),
  );
  on(
    example(
      program
        .command('backup')
        .description('an online, consistent copy of the database')
        .argument('<path>')
        .option('--force', 'replace an existing file'),
      'ddx-share backup ~/ddx-backups/2026-12-03.db',
    ),
    (path: string, o: { force?: boolean }) => async (ctx) => cmdU.backupCommand(ctx, path, o),
  );
  on(
    example(
      program
        .command('demo')
        .description('build a sample organisation in a fresh database and tour it'),
      'ddx-share demo',
    ),
    () => async (ctx) => (await import('./commands/demo.js')).demoCommand(ctx, g().db),
  );
  return program;
}

export { setEsmImporter } from './io/esm.js';

/** Runs the CLI and returns the exit code; nothing below this function exits the process. */
export async function main(argv: string[]): Promise<number> {
  watchStdout();
  let pending: { fn: Run; globals: () => Globals } | undefined;
  const program = build((fn, globals) => {
    pending = { fn, globals };
  });
  const errOut: string[] = [];
  program.configureOutput({
    writeOut: (s) => process.stdout.write(s),
    writeErr: (s) => errOut.push(s),
  });
  for (const cmd of allCommands(program)) {
    cmd.exitOverride().configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => errOut.push(s),
    });
  }
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.ok;
      if (err.code === 'commander.help') return report(missingCommand(program, argv), json, false);
      const text =
        errOut
          .join('')
          .replace(/^error: /, '')
          .trim()
          // Commander puts its "(Did you mean ...?)" on a line of its own: keep one sentence.
          .replace(/\s*\n\s*/g, ' ') || err.message;
      return report(new DdxError('USAGE', text, { hint: 'See `ddx-share --help`.' }), json, false);
    }
    throw err;
  }
  if (!pending) {
    process.stdout.write(program.helpInformation());
    return EXIT.ok;
  }
  const globals = pending.globals();
  return execute(pending.fn, globals);
}

/** `ddx-share workspace` alone: name the command that wants a subcommand, and its choices. */
function missingCommand(program: Command, argv: readonly string[]): DdxError {
  let cmd = program;
  const path = [program.name()];
  for (const arg of argv) {
    const next = cmd.commands.find((c) => c.name() === arg);
    if (!next) break;
    cmd = next;
    path.push(next.name());
  }
  const names = cmd.commands.map((c) => c.name()).filter((n) => n !== 'help');
  const what = path.length > 1 ? `${path.slice(1).join(' ')} needs a command` : 'Name a command';
  return new DdxError('USAGE', `${what}: ${names.join(', ')}.`, {
    hint: `See \`${path.join(' ')} --help\`.`,
  });
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

async function execute(fn: Run, g: Globals): Promise<number> {
  const json = g.json ?? false;
  const stores: Store[] = [];
  const ctx: Context = {
    db: resolveDbLocation(g.db),
    actor: g.actor ?? process.env.DDX_ACTOR,
    json,
    yes: g.yes ?? false,
    interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY) && !json && !g.yes,
    style: colorWanted({
      noColor: g.color === false,
      isTTY: Boolean(process.stdout.isTTY),
      env: process.env,
    })
      ? COLOR
      : PLAIN,
    now: () => new Date().toISOString(),
    openStore: async (opts) => {
      const store = await openStore(ctx.db, opts);
      stores.push(store);
      return store;
    },
    note: (text) => process.stderr.write(`${text}\n`),
    stderrIsTTY: Boolean(process.stderr.isTTY),
  };
  try {
    const result = await fn(ctx);
    if (result.kind === 'value') {
      await print(json ? `${JSON.stringify(result.json)}\n` : `${result.text()}\n`);
    } else {
      // Rows are gathered into writes of about 64 KiB: one write per row of a million-app
      // listing costs more than producing the rows.
      let pending = '';
      for await (const chunk of result.lines) {
        pending += chunk;
        if (pending.length >= 65_536) {
          await print(pending);
          pending = '';
        }
      }
      if (pending) await print(pending);
    }
    return result.exitCode ?? EXIT.ok;
  } catch (err) {
    if (err instanceof StdoutClosed) return EXIT.ok;
    return report(err, json, g.verbose ?? Boolean(process.env.DEBUG));
  } finally {
    for (const s of stores) await s.close().catch(() => undefined);
  }
}

// A reader that stops early (`ddx-share list | head`) closes the pipe: the rest of the output
// is not wanted, which is no error of ours, so printing stops quietly instead of crashing on
// an unhandled EPIPE.
class StdoutClosed extends Error {}
let stdoutClosed = false;
let watchingStdout = false;

function watchStdout(): void {
  if (watchingStdout) return;
  watchingStdout = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    stdoutClosed = true;
    process.stdout.emit('drain');
  });
}

function print(text: string): Promise<void> | void {
  if (stdoutClosed) throw new StdoutClosed();
  if (process.stdout.write(text)) return;
  return new Promise((resolve, reject) =>
    process.stdout.once('drain', () => (stdoutClosed ? reject(new StdoutClosed()) : resolve())),
  );
}

function report(err: unknown, json: boolean, verbose: boolean): number {
  if (err instanceof DdxError) {
    if (json) process.stderr.write(`${JSON.stringify(err.toJSON())}\n`);
    else {
      const hint = err.hint ? `\n${safeText(err.hint)}` : '';
      process.stderr.write(`ddx-share: ${safeText(err.message)}${hint}\n`);
    }
    if (verbose && err.cause instanceof Error) process.stderr.write(`${err.cause.stack}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (json) {
    const body = { error: { code: 'INTERNAL', message, rule: null, details: null } };
    process.stderr.write(`${JSON.stringify(body)}\n`);
  } else {
    process.stderr.write(
      `ddx-share: unexpected error: ${safeText(message)}\n` +
        'This is a bug; please report it with the command you ran. --verbose shows the stack.\n',
    );
  }
  if (verbose && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return EXIT.failure;
}
