/**
 * What this machine can do, as capability strings a job can require: the OS and architecture, the
 * tools on PATH (git, node, python, bubblewrap, the agent CLIs) and an NVIDIA GPU.
 */
import { findExecutable } from '../agents/cli-agent.js';

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

/** Detected capabilities, sorted; `pathVariable` is the PATH to search. */
export async function detectCapabilities(pathVariable: string): Promise<string[]> {
  const found = new Set<string>([process.platform, `${process.platform}-${process.arch}`, process.arch]);
  for (const [capability, binaries] of Object.entries(TOOLS)) {
    for (const binary of binaries) {
      if ((await findExecutable(binary, pathVariable)) === undefined) continue;
      found.add(capability);
      break;
    }
  }
  return [...found].sort();
}
