import pg from 'pg';
import { DdxError } from '../../errors.js';

/** How long a writer waits for another to finish before giving up with exit 5. */
export const LOCK_TIMEOUT_MS = 10_000;
/** How long opening a connection may take before the server counts as unreachable. */
export const CONNECT_TIMEOUT_MS = 5_000;

/** Where the database is, as parsed from a postgres:// URL; only `connect` holds the secret. */
export interface Location {
  /** The URL without its password, safe to print. */
  label: string;
  host: string;
  port: string;
  database: string;
  /** The schema named by `?schema=`, if any; tables live there instead of the default one. */
  schema: string | null;
  /** What pg is given: the URL minus our own parameters, plus startup options. */
  connect: pg.PoolConfig;
  /** Every spelling of the password, so no message can ever repeat it. */
  secrets: string[];
}

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

export function parseLocation(url: string): Location {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Whatever comes before the last @ may hold a password: never echo it.
    const masked = url.replace(/\/\/.*@/, '//***@');
    throw new DdxError('USAGE', `${masked} is not a valid PostgreSQL URL.`, {
      hint: 'Use postgres://user@host:5432/database.',
    });
  }
  const q = u.searchParams;
  const secrets = [u.password, safeDecode(u.password), q.get('password') ?? ''].filter(Boolean);
  const schema = q.get('schema');
  if (schema !== null && !SCHEMA.test(schema)) {
    throw new DdxError('USAGE', `The schema name "${schema}" is not a plain lower-case name.`, {
      hint: 'Use letters, digits and underscores, starting with a letter.',
    });
  }
  // The URL pg sees: our own parameter removed, since pg would pass it to the server.
  const forPg = new URL(u.href);
  forPg.searchParams.delete('schema');
  forPg.searchParams.delete('options');
  const options = [q.get('options'), schema && `-c search_path=${schema}`].filter(Boolean);

  const shown = new URL(u.href);
  shown.password = '';
  shown.searchParams.delete('password');
  const user = safeDecode(u.username) || process.env.PGUSER || process.env.USER || '';
  return {
    label: shown.href,
    host: safeDecode(u.hostname) || q.get('host') || process.env.PGHOST || 'localhost',
    port: u.port || q.get('port') || process.env.PGPORT || '5432',
    database: safeDecode(u.pathname.slice(1)) || process.env.PGDATABASE || user,
    schema,
    connect: {
      connectionString: forPg.href,
      ...(options.length > 0 ? { options: options.join(' ') } : {}),
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      application_name: 'ddx-share',
      // A CLI process does one thing at a time; the second connection lets a command stream
      // from a snapshot while it writes.
      max: 2,
      allowExitOnIdle: true,
    },
    secrets,
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function createPool(loc: Location): pg.Pool {
  const pool = new pg.Pool(loc.connect);
  // An idle connection the server drops would otherwise crash the process; the next query on
  // the pool reports the problem instead.
  pool.on('error', () => undefined);
  return pool;
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  '28000', // invalid authorization
  '28P01', // wrong password
  '3D000', // no such database
  '57P01', // the server is shutting down
  '57P02',
  '57P03', // the server is starting up
  '53300', // too many connections
]);

/** Turns what pg or the server said into one sentence naming host, port and database. */
export function pgError(err: unknown, loc: Location): unknown {
  if (err instanceof DdxError) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  const said = scrub(err instanceof Error ? err.message : String(err), loc);
  const where = `database ${loc.database} at ${loc.host}:${loc.port}`;
  if (
    UNREACHABLE.has(code) ||
    code.startsWith('08') ||
    /timeout expired|timeout exceeded|connection timeout|Connection terminated/i.test(said)
  ) {
    return new DdxError('DB_UNAVAILABLE', `Cannot use the PostgreSQL ${where}: ${said}.`, {
      hint: 'Check the URL in --db or DDX_SHARE_DB, and that the server is running.',
      cause: err,
    });
  }
  if (code === '55P03' || code === '57014' || code === '40001' || code === '40P01') {
    return new DdxError(
      'DB_LOCKED',
      `The PostgreSQL ${where} stayed locked by another writer for too long (${said}).`,
      { hint: 'Try again when the other ddx-share command has finished.', cause: err },
    );
  }
  if (code === '53100') {
    return new DdxError(
      'DB_FULL',
      `The disk of the PostgreSQL ${where} is full; nothing was written.`,
      {
        hint: 'Free some space on the server and run the command again.',
        cause: err,
      },
    );
  }
  return err;
}

function scrub(text: string, loc: Location): string {
  let out = text.replace(/\.$/, '');
  for (const s of loc.secrets) out = out.split(s).join('***');
  return out;
}

// Prepared once per connection and reused: a bulk change runs the same few statements many
// times, and skipping the parse and plan of each is most of the cost of a point lookup.
const statementNames = new Map<string, string>();

/** One connection inside one transaction. */
export class Conn {
  constructor(readonly client: pg.PoolClient) {}

  async rows<R>(text: string, values: readonly unknown[] = []): Promise<R[]> {
    let name = statementNames.get(text);
    if (name === undefined) {
      name = `ddx_${statementNames.size}`;
      statementNames.set(text, name);
    }
    const result = await this.client.query({ name, text, values: values as unknown[] });
    return result.rows as R[];
  }
}
