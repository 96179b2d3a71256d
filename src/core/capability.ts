/**
 * A capability request (DESIGN §10): an agent lacks a tool and asks for one. Accepted as a task file and
 * from a job's agent (`request_capability`); filed as a job that builds the tool.
 */
import { z } from 'zod';

export const CapabilityRequestSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  description: z.string().trim().min(1).max(20_000),
  inputs: z.unknown().optional(),
  outputs: z.unknown().optional(),
  constraints: z
    .strictObject({ network: z.unknown().optional(), storage: z.unknown().optional(), secrets: z.unknown().optional() })
    .optional(),
});
export type CapabilityRequest = z.infer<typeof CapabilityRequestSchema>;
