/**
 * The forge server's GraphQL endpoint (GitHub's `POST /graphql`, Enterprise's `/api/graphql`): every
 * query and mutation is parsed and validated against GitHub's own schema (`@octokit/graphql-schema`)
 * and executed by `graphql-js` over the server's Projects v2 boards, so a field GitHub does not have,
 * a wrong argument or a variable of the wrong type fails as it would on GitHub (and is recorded).
 */
import { schema as published } from '@octokit/graphql-schema';
import { buildSchema, execute, type GraphQLSchema, parse, validate } from 'graphql';

let schema: GraphQLSchema | undefined;

/** GitHub's public schema, built once per test process. */
function githubSchema(): GraphQLSchema {
  // The published SDL repeats two enterprise fields; nothing Conveyor asks touches them.
  schema ??= buildSchema(published.idl, { assumeValidSDL: true });
  return schema;
}

export interface BoardColumn {
  id: string;
  name: string;
}

export interface BoardItem {
  id: string;
  repo: string;
  issue: number;
  /** The `Status` option's name; undefined when unset. */
  column: string | undefined;
}

export interface Board {
  id: string;
  owner: string;
  number: number;
  fieldId: string;
  fieldName: string;
  columns: BoardColumn[];
  items: Map<string, BoardItem>;
}

/** The issue fields the schema's `Issue` resolves to. */
export interface GraphIssue {
  number: number;
  title: string;
  body: string;
  author: string;
  labels: string[];
  url: string;
}

export interface GraphState {
  boards: Board[];
  issue(repo: string, number: number): GraphIssue | undefined;
}

/** The answer to one GraphQL request: `{data, errors}` with the problems (validation, unknown ids) recorded. */
export async function answerGraphql(
  state: GraphState,
  request: unknown,
  problems: string[],
): Promise<Record<string, unknown>> {
  const { query, variables } = (request ?? {}) as { query?: unknown; variables?: unknown };
  if (typeof query !== 'string') {
    problems.push('POST /graphql: the body has no query');
    return { errors: [{ message: 'A query attribute must be specified and must be a string.' }] };
  }
  let document;
  try {
    document = parse(query);
  } catch (error) {
    problems.push(`POST /graphql: the query does not parse: ${(error as Error).message}`);
    return { errors: [{ message: (error as Error).message }] };
  }
  const invalid = validate(githubSchema(), document);
  if (invalid.length > 0) {
    problems.push(...invalid.map((e) => `POST /graphql: not in GitHub's schema: ${e.message}`));
    return { errors: invalid.map((e) => ({ message: e.message })) };
  }
  const issueNode = (repo: string, number: number): Record<string, unknown> | null => {
    const issue = state.issue(repo, number);
    if (issue === undefined) return null;
    return {
      __typename: 'Issue',
      number: issue.number,
      title: issue.title,
      body: issue.body,
      url: issue.url,
      author: { __typename: 'User', login: issue.author },
      repository: { nameWithOwner: repo },
      labels: () => ({ nodes: issue.labels.map((name) => ({ name })) }),
      projectItems: () => ({
        nodes: state.boards.flatMap((board) =>
          [...board.items.values()]
            .filter((item) => item.repo === repo && item.issue === number)
            .map((item) => itemNode(board, item)),
        ),
      }),
    };
  };
  const boardNode = (board: Board): Record<string, unknown> => ({
    __typename: 'ProjectV2',
    id: board.id,
    number: board.number,
    owner: { __typename: 'Organization', login: board.owner },
    field: ({ name }: { name: string }) =>
      name === board.fieldName
        ? { __typename: 'ProjectV2SingleSelectField', id: board.fieldId, name, options: board.columns }
        : null,
  });
  const itemNode = (board: Board, item: BoardItem): Record<string, unknown> => ({
    __typename: 'ProjectV2Item',
    id: item.id,
    project: boardNode(board),
    fieldValueByName: ({ name }: { name: string }) =>
      name === board.fieldName && item.column !== undefined
        ? { __typename: 'ProjectV2ItemFieldSingleSelectValue', name: item.column }
        : null,
    content: issueNode(item.repo, item.issue),
  });
  const findItem = (id: string): { board: Board; item: BoardItem } | undefined => {
    for (const board of state.boards) {
      const item = board.items.get(id);
      if (item !== undefined) return { board, item };
    }
    return undefined;
  };
  const rootValue = {
    node: ({ id }: { id: string }) => {
      const found = findItem(id);
      return found === undefined ? null : itemNode(found.board, found.item);
    },
    repository: ({ owner, name }: { owner: string; name: string }) => ({
      issue: ({ number }: { number: number }) => issueNode(`${owner}/${name}`, number),
    }),
    updateProjectV2ItemFieldValue: ({ input }: { input: Record<string, unknown> }) => {
      const found = findItem(String(input.itemId));
      const value = input.value as { singleSelectOptionId?: string } | undefined;
      const column = found?.board.columns.find((c) => c.id === value?.singleSelectOptionId);
      if (
        found === undefined ||
        found.board.id !== input.projectId ||
        found.board.fieldId !== input.fieldId ||
        column === undefined
      ) {
        throw new Error(`Could not resolve to a node with the global id of '${String(input.itemId)}'`);
      }
      found.item.column = column.name;
      return { projectV2Item: itemNode(found.board, found.item) };
    },
  };
  const result = await execute({
    schema: githubSchema(),
    document,
    rootValue,
    variableValues: (variables ?? {}) as Record<string, unknown>,
  });
  if (result.errors !== undefined) problems.push(...result.errors.map((e) => `POST /graphql: ${e.message}`));
  return JSON.parse(JSON.stringify(result)) as Record<string, unknown>;
}
