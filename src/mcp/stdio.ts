/** The MCP server over stdio (`conveyor mcp`): one server for the life of the connection. */
import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from './sdk.js';
import type { ConveyorApi } from './api.js';
import { watchJobs } from './resources.js';
import { createConveyorMcpServer, type ServerOffer } from './server.js';

/**
 * Serves MCP on `stdin`/`stdout` until the client closes `stdin`. Nothing else may write to `stdout`:
 * every byte there is read as JSON-RPC.
 */
export async function serveStdio(
  api: ConveyorApi,
  streams: { stdin: Readable; stdout: Writable } = { stdin: process.stdin, stdout: process.stdout },
  offer?: ServerOffer,
): Promise<void> {
  const server = createConveyorMcpServer(api, offer);
  // Stdio carries notifications: a person's client may subscribe to a job and hear of each stage change.
  const stopWatching = offer?.forAgent === true ? undefined : watchJobs(server, api);
  const ended = new Promise<void>((resolve) => {
    streams.stdin.once('end', resolve);
    streams.stdin.once('close', resolve);
  });
  await server.connect(new StdioServerTransport(streams.stdin, streams.stdout));
  await ended;
  stopWatching?.();
  await server.close();
}
