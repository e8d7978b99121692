import type { Finding } from './store.js';

/**
 * Compares the guards a database has with those its migrations create, both given as name to
 * definition, and names each one that is gone or differs. Both backends build the two maps their
 * own way and share this verdict.
 */
export function compareGuards(want: Map<string, string>, have: Map<string, string>): Finding[] {
  const findings: Finding[] = [];
  for (const [name, def] of want) {
    const got = have.get(name);
    if (got === undefined) {
      findings.push({
        rule: 'guard',
        code: 'GUARD_MISSING',
        target: name,
        message: `The database has lost ${name}; raw SQL is no longer refused there.`,
      });
    } else if (got !== def) {
      findings.push({
        rule: 'guard',
        code: 'GUARD_CHANGED',
        target: name,
        message: got.endsWith(' (disabled)')
          ? `${name} is disabled; raw SQL is no longer refused there.`
          : `${name} differs from the one its migrations created.`,
      });
    }
  }
  return findings;
}
