import type { AuditEvent, AuditFilter } from '../../audit/event.js';
import { PAGE, toEvent, type EventRowDb } from './rows.js';

// The audit trail, read as the SQLite reader reads it: bounded by seq wherever a filter allows,
// in keyset pages, oldest first.

type Row = Record<string, string | null>;
export type Query = (sql: string, params: unknown[]) => Promise<Row[]>;

export async function* auditEvents(query: Query, filter: AuditFilter): AsyncIterable<AuditEvent> {
  const params: unknown[] = [];
  const clauses = ['true'];
  const add = (column: string, value: string | undefined): void => {
    if (value === undefined) return;
    params.push(value);
    clauses.push(`${column} = $${params.length}`);
  };
  add('target', filter.target);
  add('actor', filter.actor);
  add('action', filter.action);
  add('outcome', filter.outcome);
  if (filter.since !== undefined) {
    params.push(filter.since);
    clauses.push(`at >= $${params.length}`);
  }
  const where = clauses.join(' AND ');
  const n = params.length;
  const rows = (sql: string, more: unknown[]): Promise<Row[]> => query(sql, [...params, ...more]);

  let from = filter.fromSeq ?? 1;
  if (filter.since !== undefined) {
    // Times rise with seq, so the first event at or after `since` bounds the scan by seq.
    const [first] = await query('SELECT min(seq) AS s FROM audit_events WHERE at >= $1', [
      filter.since,
    ]);
    if (first?.s == null) return;
    from = Math.max(from, Number(first.s));
  }
  if (filter.limit !== undefined) {
    if (filter.limit <= 0) return;
    // The newest `limit` matching events, printed oldest first: find where they start.
    const [start] = await rows(
      `SELECT seq FROM audit_events WHERE ${where} AND seq >= $${n + 1} ` +
        `ORDER BY seq DESC LIMIT 1 OFFSET $${n + 2}`,
      [from, filter.limit - 1],
    );
    if (start) from = Number(start.seq);
  }
  const page =
    `SELECT * FROM audit_events WHERE ${where} AND seq >= $${n + 1} ` +
    `ORDER BY seq LIMIT $${n + 2}`;
  for (;;) {
    const got = (await rows(page, [from, PAGE])) as unknown as EventRowDb[];
    for (const r of got) yield toEvent(r);
    if (got.length < PAGE) return;
    from = Number(got[got.length - 1]!.seq) + 1;
  }
}
