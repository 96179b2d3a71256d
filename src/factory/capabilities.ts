/**
 * What this machine can do, as capability strings a job can require: the OS and architecture, the
 * tools on PATH (git, node, python, bubblewrap, the agent CLIs) and an NVIDIA GPU.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const TOOLS: Readonly<Record<string, readonly string[]>> = {
  git: ['git'],
  node: ['node'],
  python: ['python3', 'python'],
  bubblewrap: ['bwrap'],
  claude: ['claude'],
  codex: ['codex'],
  droid: ['droid'],
  gemini: ['gemini'],
  'gpu-nvidia': ['nvidia-smi'],
};

export function onPath(name: string, pathVariable: string): boolean {
  return pathVariable
    .split(delimiter)
    .filter((dir) => dir !== '')
    .some((dir) => {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** Detected capabilities, sorted; `pathVariable` is the PATH to search. */
export function detectCapabilities(pathVariable: string): string[] {
  const found = new Set<string>([process.platform, `${process.platform}-${process.arch}`, process.arch]);
  for (const [capability, binaries] of Object.entries(TOOLS)) {
    if (binaries.some((binary) => onPath(binary, pathVariable))) found.add(capability);
  }
  return [...found].sort();
}
