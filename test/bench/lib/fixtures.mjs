import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { EVENT_COLUMNS, eventValues, GENESIS, nextEvent } from './chain.mjs';

// The databases and input files the figures run on. Large ones are generated once, straight
// into SQLite with better-sqlite3 in one transaction (the CLI would take minutes), on a schema
// made by the binary's own `migrate`, so every table, index and trigger is the real one and the
// triggers check the generated rows as they go in.

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const CACHE = join(ROOT, 'test/bench/.cache');
export const ACTOR = 'bench@ddx.example';
const SEED_AT = '2026-01-01T00:00:00.000Z';
const SEED_BATCH = '00000000-0000-4000-8000-00000000be0c';

export const wsId = (i) => `ws${String(i).padStart(6, '0')}`;
export const appId = (i) => `app${String(i).padStart(7, '0')}`;

/** mulberry32: a small seeded generator, so the same parameters give the same database. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A forest: the first `roots` workspaces are roots, each later one hangs under a random earlier
 * organizational workspace above the depth cap. Uniform attachment makes old workspaces big
 * (a few huge organisations, many small ones); parents always come before their children.
 */
export function makeTree({ workspaces: n, roots, maxDepth, personalShare, seed }) {
  const rand = rng(seed);
  const parent = new Int32Array(n).fill(-1);
  const depth = new Uint8Array(n);
  const personal = new Uint8Array(n);
  const paths = new Array(n);
  const eligible = [];
  for (let i = 0; i < n; i++) {
    if (i < roots) {
      depth[i] = 1;
      paths[i] = `/${wsId(i)}/`;
      eligible.push(i);
      continue;
    }
    const p = eligible[Math.floor(rand() * eligible.length)];
    parent[i] = p;
    depth[i] = depth[p] + 1;
    paths[i] = `${paths[p]}${wsId(i)}/`;
    personal[i] = rand() < personalShare ? 1 : 0;
    if (!personal[i] && depth[i] < maxDepth) eligible.push(i);
  }
  const size = new Int32Array(n).fill(1);
  for (let i = n - 1; i >= roots; i--) size[parent[i]] += size[i];
  return { n, parent, depth, personal, paths, size };
}

/** A checksum of one dialect's migration files, names and contents. */
export function schemaChecksum(dialect) {
  const h = createHash('sha256');
  const dir = join(ROOT, 'migrations', dialect);
  for (const f of readdirSync(dir).sort()) h.update(f).update(readFileSync(join(dir, f)));
  return h.digest('hex');
}

/** The schema checksum and everything else that shapes a cached database. */
function cacheKey(name, params) {
  const h = createHash('sha256').update(schemaChecksum('sqlite'));
  for (const f of ['fixtures.mjs', 'chain.mjs'])
    h.update(readFileSync(new URL(f, import.meta.url)));
  h.update(JSON.stringify({ name, params }));
  return h.digest('hex').slice(0, 12);
}

/**
 * The cached database for these parameters, generated if missing. Returns its path and the
 * facts the figures need (which workspace to ask about, counts). Stale copies are removed.
 */
export function cachedDb(name, params, cli, log) {
  const key = cacheKey(name, params);
  const file = join(CACHE, `${name}-${key}.db`);
  const metaFile = `${file}.json`;
  if (existsSync(file) && existsSync(metaFile)) {
    return { file, ...JSON.parse(readFileSync(metaFile, 'utf8')), cached: true };
  }
  // Another key's copy is stale: the schema, the generator or its parameters changed.
  const stale = new RegExp(`^${name}-(?!${key})[0-9a-f]{12}\\.db`);
  for (const f of readdirSync(CACHE)) if (stale.test(f)) rmSync(join(CACHE, f));
  const tmp = `${file}.tmp-${process.pid}`;
  const t0 = performance.now();
  log(`generating ${name} (${JSON.stringify(params)}) ...`);
  const meta = generate(tmp, params, cli);
  renameSync(tmp, file);
  writeFileSync(metaFile, JSON.stringify(meta, null, 2));
  const mib = statSync(file).size / 2 ** 20;
  log(`  done in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${mib.toFixed(0)} MiB`);
  return { file, ...meta, cached: false };
}

/** An empty database migrated by the binary itself: the real schema and triggers. */
function migrated(file, cli) {
  for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
  cli(['--db', file, 'migrate', '--json']);
  const db = new Database(file);
  // Only for generating: nothing here needs to survive a crash, the file is renamed when done.
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -524288');
  return db;
}

