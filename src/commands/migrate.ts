import { DdxError } from '../errors.js';
import { table } from '../io/render.js';
import type { MigrationStatus } from '../store/store.js';
import { value, type Context, type Result } from './context.js';

function render(ctx: Context, status: MigrationStatus, verb: string): Result {
  return value(status, () => {
    const rows = status.migrations.map((m) => [
      String(m.version).padStart(4, '0'),
      m.name,
      m.state,
      m.appliedAt,
      m.checksum.slice(0, 12),
    ]);
    return (
      `${verb} ${status.current}.\n` +
      table(['version', 'name', 'state', 'applied', 'checksum'], rows, ctx.style)
    );
  });
}

export async function migrateCommand(ctx: Context): Promise<Result> {
  const store = await ctx.openStore({ forMigrate: true });
  return render(ctx, await store.migrate(), 'The database is at migration');
}

export async function migrateStatusCommand(ctx: Context): Promise<Result> {
  const store = await ctx.openStore({ forMigrate: true });
  try {
    return render(ctx, await store.migrationStatus(), 'The database is at migration');
  } catch (err) {
    // A broken history is still shown (with its modified rows), and the exit code says why.
    const status = (err as { status?: MigrationStatus }).status;
    if (!(err instanceof DdxError) || !status) throw err;
    ctx.note(`${err.message}${err.hint ? ` ${err.hint}` : ''}`);
    const shown = render(ctx, status, 'The database is at migration');
    return { ...shown, exitCode: err.exitCode };
  }
}
