import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRedactor } from './core/redact.js';
import { createLogger } from './logger.js';

describe('createLogger', () => {
  it('takes the secrets it is given out of every line, in their encodings too', async () => {
    const secret = 'coordinator-admin-token-0123456789';
    const file = join(mkdtempSync(join(tmpdir(), 'conveyor-log-')), 'coordinator.log');
    const logger = createLogger({
      level: 'info',
      format: 'json',
      destination: file,
      redactor: createRedactor([secret]),
    });
    const encoded = Buffer.from(secret).toString('base64');
    logger.child({ bound: secret }).info({ body: { note: `b64 ${encoded}` } }, `plain ${secret}`);
    const deadline = Date.now() + 5000;
    while (!(existsSync(file) && readFileSync(file, 'utf8').includes('\n')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const line = readFileSync(file, 'utf8');
    expect(line).toContain('plain [redacted]');
    expect(line).not.toContain(secret);
    expect(line).not.toContain(encoded.slice(0, -4));
  });
});
