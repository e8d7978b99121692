import { DdxError } from '../../errors.js';
import type { Store } from '../store.js';

// Team mode arrives with the PostgreSQL backend; until then a postgres:// location is refused
// with a clear sentence rather than mistaken for a file name.
export const PostgresStore = {
  async open(location: string, _opts: { forMigrate?: boolean }): Promise<Store> {
    const safe = location.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
    throw new DdxError('DB_UNAVAILABLE', `The PostgreSQL backend is not available yet (${safe}).`, {
      hint: 'Use a SQLite file with --db for now.',
    });
  },
};
