/** The signed-in connection every page uses: the API client and the shared live event stream. */
import { createContext, useContext, useEffect, useSyncExternalStore } from 'react';
import type { ApiClient } from './api/client.js';
import type { EventListener, LiveEvents } from './api/live.js';
import type { ConnectionStatus } from './api/sse.js';

export interface Connection {
  api: ApiClient;
  live: LiveEvents;
  /** The product the session acts on ('' for the token's own). */
  product: string;
  setProduct: (product: string) => void;
  signOut: () => void;
}

export const ConnectionContext = createContext<Connection | undefined>(undefined);

export function useConnection(): Connection {
  const connection = useContext(ConnectionContext);
  if (connection === undefined) throw new Error('useConnection outside a signed-in session');
  return connection;
}

/** Calls `listener` for every live event while the component is mounted. */
export function useLiveEvents(listener: EventListener): void {
  const { live } = useConnection();
  useEffect(() => live.subscribe(listener), [live, listener]);
}

export function useLiveStatus(): { status: ConnectionStatus; detail: string | undefined } {
  const { live } = useConnection();
  const status = useSyncExternalStore(
    (notify) => live.subscribeStatus(notify),
    () => live.status,
  );
  return { status, detail: live.statusDetail };
}
