/**
 * A capability request (DESIGN §10): an agent lacks a tool and asks for one. Accepted as a task file and
 * from a job's agent (`request_capability`); filed as a job that builds the tool.
 */
import { z } from 'zod';

/** A tool's name: also a folder of the tool cache and a path segment of an OCI repository. */
export const TOOL_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

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
