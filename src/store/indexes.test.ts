/**
 * The plans of the queries that must stay fast on a large database (`0010_scale_indexes`), read from
 * SQLite's `explain query plan` on a real file: no sort of a whole product's jobs for a page of
 * `GET /api/jobs`, and retention reads finished jobs oldest first from its partial index. The timings
 * behind them are `npm run bench:scale`'s.
 */
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../test/helpers/databases.js';
import { DummyDriver, Kysely, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler } from 'kysely';
import { openStore } from './open-store.js';
import type { Database } from './schema.js';
import { sqliteClaimFilters } from './sqlite/claim-filters.js';
import { claimPick } from './sqlite/fast-paths.js';

describe('query plans on SQLite', () => {
  let database: TestDatabase;
  let db: BetterSqlite3.Database;
  beforeAll(async () => {
    database = await freshDatabase('sqlite');
    await (await openStore(database.url)).close();
    db = new BetterSqlite3(database.url, { readonly: true });
  });
  afterAll(async () => {
    db.close();
    await database.drop();
  });

  // Compiles the store's queries to SQLite's SQL; never runs them.
  const kysely = new Kysely<Database>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (k) => new SqliteIntrospector(k),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });

  const plan = (query: string, ...params: unknown[]): string =>
    (db.prepare(`explain query plan ${query}`).all(...params) as { detail: string }[])
      .map((row) => row.detail)
      .join('; ');

  it('pages a product’s jobs newest first through an index, first page and by cursor', () => {
    // As job-queries.ts listJobs writes them.
    expect(plan('select * from "jobs" where "product" = ? order by "id" desc limit ?', 'p', 51)).toBe(
      'SEARCH jobs USING INDEX jobs_product_id (product=?)',
    );
    expect(plan('select * from "jobs" where "product" = ? and "id" < ? order by "id" desc limit ?', 'p', 'X', 51)).toBe(
      'SEARCH jobs USING INDEX jobs_product_id (product=? AND id<?)',
    );
  });

  it('claims through the partial index in claim order, without a sort', () => {
    const pick = claimPick(sqliteClaimFilters, { product: 'p', capabilities: [], now: 1, limit: 1 }).compile(kysely);
    expect(plan(pick.sql, ...pick.parameters)).toMatch(/^SEARCH jobs USING INDEX jobs_claim \(product=\?\)/);
    expect(plan(pick.sql, ...pick.parameters)).not.toContain('TEMP B-TREE');
  });

  it('takes finished jobs for retention oldest first from the partial index', () => {
    // As retention-queries.ts removableJob writes the stage condition: literals, not parameters.
    expect(
      plan(
        `select id from jobs where jobs.stage in ('shipped', 'failed', 'dead_letter', 'cancelled') and updated_at < ? order by updated_at limit ?`,
        1,
        200,
      ),
    ).toBe('SEARCH jobs USING INDEX jobs_finished (updated_at<?)');
  });
});
