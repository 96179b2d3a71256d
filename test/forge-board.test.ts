/**
 * GitHub Projects v2: a writer moving an issue's item to the board's ready column makes its job (the
 * mover counts as the label's giver would); anyone else, another column, a draft item do nothing; then
 * the item's `Status` follows the job (Todo → Planning → In Progress → QA → Review) through the
 * report-back. The forge server validates every GraphQL query and mutation against GitHub's schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BOARD_COLUMNS } from '../src/config/forges.js';
import { createForge } from '../src/forge/index.js';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import type { Board } from './helpers/forge-server/graphql.js';
import { type ForgeServer, startForgeServer } from './helpers/forge-server/index.js';
import { forgeConfigFor, TEST_FORGE_CLIENT } from './helpers/forge-server/config.js';
import { githubRecorded, issueDelivery, signedDelivery } from './helpers/forge-server/webhooks.js';
import { until } from './helpers/factory-process.js';

const TOKEN = 'forge-board-token-sentinel-5d2';
const SECRET = 'forge-board-secret-sentinel-8e4';
const COLUMNS = ['Todo', 'Ready', 'Planning', 'In Progress', 'QA', 'Review', 'Done', 'Blocked'];

describe('GitHub Projects v2', () => {
  let server: ForgeServer;
  let coordinator: TestCoordinator;
  let board: Board;

  beforeAll(async () => {
    server = await startForgeServer({ kind: 'github', token: TOKEN });
    server.createRepo('acme/web');
    server.setPermission('acme/web', 'writer', 'write');
    server.setPermission('acme/web', 'reader', 'read');
    board = server.createBoard('acme', 7, COLUMNS);
    const config = forgeConfigFor(server, {
      name: 'gh',
      token: TOKEN,
      webhookSecret: SECRET,
      repos: [{ name: 'acme/web', product: undefined, defaults: { ship: 'pr' } }],
      project: { owner: 'acme', number: 7, field: 'Status', ready: 'Ready', columns: { ...DEFAULT_BOARD_COLUMNS } },
    });
    coordinator = await startTestCoordinator('sqlite', {
      forges: [createForge(config, TEST_FORGE_CLIENT)],
      forgeReportIntervalMs: 100,
    });
  });
  afterAll(async () => {
    await coordinator.close();
    await server.stop();
  });

  /** An issue on the board, in `Todo`: its number and item id. */
  function issueOnBoard(title: string): { number: number; itemId: string } {
    const issue = server.openIssue('acme/web', { title, body: `Do ${title}.`, author: 'someone', labels: [] });
    const itemId = server.addToBoard(board, 'acme/web', issue.number);
    server.moveItem(board, itemId, 'Todo');
    return { number: issue.number, itemId };
  }

  /** Someone moves the item to `column`: GitHub's `projects_v2_item` `edited` delivery, as recorded. */
  async function move(itemId: string, column: string, sender: string, options: { id?: string; content?: string } = {}) {
    server.moveItem(board, itemId, column);
    const recorded = githubRecorded('projects_v2_item', 'edited');
    const payload = {
      ...recorded,
      projects_v2_item: {
        ...(recorded.projects_v2_item as Record<string, unknown>),
        node_id: itemId,
        project_node_id: board.id,
        content_type: options.content ?? 'Issue',
      },
      changes: { field_value: { field_node_id: board.fieldId, field_type: 'single_select' } },
      sender: { ...(recorded.sender as Record<string, unknown>), login: sender, type: 'User' },
    };
    const delivery = await signedDelivery('github', SECRET, 'projects_v2_item', payload, options);
    return coordinator.call('POST', '/api/forges/gh/webhook', {
      token: '',
      body: delivery.body,
      headers: delivery.headers,
    });
  }

  it('makes one job when a writer moves an issue to the ready column, and nothing otherwise', async () => {
    const { number, itemId } = issueOnBoard('Add a board test');
    const byReader = await move(itemId, 'Ready', 'reader');
    expect(byReader.status).toBe(202);
    expect(byReader.body.ignored).toMatch(/reader has read permission on acme\/web; only writers trigger work/);
    const elsewhere = await move(itemId, 'In Progress', 'writer');
    expect(elsewhere.status).toBe(202);
    expect(elsewhere.body.ignored).toBe('the item is in In Progress, not Ready');
    const draft = await move(itemId, 'Ready', 'writer', { content: 'DraftIssue' });
    expect(draft.body.ignored).toBe('the item holds a DraftIssue, not an issue');
    expect(await coordinator.store.listJobs({ product: 'default', limit: 100 })).toHaveLength(0);

    const taken = await move(itemId, 'Ready', 'writer', { id: 'board-delivery-1' });
    expect(taken.status).toBe(201);
    const jobId = taken.body.jobId as string;
    const again = await move(itemId, 'Ready', 'writer', { id: 'board-delivery-1' });
    expect(again.body).toMatchObject({ jobId, duplicate: true });
    const moved = await move(itemId, 'Ready', 'writer');
    expect(moved.status).toBe(200);
    expect(moved.body.jobId).toBe(jobId);
    const job = await coordinator.store.getJob('default', jobId);
    expect(job).toMatchObject({
      title: 'Add a board test',
      body: 'Do Add a board test.',
      source: `gh:acme/web#${String(number)}`,
    });
    server.assertFaithful();
  });

  it('moves the item through the columns as the job moves, and leaves an issue not on the board off it', async () => {
    const { number, itemId } = issueOnBoard('Follow the job');
    const taken = await move(itemId, 'Ready', 'writer');
    const jobId = taken.body.jobId as string;
    const column = (want: string) =>
      until(`the item in ${want}`, () =>
        Promise.resolve(server.columnOf(board, 'acme/web', number) === want ? true : undefined),
      );
    await column('Todo');
    // Earlier tests' jobs are claimed first: the factory gives those up.
    let epoch = 0;
    for (;;) {
      const claim = await coordinator.call('POST', '/api/fleet/claim', {
        token: coordinator.tokens.factory,
        json: { factoryId: 'f1', capabilities: [] },
      });
      expect(claim.status).toBe(200);
      if (claim.body.job.id === jobId) {
        epoch = claim.body.leaseEpoch as number;
        break;
      }
      await coordinator.call('POST', `/api/jobs/${String(claim.body.job.id)}/cancel`, { json: {} });
    }
    await column('Planning');
    const report = (stage: string, result?: unknown) =>
      coordinator.call('PATCH', `/api/fleet/jobs/${jobId}`, {
        token: coordinator.tokens.factory,
        json: { factoryId: 'f1', leaseEpoch: epoch, stage, ...(result === undefined ? {} : { result }) },
      });
    expect((await report('building')).status).toBe(200);
    await column('In Progress');
    expect((await report('review')).status).toBe(200);
    expect((await report('testing')).status).toBe(200);
    await column('QA');
    expect(
      (await report('shipped', { ship: { policy: 'pr', pullRequest: { number: 99, url: 'http://pr/99' } } })).status,
    ).toBe(200);
    await column('Review');
    // The label followed too.
    expect(server.repo('acme/web').issues.get(number)?.labels).toContain('conveyor:shipped');

    // An issue labelled, never put on the board: the report-back labels it and leaves the board alone.
    const loose = server.openIssue('acme/web', {
      title: 'Off board',
      body: 'x',
      author: 'someone',
      labels: ['conveyor'],
    });
    const delivery = await issueDelivery('github', SECRET, {
      action: 'labeled',
      repo: 'acme/web',
      number: loose.number,
      title: loose.title,
      body: loose.body,
      author: 'someone',
      labels: ['conveyor'],
      label: 'conveyor',
      sender: 'writer',
      url: `${server.gitUrl}/acme/web/issues/${String(loose.number)}`,
    });
    const looseJob = await coordinator.call('POST', '/api/forges/gh/webhook', {
      token: '',
      body: delivery.body,
      headers: delivery.headers,
    });
    expect(looseJob.status).toBe(201);
    await until('the loose issue labelled', () =>
      Promise.resolve(
        server.repo('acme/web').issues.get(loose.number)?.labels.includes('conveyor:queued') === true
          ? true
          : undefined,
      ),
    );
    expect(server.columnOf(board, 'acme/web', loose.number)).toBeUndefined();
    server.assertFaithful();
  });
});
