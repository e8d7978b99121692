import { afterEach, beforeEach, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { describeBackends, type FreshDb } from '../helpers/backends.js';
import { app, seed, T, ws } from './pg-fixtures.js';

// setSharing takes the app as read in the same write and moves only the rows that differ. What
// a caller says the list was is not trusted blindly: the database refuses a list left behind
// and a row added twice, on both backends.

describeBackends('setSharing', (backend) => {
  let fresh: FreshDb;
  let store: Store;
  beforeEach(async () => {
    fresh = await backend.fresh();
    store = await openStore(fresh.location);
    await seed(store);
    await store.write(async (w) => {
      await w.insertWorkspace(ws('other', 'root'));
      await w.insertApp(app('wide', 'team', 'production'));
    });
  });
  afterEach(async () => {
    await store.close();
    await fresh.cleanup();
  });

  const listOf = (id: string) => store.read(async (r) => (await r.getApp(id))?.workspaces);

  it('edits a list by the difference, and empties it when the scope leaves custom', async () => {
    await store.write(async (w) => {
      const custom = (await w.getApp('custom'))!;
      expect(custom.workspaces).toEqual(['root']);
      await w.setSharing(custom, 'CustomWorkspaceAccess', ['other', 'me'], T);
    });
    expect(await listOf('custom')).toEqual(['me', 'other']);
    await store.write(async (w) => {
      await w.setSharing((await w.getApp('custom'))!, 'AllWorkspaces', [], T);
    });
    expect(await listOf('custom')).toEqual([]);
    expect(await store.read(async (r) => (await r.getApp('custom'))?.scope)).toBe('AllWorkspaces');
  });

  it('refuses to leave custom when the caller forgot the list', async () => {
    const wrong = store.write(async (w) => {
      await w.setSharing({ id: 'custom', workspaces: [] }, 'AllWorkspaces', [], T);
    });
    await expect(wrong).rejects.toThrow();
    expect(await listOf('custom')).toEqual(['root']);
  });

  it('refuses a row the list already has', async () => {
    const wrong = store.write(async (w) => {
      await w.setSharing({ id: 'custom', workspaces: [] }, 'CustomWorkspaceAccess', ['root'], T);
    });
    await expect(wrong).rejects.toThrow();
    expect(await listOf('custom')).toEqual(['root']);
  });

  it('writes no list for a scope without one', async () => {
    await store.write(async (w) => {
      await w.setSharing((await w.getApp('wide'))!, 'AllChildWorkspaces', [], T);
    });
    expect(await listOf('wide')).toEqual([]);
  });
});
