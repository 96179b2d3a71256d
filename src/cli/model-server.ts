/** `conveyor model-server`: a local model server answering from a script, for running real agent CLIs offline. */
import type { Command } from 'commander';
import { loadScript } from '../agents/script.js';
import { ConveyorError } from '../core/errors.js';
import { CliError } from './client.js';
import { intFlag } from './common.js';

interface ModelServerFlags {
  script: string;
  port?: string;
  host?: string;
}

export function registerModelServerCommand(program: Command): void {
  program
    .command('model-server')
    .description('Serve a scripted model over the Anthropic Messages, OpenAI Responses and Chat Completions APIs.')
    .requiredOption('--script <file>', 'the script (JSON: {model?, turns: [{expect?, text?, toolCalls?, usage?}]})')
    .option('--port <port>', 'port to listen on, 0 for any free port (default 0)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .addHelpText(
      'after',
      `
Turns are answered in order across all requests and all protocols; a turn whose "expect" strings are
not all in the request (system, messages and tool results) is refused with 400, and so is any model
call after the last turn ("script exhausted after N turns"). Claude Code's side calls (quota probe,
tool-less helper requests) get a fixed answer and take no turn. Every request is logged to stderr, with
API keys redacted.

Endpoints: POST /v1/messages (also ?beta=true), /v1/messages/count_tokens, /v1/responses,
/v1/chat/completions; GET /v1/models; GET and HEAD /.

Use it with:
  ANTHROPIC_BASE_URL=<url> ANTHROPIC_API_KEY=any claude -p "…"
  a Codex model provider with base_url = "<url>/v1" and wire_api = "responses"
  any OpenAI client with base URL <url>/v1`,
    )
    .action(async (flags: ModelServerFlags) => {
      const port = intFlag('--port', flags.port, 0, 65_535);
      let script;
      try {
        script = await loadScript(flags.script);
      } catch (error) {
        if (error instanceof ConveyorError) throw new CliError(error.message, 2);
        throw new CliError(`cannot read the script ${flags.script}: ${(error as Error).message}`, 2);
      }
      const { startModelServer } = await import('../model-server/server.js');
      const server = await startModelServer({
        script,
        ...(port === undefined ? {} : { port }),
        ...(flags.host === undefined ? {} : { host: flags.host }),
      });
      process.stdout.write(
        `model server listening on ${server.url} (${script.turns.length} turns, model ${script.model ?? 'scripted'})\n` +
          `ANTHROPIC_BASE_URL=${server.url}\n` +
          `OpenAI base URL: ${server.url}/v1\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      process.stderr.write(`model-server: shutting down after ${server.turnsServed()} turns\n`);
      await server.close();
    });
}
