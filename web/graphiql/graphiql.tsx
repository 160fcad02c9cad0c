import { GraphiQL } from 'graphiql';
import 'graphiql/graphiql.css';
import { createRoot } from 'react-dom/client';
import { GRAPHQL_PATH, storedKey, storeKey } from '../shared/api';

/**
 * GraphiQL, bundled from npm (no CDN), against /api/audit/graphql with the key from
 * sessionStorage. Its own state (tabs, queries) goes to sessionStorage too, and headers are never
 * persisted, so nothing of a session outlives the tab.
 */

const DEFAULT_QUERY = `# The export configurations and how their deliveries stand.
query {
  getExportConfigurationStatuses {
    id
    bucket
    path
    enabled
    consecutiveFailures
    deliveryLagSeconds
    lastError
  }
}
`;

/** Fetcher: a plain POST with the key as Bearer token; no subscriptions. */
async function fetcher(params: unknown): Promise<unknown> {
  const response = await fetch(GRAPHQL_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${storedKey() ?? ''}` },
    body: JSON.stringify(params),
    credentials: 'omit',
    cache: 'no-store',
  });
  return response.json();
}

/** GraphiQL's storage namespace, in sessionStorage instead of its default localStorage. */
const sessionStore = {
  getItem: (key: string) => sessionStorage.getItem(`graphiql:${key}`),
  setItem: (key: string, value: string) => sessionStorage.setItem(`graphiql:${key}`, value),
  removeItem: (key: string) => sessionStorage.removeItem(`graphiql:${key}`),
  clear: () => {
    for (const key of Object.keys(sessionStorage)) if (key.startsWith('graphiql:')) sessionStorage.removeItem(key);
  },
  get length() {
    return Object.keys(sessionStorage).filter((key) => key.startsWith('graphiql:')).length;
  },
};

function start(): void {
  const root = createRoot(document.getElementById('graphiql')!);
  root.render(<GraphiQL fetcher={fetcher as never} defaultQuery={DEFAULT_QUERY} storage={sessionStore as never} shouldPersistHeaders={false} isHeadersEditorEnabled={false} />);
}

document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('key-form') as HTMLFormElement;
  if (storedKey()) {
    start();
    return;
  }
  form.hidden = false;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const input = document.getElementById('api-key') as HTMLInputElement;
    storeKey(input.value);
    input.value = '';
    form.hidden = true;
    start();
  });
});
