const caches = new WeakMap<object, Map<string, Promise<unknown>>>();

/**
 * Loads something once per GraphQL request (the context object is one per request), so field
 * resolvers over a list share one query instead of one each (no N+1). Gone with the request.
 */
export function oncePerRequest<T>(context: object, key: string, load: () => Promise<T>): Promise<T> {
  let cache = caches.get(context);
  if (!cache) {
    cache = new Map();
    caches.set(context, cache);
  }
  let value = cache.get(key) as Promise<T> | undefined;
  if (!value) {
    value = load();
    cache.set(key, value);
  }
  return value;
}
