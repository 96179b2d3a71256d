/** The signed-in session: the token and product, kept in localStorage so a reload stays signed in. */
const TOKEN_KEY = 'conveyor.token';
const PRODUCT_KEY = 'conveyor.product';

export interface Session {
  token: string;
  product: string;
}

export function loadSession(): Session | undefined {
  const token = localStorage.getItem(TOKEN_KEY);
  if (token === null || token === '') return undefined;
  return { token, product: localStorage.getItem(PRODUCT_KEY) ?? '' };
}

export function saveSession(session: Session): void {
  localStorage.setItem(TOKEN_KEY, session.token);
  localStorage.setItem(PRODUCT_KEY, session.product);
}

export function clearSession(): void {
  localStorage.removeItem(TOKEN_KEY);
}
