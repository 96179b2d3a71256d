/** The board: a column per stage, the stages where work stopped folded into one side column, and filters. */
import { type ReactNode, useCallback, useEffect, useState, useSyncExternalStore } from 'react';
import type { JobView, Stage } from '../api/types.js';
import { useConnection } from '../connection.js';
import { agentLabel, stageLabel } from '../format.js';
import { type BoardStore, MAIN_STAGES, SIDE_STAGES } from './board-store.js';
import { Column } from './column.js';
import { useBoard } from './use-board.js';

const AGENTS = ['builtin', 'claude-code', 'codex', 'droid', 'gemini', 'command', 'replay'] as const;

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => {
      setNow(Date.now());
    }, intervalMs);
    return () => {
      clearInterval(timer);
    };
  }, [intervalMs]);
  return now;
}

function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => {
      setDebounced(value);
    }, ms);
    return () => {
      clearTimeout(timer);
    };
  }, [value, ms]);
  return debounced;
}

/** Each stopped stage's count as the selector shows it (`3`, `100+`), in `SIDE_STAGES` order. */
function useSideCounts(store: BoardStore): string[] {
  return useSyncExternalStore(store.subscribe, () =>
    SIDE_STAGES.map((stage) => `${store.column(stage).ids.length}${store.hasMore(stage) ? '+' : ''}`).join(','),
  ).split(',');
}

/**
 * The stopped stage the side column shows: the one the user picked, else the most urgent one with jobs
 * (following live changes), else the most urgent.
 */
function sideStage(chosen: Stage | undefined, counts: readonly string[]): Stage {
  if (chosen !== undefined) return chosen;
  const busy = SIDE_STAGES.findIndex((_, i) => Number.parseInt(counts[i] ?? '0', 10) > 0);
  return SIDE_STAGES[Math.max(0, busy)] ?? 'failed';
}

/** Picks which of the stopped stages the side column shows, with their counts. */
function SideSelect(props: { counts: readonly string[]; value: Stage; onChange: (stage: Stage) => void }): ReactNode {
  return (
    <select
      className="side-select"
      aria-label="stopped stage"
      value={props.value}
      onChange={(event) => {
        props.onChange(event.target.value as Stage);
      }}
    >
      {SIDE_STAGES.map((stage, i) => (
        <option key={stage} value={stage}>
          {stageLabel(stage)} ({props.counts[i]})
        </option>
      ))}
    </select>
  );
}

export function BoardPage(): ReactNode {
  const { product, setProduct } = useConnection();
  const [text, setText] = useState('');
  const [agent, setAgent] = useState('');
  const [productDraft, setProductDraft] = useState(product);
  const [chosenSide, setChosenSide] = useState<Stage>();
  const query = useDebounced(text.trim(), 250);
  const { store, loadMore } = useBoard(query);
  const sideCounts = useSideCounts(store);
  const side = sideStage(chosenSide, sideCounts);
  const now = useNow(1000);

  const agentFilter = useCallback(
    (job: JobView, replayed: boolean): boolean => {
      if (agent === '') return true;
      const label = agentLabel(job, replayed);
      if (agent === 'replay') return label === 'replay';
      return job.agent?.runtime === agent && label !== 'replay';
    },
    [agent],
  );

  return (
    <div className="board-page">
      <form
        className="filters"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          setProduct(productDraft.trim());
        }}
      >
        <label>
          <span>Search</span>
          <input
            type="search"
            name="q"
            placeholder="title or task text"
            value={text}
            onChange={(event) => {
              setText(event.target.value);
            }}
          />
        </label>
        <label>
          <span>Agent</span>
          <select
            name="agent"
            value={agent}
            onChange={(event) => {
              setAgent(event.target.value);
            }}
          >
            <option value="">all</option>
            {AGENTS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Product</span>
          <input
            name="product"
            placeholder="token's product"
            value={productDraft}
            onChange={(event) => {
              setProductDraft(event.target.value);
            }}
            onBlur={() => {
              setProduct(productDraft.trim());
            }}
          />
        </label>
      </form>
      <div className="board" data-testid="board">
        {MAIN_STAGES.map((stage) => (
          <Column key={stage} store={store} stage={stage} now={now} agentFilter={agentFilter} loadMore={loadMore} />
        ))}
        <Column
          key={`side-${side}`}
          store={store}
          stage={side}
          now={now}
          agentFilter={agentFilter}
          loadMore={loadMore}
          header={
            <SideSelect
              counts={sideCounts}
              value={side}
              onChange={(stage) => {
                setChosenSide(stage);
              }}
            />
          }
        />
      </div>
    </div>
  );
}