function generate(file, p, cli) {
  const tree = makeTree(p);
  const db = migrated(file, cli);
  const rand = rng(p.seed + 1);
  const counts = { workspaces: tree.n, apps: 0, production: 0, installs: 0, access: 0 };
  const shared = { AllWorkspaces: [], AllChildWorkspaces: [], CustomWorkspaceAccess: [] };
  const lists = new Map();
  const production = [];
  db.transaction(() => {
    insertWorkspaces(db, tree);
    const ins = db.prepare(
      'INSERT INTO apps (id, name, workspace_id, environment, scope, created_at, updated_at) ' +
        "VALUES (?, ?, ?, ?, 'CurrentWorkspaceOnly', ?, ?)",
    );
    for (let a = 0; a < p.apps; a++) {
      const owner = Math.floor(rand() * tree.n);
      const prod = !tree.personal[owner] && rand() < p.prodShare;
      ins.run(
        appId(a),
        `App ${a}`,
        wsId(owner),
        prod ? 'production' : 'development',
        SEED_AT,
        SEED_AT,
      );
      if (!prod) continue;
      production.push(a);
      // A new app always starts on CurrentWorkspaceOnly (a trigger insists); some are shared.
      const r = rand();
      if (r < p.allShare) shared.AllWorkspaces.push(a);
      else if (r < p.allShare + p.childShare) shared.AllChildWorkspaces.push(a);
      else if (r < p.allShare + p.childShare + p.customShare) {
        shared.CustomWorkspaceAccess.push(a);
        lists.set(a, pickOthers(rand, tree.n, owner, 1 + Math.floor(rand() * p.customMax)));
      }
    }
    counts.apps = p.apps;
    counts.production = production.length;
    const owners = db.prepare('SELECT workspace_id FROM apps WHERE id = ?').pluck();
    const setScope = db.prepare('UPDATE apps SET scope = ? WHERE id = ?');
    const access = db.prepare('INSERT INTO app_access (app_id, workspace_id) VALUES (?, ?)');
    const install = db.prepare(
      'INSERT INTO installs (app_id, workspace_id, installed_at) VALUES (?, ?, ?)',
    );
    for (const [scope, apps] of Object.entries(shared)) {
      for (const a of apps) {
        setScope.run(scope, appId(a));
        for (const w of lists.get(a) ?? []) {
          access.run(appId(a), wsId(w));
          counts.access++;
        }
      }
    }
    if (p.installs) {
      // Installs only where the scope reaches, so `audit check` stays clean.
      for (const a of shared.CustomWorkspaceAccess) {
        if (rand() < 0.5) {
          install.run(appId(a), wsId(lists.get(a)[0]), SEED_AT);
          counts.installs++;
        }
      }
      for (const a of shared.AllWorkspaces) {
        const owner = Number(owners.get(appId(a)).slice(2));
        for (const w of pickOthers(rand, tree.n, owner, 5)) {
          install.run(appId(a), wsId(w), SEED_AT);
          counts.installs++;
        }
      }
    }
  })();
  for (const [scope, apps] of Object.entries(shared)) counts[scope] = apps.length;
  const meta = { counts, ...pickTargets(db, tree, p) };
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return meta;
}

