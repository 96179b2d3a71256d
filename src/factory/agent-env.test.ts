import { describe, expect, it } from 'vitest';
import { agentEnvironment } from './agent-env.js';

describe('agent environment', () => {
  it("keeps the factory's environment but not Conveyor's credentials", () => {
    expect(
      agentEnvironment({ PATH: '/bin', CONVEYOR_TOKEN: 'cvy_x', CONVEYOR_ADMIN_TOKEN: 'cvy_y', OPENAI_API_KEY: 'k' }),
    ).toEqual({
      PATH: '/bin',
      OPENAI_API_KEY: 'k',
    });
  });
});
