import { describe, expect, it } from 'vitest';
import { parseResultBlock, withResultBlock, type AgentOutcome } from './executor.js';

describe('parseResultBlock', () => {
  it('finds nothing when there is no block', () => {
    expect(parseResultBlock('all done, no result')).toEqual({ found: false });
    expect(parseResultBlock('<result> without an end')).toEqual({ found: false });
  });

  it('parses the JSON of a block, across lines and with surrounding whitespace', () => {
    const text = 'Summary of work.\n<result>\n  {"files": ["a.ts"], "ok": true}\n</result>\nbye';
    expect(parseResultBlock(text)).toEqual({ found: true, ok: true, value: { files: ['a.ts'], ok: true } });
  });

  it('takes the first block when there are several', () => {
    expect(parseResultBlock('<result>1</result> then <result>2</result>')).toEqual({ found: true, ok: true, value: 1 });
  });

  it('reports malformed JSON with the parser message and the block', () => {
    const parsed = parseResultBlock('<result>{"ok": tru}</result>');
    expect(parsed).toMatchObject({ found: true, ok: false });
    if (!parsed.found || parsed.ok) throw new Error('expected an error');
    expect(parsed.error).toMatch(/^malformed JSON in <result> block: .+ \(block: \{"ok": tru\}\)$/);
  });

  it('treats an empty block as malformed', () => {
    expect(parseResultBlock('<result>  </result>')).toMatchObject({ found: true, ok: false });
  });
});

describe('withResultBlock', () => {
  const completed: AgentOutcome = { status: 'completed', summary: 'done', exitCode: 0, outputTail: '' };

  it('attaches the value to a completed outcome, or leaves it without a block', () => {
    expect(withResultBlock(completed, '<result>{"a":1}</result>')).toEqual({ ...completed, result: { a: 1 } });
    expect(withResultBlock(completed, 'no block')).toEqual(completed);
  });

  it('fails a completed outcome whose block is malformed, saying why', () => {
    const out = withResultBlock(completed, '<result>{oops}</result>');
    expect(out.status).toBe('failed');
    expect(out.summary).toContain('malformed JSON in <result> block');
  });

  it('leaves other outcomes alone', () => {
    const failed: AgentOutcome = { status: 'failed', summary: 'exit 1', exitCode: 1, outputTail: '' };
    expect(withResultBlock(failed, '<result>{oops}</result>')).toBe(failed);
  });
});
