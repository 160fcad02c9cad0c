import type { Cluster, Redis } from 'ioredis';

/**
 * How the service's Redis connections come back after Redis is lost, and how they end while it is
 * lost. The queues' connections reconnect with {@link reconnectDelayMs} and are ended by
 * {@link endRedisClient}; a Worker's reconnect with a {@link RedisReconnection}'s strategy and are
 * ended by BullMQ once it is stopped. (The readiness probe retries faster, on a client of its own
 * that it disconnects directly.)
 *
 * Why ending needs care: ioredis tries a lost connection again on a timer of its own, for as long
 * as `retryStrategy` answers a delay, and a client between two attempts (`reconnecting`) has no
 * socket. BullMQ's `close()` ends a connection with QUIT: a client without an offline queue refuses
 * it at once ("Stream isn't writeable and enableOfflineQueue options is false", which BullMQ does
 * not take for a connection error, so it rethrows it and leaves the client as it was), and one whose
 * offline queue holds commands (a Worker's blocking read) queues it behind them until Redis answers
 * again. Either way the client goes on reconnecting after the process has "stopped", for ever, and
 * keeps it alive (a test runner that never exits, a shutdown that never ends). `disconnect()`
 * cancels the timer, but a Worker's close() then waits for an `end` event that a reconnecting
 * client never emits (BullMQ's resetBlockedConnection explains it, #4585).
 */

/** Longest wait between two attempts to reach a lost Redis: what a stop waits at most for a connection to give up. */
export const REDIS_RECONNECT_MAX_DELAY_MS = 2_000;

/**
 * ioredis `retryStrategy`: 1 s after the loss (BullMQ's own first delay), then every
 * {@link REDIS_RECONNECT_MAX_DELAY_MS}. BullMQ's default grows to 20 s, which would leave a
 * Redis that is back unused for that long, and make a stop wait as long.
 */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(attempt * 1_000, REDIS_RECONNECT_MAX_DELAY_MS);
}

/**
 * {@link reconnectDelayMs} with an off switch, for connections BullMQ makes and ends itself (a
 * Worker's two, made from the options it is given or duplicated from the cluster client it is
 * given, out of the caller's reach). After
 * `stop()`, a connection made with `retryStrategy` gives up at its next attempt instead of waiting
 * for Redis: it ends (`end` is emitted), what it had queued is rejected as "Connection is closed",
 * and BullMQ's close() goes on.
 */
export class RedisReconnection {
  private stopped = false;

  readonly retryStrategy = (attempt: number): number | null => (this.stopped ? null : reconnectDelayMs(attempt));

  stop(): void {
    this.stopped = true;
  }
}

/**
 * Ends a Redis client the service made and owns, whatever its state: QUIT when it is connected
 * (the replies to what it sent arrive first), bounded by `timeoutMs`, then `disconnect()`, which
 * also cancels a pending reconnection attempt, the part QUIT cannot do.
 */
export async function endRedisClient(client: Redis | Cluster, timeoutMs = 1_000): Promise<void> {
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.quit().catch(() => undefined),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }
  if (client.status !== 'end') client.disconnect();
}

/**
 * Resolves once none of `clients` (BullMQ's promises of a Worker's connections) that has been
 * connected is between two connection attempts, or after `timeoutMs`. With its reconnection
 * stopped, such a client ends at its next attempt, within {@link REDIS_RECONNECT_MAX_DELAY_MS}.
 * A client that never connected is not waited for: BullMQ's close() waits for it to end itself
 * (its promise rejects then), and closing at once keeps the worker from starting its retry
 * delays (15 s, which close() does not cut short) when that client's commands fail.
 */
export async function untilNoneReconnecting(clients: ReadonlyArray<Promise<{ status: string }> | undefined>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const connected: Array<{ status: string }> = [];
  for (const pending of clients) pending?.then((client) => connected.push(client)).catch(() => undefined);
  // One turn of the event loop: the promises of clients that have been connected are resolved already.
  await new Promise((resolve) => setImmediate(resolve));
  while (connected.some((client) => client.status === 'reconnecting') && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
