/**
 * Terminology — the words the whole code base uses, defined once.
 *
 * - **job**: one task to turn into a shipped change (title, Markdown body, repo, policies).
 * - **product**: the tenant a job, factory and token belong to; products never see each other.
 * - **stage**: where a job is in its life (see `STAGES`); only legal transitions are made.
 * - **factory**: a worker process that heartbeats, claims jobs matching its capabilities and runs them.
 * - **capability**: a string a factory advertises (`node`, `git`, `claude`); a job requires a set of them.
 * - **lease**: the right of one factory to work on one job until `leaseExpiresAt`, renewed by the holder.
 * - **epoch** (`leaseEpoch`): a counter on the job, incremented by every claim and every requeue of an
 *   expired lease. It is the fencing token: a write carrying any other epoch gets HTTP 409.
 * - **run**: one lease of one job by one factory, identified by (job id, epoch), with its outcome.
 * - **event**: an append-only record with a global `seq`, written by the coordinator in the same
 *   transaction as the state change it describes, or sent by the lease holder as an observation
 *   (`llm.call`, `verify.result`); every type and its payload is in the catalogue (`events.ts`).
 * - **actor**: who makes a transition: the `factory` holding the lease, the `coordinator` itself
 *   (claims, expiry, retry policy) or a `human` (cancel, retry, unblock) through the API.
 * - **token**: a bearer credential with a role (`admin`, `submit`, `factory`) and an optional product.
 */
export {};
