import type { RuleId } from './types.js';

/** The codes a rule reports when it refuses a request, with the rule that owns each. */
export const RULE_CODES = {
  PRODUCTION_REQUIRES_ORGANIZATIONAL_WORKSPACE: 'R1',
  ENVIRONMENT_IMMUTABLE: 'R3',
  DEVELOPMENT_APP_NOT_SHAREABLE: 'R4',
  CUSTOM_ACCESS_REQUIRES_WORKSPACES: 'R5',
  DUPLICATE_WORKSPACE: 'R5',
  OWNER_IN_ACCESS_LIST: 'R5',
  WORKSPACES_REQUIRE_CUSTOM_SCOPE: 'R5',
  SCOPE_CHANGE_STRANDS_INSTALLS: 'R7',
  NOT_INSTALLABLE: 'R9',
  ALREADY_INSTALLED: 'R9',
  NOT_INSTALLED: 'R9',
  ACTOR_REQUIRED: 'R11',
  ALREADY_EXISTS: 'R12',
  UNKNOWN_WORKSPACE: 'R12',
  UNKNOWN_APP: 'R12',
} as const satisfies Record<string, RuleId>;

export type RuleCode = keyof typeof RULE_CODES;

/** A refusal: which rule, its stable code, a sentence for a person, and structured details. */
export interface Denial {
  ok: false;
  rule: RuleId;
  code: RuleCode;
  message: string;
  details?: Record<string, unknown>;
}

export type Decision<T> = ({ ok: true } & T) | Denial;

export function deny(code: RuleCode, message: string, details?: Record<string, unknown>): Denial {
  return details === undefined
    ? { ok: false, rule: RULE_CODES[code], code, message }
    : { ok: false, rule: RULE_CODES[code], code, message, details };
}
