import type { Reader } from '../store/store.js';

/**
 * Ids made from names: the slug, else slug-2, slug-3... Checked inside the batch's transaction,
 * so ids created by earlier records count as taken. Where a slug collided, the next number to
 * try is remembered, so 10,000 records named "Acme" do not each rescan from 2.
 */
export class FreeIds {
  private readonly next = new Map<string, number>();

  async free(w: Reader, table: 'workspaces' | 'apps', slug: string): Promise<string> {
    const key = `${table}/${slug}`;
    let n = this.next.get(key);
    if (n === undefined) {
      if ((await w.idTaken(table, [slug])).size === 0) return slug;
      n = 2;
    }
    for (; ; n += 50) {
      const candidates = Array.from({ length: 50 }, (_, i) => `${slug.slice(0, 60)}-${n! + i}`);
      const taken = await w.idTaken(table, candidates);
      const i = candidates.findIndex((c) => !taken.has(c));
      if (i >= 0) {
        this.next.set(key, n + i + 1);
        return candidates[i]!;
      }
    }
  }
}
