/** Which queued jobs a claim may take, in SQLite's JSON functions. */
import { type RawBuilder, type SqlBool, sql } from 'kysely';
import type { ClaimFilters } from '../backend.js';

export const sqliteClaimFilters: ClaimFilters = {
  capabilitiesMatch(capabilities: string[]): RawBuilder<SqlBool> {
    return sql<SqlBool>`(jobs.required_capabilities = '[]' or not exists (
      select 1 from json_each(jobs.required_capabilities) as r
      where r.value not in (select value from json_each(${JSON.stringify(capabilities)}))))`;
  },
  orderingSatisfied(): RawBuilder<SqlBool> {
    return sql<SqlBool>`(jobs.after_positions is null or not exists (
      select 1 from jobs s, json_each(jobs.after_positions) a
      where s.parent_id = jobs.parent_id and s.position = a.value and s.stage <> 'shipped'))`;
  },
};
