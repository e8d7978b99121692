import { DdxError } from '../errors.js';
import type { Style } from '../io/render.js';
import { decideActor } from '../rules/decide.js';
import type { Store } from '../store/store.js';
import type { Meta } from '../service/changes.js';

/** What every command is given: the database, who is acting, and how to talk to people. */
export interface Context {
  /** The database location, already resolved (a file path or a postgres:// URL). */
  db: string;
  actor: string | undefined;
  json: boolean;
  yes: boolean;
  /** Prompts are allowed: stdin and stdout are terminals and neither --json nor --yes given. */
  interactive: boolean;
  style: Style;
  now(): string;
  openStore(opts?: { forMigrate?: boolean }): Promise<Store>;
  /** A line for people, on stderr. */
  note(text: string): void;
  /** Whether stderr is a terminal, for progress bars. */
  stderrIsTTY: boolean;
}

export type Result =
  | { kind: 'value'; json: unknown; text: () => string; exitCode?: number }
  | { kind: 'lines'; lines: AsyncIterable<string>; exitCode?: number };

export function value(json: unknown, text: () => string, exitCode?: number): Result {
  return exitCode === undefined
    ? { kind: 'value', json, text }
    : { kind: 'value', json, text, exitCode };
}

/** R11: the actor is needed before any change is attempted, so even a denial names someone. */
export function metaFor(
  ctx: Context,
  extra: { ticket?: string | undefined; reason?: string | undefined; batch?: string | null } = {},
): Meta {
  const d = decideActor(ctx.actor);
  if (!d.ok) {
    throw DdxError.fromDenial(d, 'Pass --actor <email> or set DDX_ACTOR.');
  }
  return {
    actor: d.actor,
    at: ctx.now(),
    ticket: extra.ticket ?? null,
    reason: extra.reason ?? null,
    batch: extra.batch ?? null,
  };
}
