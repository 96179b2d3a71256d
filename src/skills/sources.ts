/**
 * Skill sources and loading. Sources are looked up in this order, and a name found in an earlier one
 * shadows the same name in later ones:
 *
 * 1. `repo`: the repository's `.conveyor/skills/`;
 * 2. `config`: the `[skills] dirs` of conveyor.toml, in the order listed;
 * 3. `user`: `~/.conveyor/skills/` (the home directory is passed in);
 * 4. `builtin`: the starter set shipped in the package (`skills/` at the package root).
 *
 * Each source directory holds one folder per skill with a `SKILL.md`; folders without one are ignored.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SkillError } from './errors.js';
import { parseSkill, SKILL_FILE, type Skill, type SkillSource } from './skill.js';

/** The starter skills shipped with Conveyor. */
export const BUILTIN_SKILLS_DIR = resolve(fileURLToPath(new URL('../../skills/', import.meta.url)));

export interface SkillSourceDir {
  source: SkillSource;
  dir: string;
  /** A configured directory must exist; the conventional ones may be absent. */
  required: boolean;
}

export interface SkillSourcesOptions {
  /** The repository (or worktree) whose `.conveyor/skills/` comes first. */
  repoDir?: string | undefined;
  /** `[skills] dirs`, already resolved against the config file's folder. */
  configDirs?: readonly string[] | undefined;
  /** The user's home directory, for `~/.conveyor/skills/`; none when undefined. */
  homeDir?: string | undefined;
  /** @default BUILTIN_SKILLS_DIR; `null` leaves the starter set out. */
  builtinDir?: string | null;
}

/** The skill directories to search, in lookup order. */
export function skillSources(options: SkillSourcesOptions): SkillSourceDir[] {
  const sources: SkillSourceDir[] = [];
  if (options.repoDir !== undefined) {
    sources.push({ source: 'repo', dir: resolve(options.repoDir, '.conveyor', 'skills'), required: false });
  }
  for (const dir of options.configDirs ?? []) sources.push({ source: 'config', dir: resolve(dir), required: true });
  if (options.homeDir !== undefined) {
    sources.push({ source: 'user', dir: resolve(options.homeDir, '.conveyor', 'skills'), required: false });
  }
  const builtin = options.builtinDir === undefined ? BUILTIN_SKILLS_DIR : options.builtinDir;
  if (builtin !== null) sources.push({ source: 'builtin', dir: resolve(builtin), required: false });
  return sources;
}

/** A skill hidden by one of the same name in an earlier source. */
export interface ShadowedSkill {
  name: string;
  source: SkillSource;
  path: string;
  shadowedBy: { source: SkillSource; path: string };
}

export interface SkillCatalog {
  /** The winning skill of each name, in lookup order (source, then folder name). */
  skills: Skill[];
  shadowed: ShadowedSkill[];
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The skills of one source directory, by folder name. Two folders declaring the same name is an error. */
export function readSkillDir(source: SkillSourceDir): Skill[] {
  if (!existsSync(source.dir)) {
    if (!source.required) return [];
    throw new SkillError(`skills.dirs: ${source.dir} does not exist; create it or remove it from [skills] dirs`);
  }
  if (!isDirectory(source.dir)) {
    throw new SkillError(`${source.dir}: a skill source must be a directory of skill folders; fix the path`);
  }
  const skills: Skill[] = [];
  const byName = new Map<string, string>();
  for (const folder of readdirSync(source.dir).sort()) {
    const file = join(source.dir, folder, SKILL_FILE);
    if (folder.startsWith('.') || !isDirectory(join(source.dir, folder)) || !existsSync(file)) continue;
    const skill = parseSkill(readFileSync(file, 'utf8'), file, source.source);
    const earlier = byName.get(skill.name);
    if (earlier !== undefined) {
      throw new SkillError(`${file}: skill name "${skill.name}" is also declared by ${earlier}; rename one of them`);
    }
    byName.set(skill.name, file);
    skills.push(skill);
  }
  return skills;
}

/** Loads every source in order; earlier names win and the losers are recorded in `shadowed`. */
export function loadSkills(sources: readonly SkillSourceDir[]): SkillCatalog {
  const winners = new Map<string, Skill>();
  const shadowed: ShadowedSkill[] = [];
  for (const source of sources) {
    for (const skill of readSkillDir(source)) {
      const winner = winners.get(skill.name);
      if (winner === undefined) winners.set(skill.name, skill);
      else {
        shadowed.push({
          name: skill.name,
          source: skill.source,
          path: skill.path,
          shadowedBy: { source: winner.source, path: winner.path },
        });
      }
    }
  }
  return { skills: [...winners.values()], shadowed };
}
