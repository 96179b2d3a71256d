/** Which queued jobs a claim may take, in PostgreSQL's jsonb operators. */
import { type RawBuilder, type SqlBool, sql } from 'kysely';
import type { ClaimFilters } from '../backend.js';

export const postgresClaimFilters: ClaimFilters = {
  capabilitiesMatch(capabilities: string[]): RawBuilder<SqlBool> {
    return sql<SqlBool>`(jobs.required_capabilities = '[]' or jobs.required_capabilities::jsonb <@ ${JSON.stringify(capabilities)}::jsonb)`;
  },
  orderingSatisfied(): RawBuilder<SqlBool> {
    return sql<SqlBool>`(jobs.after_positions is null or not exists (
      select 1 from jobs s
      where s.parent_id = jobs.parent_id and s.stage <> 'shipped'
        and jobs.after_positions::jsonb @> to_jsonb(s.position)))`;
  },
};