/** Workspaces parents first (the path trigger checks each), each with its audit event. */
function insertWorkspaces(db, tree) {
  const ins = db.prepare(
    'INSERT INTO workspaces (id, name, kind, parent_id, path, created_at) ' +
      'VALUES (?, ?, ?, ?, ?, ?)',
  );
  const ev = db.prepare(
    `INSERT INTO audit_events (${EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  let head = { seq: 0, hash: GENESIS };
  for (let i = 0; i < tree.n; i++) {
    const id = wsId(i);
    const kind = tree.personal[i] ? 'personal' : 'organizational';
    const parentId = tree.parent[i] < 0 ? null : wsId(tree.parent[i]);
    ins.run(id, `Workspace ${i}`, kind, parentId, tree.paths[i], SEED_AT);
    const after = { id, name: `Workspace ${i}`, kind, parentId };
    const e = nextEvent(
      {
        at: SEED_AT,
        actor: ACTOR,
        action: 'workspace.create',
        target: id,
        after,
        batch: SEED_BATCH,
      },
      head,
    );
    ev.run(...eventValues(e));
    head = e;
  }
}

function pickOthers(rand, n, owner, k) {
  const out = new Set();
  while (out.size < Math.min(k, n - 1)) {
    const w = Math.floor(rand() * n);
    if (w !== owner) out.add(w);
  }
  return [...out];
}

/**
 * The audience figure's app: AllChildWorkspaces, owned by the depth-2 workspace with the largest
 * subtree. The visible-to figure's workspace: the deepest one under that owner, so it walks the
 * most ancestors and sees that app too.
 */
function pickTargets(db, tree, p) {
  if (!p.targets) return {};
  let owner = -1;
  for (let i = 0; i < tree.n; i++) {
    if (tree.depth[i] === 2 && !tree.personal[i] && (owner < 0 || tree.size[i] > tree.size[owner]))
      owner = i;
  }
  let deep = owner;
  for (let i = owner; i < tree.n; i++) {
    if (tree.depth[i] > tree.depth[deep] && tree.paths[i].startsWith(tree.paths[owner])) deep = i;
  }
  const id = 'app-audience';
  db.prepare(
    'INSERT INTO apps (id, name, workspace_id, environment, scope, created_at, updated_at) ' +
      "VALUES (?, 'Audience', ?, 'production', 'CurrentWorkspaceOnly', ?, ?)",
  ).run(id, wsId(owner), SEED_AT, SEED_AT);
  db.prepare("UPDATE apps SET scope = 'AllChildWorkspaces' WHERE id = ?").run(id);
  let maxDepth = 0;
  for (let i = 0; i < tree.n; i++) maxDepth = Math.max(maxDepth, tree.depth[i]);
  return {
    audienceApp: id,
    audienceOwner: wsId(owner),
    audienceSize: tree.size[owner],
    visibleTo: wsId(deep),
    visibleToDepth: tree.depth[deep],
    maxDepth,
  };
}

/** The small database: a handful of workspaces and apps, plus one app to toggle. */
export function smallDb(file, cli) {
  const db = migrated(file, cli);
  const tree = makeTree({ workspaces: 6, roots: 2, maxDepth: 4, personalShare: 0, seed: 7 });
  db.transaction(() => {
    insertWorkspaces(db, tree);
    const ins = db.prepare(
      'INSERT INTO apps (id, name, workspace_id, environment, scope, created_at, updated_at) ' +
        "VALUES (?, ?, ?, ?, 'CurrentWorkspaceOnly', ?, ?)",
    );
    for (let a = 0; a < 10; a++) {
      const env = a % 3 ? 'production' : 'development';
      ins.run(appId(a), `App ${a}`, wsId(a % 6), env, SEED_AT, SEED_AT);
    }
    ins.run('app-toggle', 'Toggle', wsId(0), 'production', SEED_AT, SEED_AT);
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { toggleApp: 'app-toggle' };
}

/** The chain's head, to link the baseline's first event to. */
export function auditHead(file) {
  // Read-write, so closing removes the -wal and -shm files a read-only WAL reader leaves.
  const db = new Database(file, { fileMustExist: true });
  try {
    const r = db.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get();
    return r ?? { seq: 0, hash: GENESIS };
  } finally {
    db.close();
  }
}

/**
 * `n` approvals of distinct apps as a CSV (app,scope,ticket), and with `sqlFile` the same
 * changes as the SQL a hand-written script would run: each UPDATE and each audit event with
 * its real seq, prev_hash and hash, in one BEGIN IMMEDIATE ... COMMIT.
 */
export function approvals({ db, production, n, seed, csvFile, sqlFile, at }) {
  const rand = rng(seed);
  const ids = Array.from({ length: production }, (_, i) => i);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const rows = ids.slice(0, n).map((a, i) => ({
    app: appId(a),
    scope: rand() < 0.5 ? 'AllWorkspaces' : 'AllChildWorkspaces',
    ticket: `SUP-${100000 + i}`,
  }));
  const short = { AllWorkspaces: 'all', AllChildWorkspaces: 'children' };
  writeFileSync(
    csvFile,
    ['app,scope,ticket', ...rows.map((r) => `${r.app},${short[r.scope]},${r.ticket}`)].join('\n') +
      '\n',
  );
  if (!sqlFile) return rows.length;
  let head = auditHead(db);
  const out = [
    'PRAGMA journal_mode = WAL;',
    'PRAGMA synchronous = FULL;',
    'PRAGMA foreign_keys = ON;',
    'BEGIN IMMEDIATE;',
  ];
  const before = { scope: 'CurrentWorkspaceOnly', workspaces: [] };
  for (const r of rows) {
    out.push(
      `UPDATE apps SET scope = ${q(r.scope)}, updated_at = ${q(at)} WHERE id = ${q(r.app)};`,
    );
    const e = nextEvent(
      {
        at,
        actor: ACTOR,
        action: 'app.set-scope',
        target: r.app,
        before,
        after: { scope: r.scope, workspaces: [] },
        ticket: r.ticket,
        batch: SEED_BATCH,
      },
      head,
    );
    out.push(`INSERT INTO audit_events (${EVENT_COLUMNS}) VALUES (${eventValues(e).map(q)});`);
    head = e;
  }
  out.push('COMMIT;');
  writeFileSync(sqlFile, out.join('\n') + '\n');
  return rows.length;
}

function q(v) {
  if (v === null) return 'NULL';
  if (typeof v === 'number') return String(v);
  return `'${String(v).replaceAll("'", "''")}'`;
}

/** A copy of a database on disk, flushed, so its pages are not written back inside a timing. */
export function freshCopy(from, to) {
  for (const s of ['', '-wal', '-shm']) rmSync(to + s, { force: true });
  copyFileSync(from, to);
  const fd = openSync(to, 'r+');
  fsyncSync(fd);
  closeSync(fd);
}
