import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_DOC, withEventTable } from '../scripts/events-doc.js';
import { EVENT_TYPES } from '../src/core/events.js';

describe('docs/API.md', () => {
  it('lists the event catalogue as src/core/events.ts defines it (npm run docs:events)', async () => {
    const doc = readFileSync(API_DOC, 'utf8');
    for (const type of EVENT_TYPES) expect(doc).toContain(`| \`${type}\``);
    expect(await withEventTable(doc), 'docs/API.md is out of date: run npm run docs:events').toBe(doc);
  });
});
