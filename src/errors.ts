import { RULE_CODES, type Denial, type RuleCode } from './rules/codes.js';
import type { RuleId } from './rules/types.js';

/** Codes that are not rules: bad input, the state of the database, integrity findings. */
export const TOOL_CODES = [
  'USAGE',
  'INVALID_INPUT',
  'PLAN_INVALID',
  'PLAN_STALE',
  'DB_NEEDS_MIGRATE',
  'DB_NEWER',
  'DB_MIGRATION_MODIFIED',
  'DB_MIGRATION_MISSING',
  'DB_MIGRATION_OUT_OF_ORDER',
  'DB_LOCKED',
  'DB_NOT_A_DATABASE',
  'DB_UNAVAILABLE',
  'DB_FULL',
  'AUDIT_CHAIN_BROKEN',
  'INTEGRITY_VIOLATION',
  'CANCELLED',
  'INTERNAL',
] as const;
export type ToolCode = (typeof TOOL_CODES)[number];
export type ErrorCode = RuleCode | ToolCode;

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  denied: 3,
  notFound: 4,
  database: 5,
  integrity: 6,
  cancelled: 130,
} as const;

/** The one map from an error code to the process exit code. */
export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'USAGE':
    case 'INVALID_INPUT':
    case 'PLAN_INVALID':
    case 'ACTOR_REQUIRED':
      return EXIT.usage;
    case 'UNKNOWN_WORKSPACE':
    case 'UNKNOWN_APP':
      return EXIT.notFound;
    case 'DB_NEEDS_MIGRATE':
    case 'DB_NEWER':
    case 'DB_MIGRATION_MODIFIED':
    case 'DB_MIGRATION_MISSING':
    case 'DB_MIGRATION_OUT_OF_ORDER':
    case 'DB_LOCKED':
    case 'DB_NOT_A_DATABASE':
    case 'DB_UNAVAILABLE':
    case 'DB_FULL':
      return EXIT.database;
    case 'AUDIT_CHAIN_BROKEN':
    case 'INTEGRITY_VIOLATION':
      return EXIT.integrity;
    case 'CANCELLED':
      return EXIT.cancelled;
    case 'INTERNAL':
      return EXIT.failure;
    default:
      // Every remaining code is a sharing rule's refusal, PLAN_STALE among them.
      return EXIT.denied;
  }
}

/**
 * An expected failure: a stable code, a sentence saying what is wrong, and optionally one saying
 * what to do next. Commands throw it; only the CLI's top level prints it and picks the exit code.
 */
export class DdxError extends Error {
  readonly code: ErrorCode;
  readonly rule: RuleId | null;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { hint?: string; details?: Record<string, unknown>; rule?: RuleId; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DdxError';
    this.code = code;
    this.rule = opts.rule ?? (RULE_CODES as Record<string, RuleId>)[code] ?? null;
    this.hint = opts.hint;
    this.details = opts.details;
  }

  get exitCode(): number {
    return exitCodeFor(this.code);
  }

  static fromDenial(denial: Denial, hint?: string): DdxError {
    const opts: { rule: RuleId; details?: Record<string, unknown>; hint?: string } = {
      rule: denial.rule,
    };
    if (denial.details) opts.details = denial.details;
    if (hint) opts.hint = hint;
    return new DdxError(denial.code, denial.message, opts);
  }

  toJSON(): { error: Record<string, unknown> } {
    return {
      error: {
        code: this.code,
        message: this.hint ? `${this.message} ${this.hint}` : this.message,
        rule: this.rule,
        details: this.details ?? null,
      },
    };
  }
}

export function usage(message: string, hint?: string): DdxError {
  return new DdxError('USAGE', message, hint === undefined ? {} : { hint });
}
