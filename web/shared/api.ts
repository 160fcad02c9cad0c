/**
 * What both pages share: the API key, kept in sessionStorage only (this tab, until it closes;
 * never localStorage, a cookie or a URL), and GraphQL requests to /api/audit/graphql with it as
 * a Bearer token.
 */
const KEY_ITEM = 'audit-export.api-key';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_ITEM);
}

export function storeKey(key: string): void {
  sessionStorage.setItem(KEY_ITEM, key.trim());
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY_ITEM);
}

export const GRAPHQL_PATH = '/api/audit/graphql';

export interface GraphQLResponse<T> {
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** A GraphQL request with the stored key; same origin only. */
export async function graphql<T>(query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResponse<T>> {
  const key = storedKey();
  const response = await fetch(GRAPHQL_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ query, variables }),
    credentials: 'omit',
    cache: 'no-store',
  });
  return (await response.json()) as GraphQLResponse<T>;
}
