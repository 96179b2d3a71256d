/** `conveyor model-server` as a user runs it: the real binary, a real port. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'conveyor.js');
const dir = mkdtempSync(join(tmpdir(), 'conveyor-model-server-cli-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('conveyor model-server', () => {
  it('refuses a bad script with one line naming the file and the field, exit non-zero', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ turns: [{ text: 'x', toolCals: [] }] }));
    const result = cli(['model-server', '--script', file]);
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(file);
    expect(result.stderr).toContain('turns.0');
    expect(result.stderr).toContain('toolCals');

    const missing = cli(['model-server', '--script', join(dir, 'nope.json')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('nope.json');

    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, '{ turns: ');
    const invalid = cli(['model-server', '--script', notJson]);
    expect(invalid.status).toBe(2);
    expect(invalid.stderr).toContain(`${notJson}: not valid JSON`);
  });

  it('explains itself in --help', () => {
    const result = cli(['model-server', '--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('--script <file>');
    expect(result.stdout).toContain('ANTHROPIC_BASE_URL');
    expect(result.stdout).toContain('script exhausted');
  });

  it('prints the URL and base URLs, serves the script and stops on SIGTERM', async () => {
    const file = join(dir, 'good.json');
    writeFileSync(file, JSON.stringify({ model: 'local-model', turns: [{ text: 'hello from the script' }] }));
    const child = spawn(process.execPath, [BIN, 'model-server', '--script', file, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const lines: string[] = [];
    for await (const line of createInterface({ input: child.stdout })) {
      lines.push(line);
      if (line.startsWith('OpenAI base URL')) break;
    }
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(lines[0] ?? '')?.[1];
    expect(url).toBeDefined();
    expect(lines).toContain(`ANTHROPIC_BASE_URL=${url}`);
    expect(lines).toContain(`OpenAI base URL: ${url}/v1`);
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-do-not-log' },
      body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(
      ((await response.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content,
    ).toBe('hello from the script');
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toContain('POST /v1/chat/completions 200 turn 1/1');
    expect(stderr).not.toContain('sk-do-not-log');
  });
});
