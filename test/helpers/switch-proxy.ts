/**
 * An HTTP proxy on loopback in front of a coordinator that can be switched off: while down, every
 * request's connection is dropped without an answer (as from a coordinator that died), and every
 * request is counted by method and path either way.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SwitchProxy {
  url: string;
  /** Requests seen so far, by `METHOD /path` (down or up). */
  count(methodAndPath: string): number;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startSwitchProxy(target: string): Promise<SwitchProxy> {
  let isDown = false;
  const counts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const forward = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers))
      if (typeof value === 'string' && key !== 'host' && key !== 'connection') headers[key] = value;
    // A client gone (the proxy switched off) ends the upstream request too: a parked long poll must
    // not claim a job for a factory that will never read the answer.
    const upstream = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) upstream.abort();
    });
    const answer = await fetch(`${target}${req.url ?? '/'}`, {
      method: req.method ?? 'GET',
      headers,
      signal: upstream.signal,
      ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }),
    });
    const body = Buffer.from(await answer.arrayBuffer());
    const type = answer.headers.get('content-type');
    res.writeHead(answer.status, type === null ? {} : { 'content-type': type });
    res.end(body);
  };
  const server = createServer((req, res) => {
    const key = `${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0] ?? '/'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (isDown) {
      req.socket.destroy();
      return;
    }
    forward(req, res).catch(() => {
      req.socket.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    count: (methodAndPath) => counts.get(methodAndPath) ?? 0,
    down() {
      isDown = true;
      // Connections kept alive (and long polls parked) end now, as they would with the coordinator gone.
      for (const socket of sockets) socket.destroy();
    },
    up() {
      isDown = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
