/** Small shared pieces: loading, error and empty states. */
import type { ReactNode } from 'react';

export function Loading({ what }: { what: string }): ReactNode {
  return (
    <p className="state state-loading" role="status">
      Loading {what}…
    </p>
  );
}

export function ErrorBox({ message, onRetry }: { message: string; onRetry?: () => void }): ReactNode {
  return (
    <div className="state state-error" role="alert">
      <span>{message}</span>
      {onRetry !== undefined && (
        <button type="button" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }): ReactNode {
  return <p className="state state-empty">{children}</p>;
}
