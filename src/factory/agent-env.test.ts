import { describe, expect, it } from 'vitest';
import { agentEnvironment, jobEnvironment } from './agent-env.js';

describe('agent environment', () => {
  it("keeps the factory's environment but not Conveyor's credentials", () => {
    expect(
      agentEnvironment({ PATH: '/bin', CONVEYOR_TOKEN: 'cvy_x', CONVEYOR_ADMIN_TOKEN: 'cvy_y', OPENAI_API_KEY: 'k' }),
    ).toEqual({
      PATH: '/bin',
      OPENAI_API_KEY: 'k',
    });
  });

  it('withholds the factory secrets a job was not granted', () => {
    const env = { PATH: '/bin', DEPLOY_KEY: 'd', NPM_TOKEN: 'n' };
    expect(jobEnvironment(env, ['DEPLOY_KEY', 'NPM_TOKEN'])).toEqual({ PATH: '/bin' });
    expect(jobEnvironment(env, ['DEPLOY_KEY', 'NPM_TOKEN'], ['NPM_TOKEN'])).toEqual({ PATH: '/bin', NPM_TOKEN: 'n' });
  });
});
