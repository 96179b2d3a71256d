/** The shell: sign-in gate, the shared connection, navigation and the pages. */
import { type ReactNode, useCallback, useEffect, useMemo, useState } from 'react';
import { ApiClient } from './api/client.js';
import { LiveEvents } from './api/live.js';
import { BoardPage } from './board/board-page.js';
import { type Connection, ConnectionContext, useConnection, useLiveStatus } from './connection.js';
import { FleetPage } from './fleet/fleet-page.js';
import { JobPage } from './job/job-page.js';
import { Link, usePath } from './router.js';
import { clearSession, loadSession, saveSession, type Session } from './session.js';
import { SignIn } from './sign-in.js';
import { SubmitPage } from './submit/submit-page.js';
import { Empty } from './ui.js';

const STATUS_TEXT = {
  connecting: 'connecting',
  open: 'live',
  reconnecting: 'reconnecting…',
  closed: 'offline',
  unauthorized: 'token refused',
} as const;

function LiveBadge(): ReactNode {
  const { status, detail } = useLiveStatus();
  return (
    <span className={`live live-${status}`} title={detail ?? STATUS_TEXT[status]} data-testid="live-status">
      {STATUS_TEXT[status]}
    </span>
  );
}

function Page(): ReactNode {
  const path = usePath();
  const job = /^\/jobs\/([0-9A-Za-z]{26})$/.exec(path);
  if (job?.[1] !== undefined) return <JobPage key={job[1]} id={job[1]} />;
  if (path === '/' || path === '/board' || path === '/login') return <BoardPage />;
  if (path === '/fleet') return <FleetPage />;
  if (path === '/submit') return <SubmitPage />;
  return (
    <Empty>
      No page at <code>{path}</code>. <Link to="/">Back to the board</Link>
    </Empty>
  );
}

function Shell(): ReactNode {
  const { signOut, product } = useConnection();
  const path = usePath();
  const nav = (to: string, label: string): ReactNode => (
    <Link to={to} className={path === to || (to === '/' && path.startsWith('/jobs/')) ? 'active' : ''}>
      {label}
    </Link>
  );
  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">Conveyor</span>
        <nav>
          {nav('/', 'Board')}
          {nav('/fleet', 'Fleet')}
          {nav('/submit', 'Submit')}
        </nav>
        <span className="spacer" />
        {product !== '' && <span className="product">product {product}</span>}
        <LiveBadge />
        <button type="button" className="link" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main className="content">
        <Page />
      </main>
    </div>
  );
}

export function App(): ReactNode {
  const [session, setSession] = useState<Session | undefined>(() => loadSession());
  const [notice, setNotice] = useState<string | undefined>(undefined);

  const signIn = useCallback((next: Session) => {
    saveSession(next);
    setNotice(undefined);
    setSession(next);
  }, []);
  const signOut = useCallback(() => {
    clearSession();
    setSession(undefined);
  }, []);

  const connection = useMemo<Connection | undefined>(() => {
    if (session === undefined) return undefined;
    const api = new ApiClient({ token: session.token, product: session.product });
    return {
      api,
      live: new LiveEvents(api),
      product: session.product,
      setProduct: (product) => {
        if (product !== session.product) signIn({ ...session, product });
      },
      signOut,
    };
  }, [session, signIn, signOut]);

  useEffect(() => {
    if (connection === undefined) return;
    void connection.live.start();
    const unsubscribe = connection.live.subscribeStatus(() => {
      if (connection.live.status === 'unauthorized') {
        clearSession();
        setNotice('The coordinator refused the saved token; sign in again.');
        setSession(undefined);
      }
    });
    return () => {
      unsubscribe();
      connection.live.close();
    };
  }, [connection]);

  if (connection === undefined || location.hash.includes('code=')) {
    return <SignIn onSignIn={signIn} {...(notice === undefined ? {} : { notice })} />;
  }
  return (
    <ConnectionContext.Provider value={connection}>
      <Shell />
    </ConnectionContext.Provider>
  );
}
