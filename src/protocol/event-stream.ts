/**
 * `GET /api/events`: the event log as Server-Sent Events, each one's `id` its `seq` and its `data` an
 * `EventView`. A client resumes with `Last-Event-ID` or `?after=SEQ`.
 */
import { z } from 'zod';

/** The seq of the last event received (the query's `after`, or the `Last-Event-ID` header). */
export const EVENT_CURSOR = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const EventStreamQuery = z.strictObject({ after: EVENT_CURSOR.optional() });
export type EventStreamQuery = z.input<typeof EventStreamQuery>;
