import type { Action, Outcome } from '../rules/types.js';

/** What a command says happened; the store adds the seq and the hashes when it appends. */
export interface EventInput {
  at: string;
  actor: string;
  action: Action;
  /** The app or workspace the change is about. */
  target: string;
  outcome: Outcome;
  /** The rule's code for a denial; null when applied. */
  code: string | null;
  /** The changed fields before and after, or null where there is no such side. */
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  ticket: string | null;
  reason: string | null;
  /** Shared by every event of one bulk file or plan. */
  batch: string | null;
}

/** An event as stored: before and after are kept as the exact canonical JSON that was hashed. */
export interface AuditEvent extends Omit<EventInput, 'before' | 'after' | 'action' | 'outcome'> {
  seq: number;
  action: string;
  outcome: string;
  before: string | null;
  after: string | null;
  prevHash: string;
  hash: string;
}

export interface AuditFilter {
  /** Events whose target is this app or workspace. */
  target?: string;
  actor?: string;
  action?: string;
  outcome?: string;
  /** ISO 8601; events at or after it. */
  since?: string;
  /** At most this many, the newest ones, still printed oldest first. */
  limit?: number;
  /** Events with seq at or after this, for paging through the chain. */
  fromSeq?: number;
}
