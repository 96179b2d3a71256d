/** The forge of a `[forges.NAME]` entry, by its kind. */
import type { ForgeConfig } from '../config/forges.js';
import type { Forge } from './forge.js';
import { giteaForge } from './gitea.js';
import { gitHubForge } from './github.js';

export function createForge(config: ForgeConfig): Forge {
  return config.kind === 'github' ? gitHubForge(config) : giteaForge(config);
}
