/**
 * Sign-in: paste a token (kept in localStorage), or arrive through a one-time link printed by
 * `conveyor serve --open` (`/login#code=…`), whose code is exchanged for a new admin token.
 */
import { type ReactNode, useEffect, useState } from 'react';
import { ApiClient, exchangeLoginCode, messageOf } from './api/client.js';
import { navigate } from './router.js';
import type { Session } from './session.js';

/** Exchanges at most once per page load, even if the effect runs twice. */
let exchange: Promise<string> | undefined;

function loginCode(): string | undefined {
  const match = /(?:^#|&)code=([^&]+)/.exec(location.hash);
  return match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
}

export function SignIn({ onSignIn, notice }: { onSignIn: (session: Session) => void; notice?: string }): ReactNode {
  const [token, setToken] = useState('');
  const [product, setProduct] = useState('');
  const [error, setError] = useState<string | undefined>(notice);
  const [busy, setBusy] = useState(false);
  const code = loginCode();

  useEffect(() => {
    if (code === undefined) return;
    setBusy(true);
    exchange ??= exchangeLoginCode(code);
    exchange
      .then((secret) => {
        navigate('/', { replace: true });
        onSignIn({ token: secret, product: '' });
      })
      .catch((e: unknown) => {
        history.replaceState(null, '', '/');
        setError(`That login link did not work: ${messageOf(e)}`);
        setBusy(false);
      });
  }, [code, onSignIn]);

  const submit = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    const session = { token: token.trim(), product: product.trim() };
    try {
      // Checks the token before keeping it: a typo should fail here, not on every page.
      await new ApiClient(session).get('/api/jobs?limit=1');
      onSignIn(session);
    } catch (e) {
      setError(messageOf(e));
      setBusy(false);
    }
  };

  return (
    <main className="sign-in">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void submit();
        }}
      >
        <h1>Conveyor</h1>
        <p>Sign in with an API token (admin or submit role).</p>
        {error !== undefined && (
          <p className="state state-error" role="alert">
            {error}
          </p>
        )}
        <label>
          <span>Token</span>
          <input
            name="token"
            type="password"
            autoComplete="current-password"
            required
            value={token}
            onChange={(event) => {
              setToken(event.target.value);
            }}
            placeholder="cvy_…"
          />
        </label>
        <label>
          <span>Product (optional)</span>
          <input
            name="product"
            value={product}
            onChange={(event) => {
              setProduct(event.target.value);
            }}
            placeholder="default"
          />
        </label>
        <button type="submit" disabled={busy || token.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="hint">
          <code>conveyor serve</code> prints an admin token on first start; <code>conveyor tokens create</code> makes
          more; <code>conveyor serve --open</code> prints a one-time sign-in link.
        </p>
      </form>
    </main>
  );
}
