import QueryStream from 'pg-query-stream';

/**
 * pg-query-stream whose destroy finishes when its connection has died.
 *
 * Destroying a QueryStream closes its cursor, and pg-cursor's close waits for the server's
 * ReadyForQuery, which a terminated session (a restart, a failover, pg_terminate_backend) never
 * sends: the stream would then never emit 'error' or 'close', and whoever reads it would wait
 * forever. The owner of the connection calls {@link connectionLost} from the client's 'error'
 * listener; a destroy in progress then completes, and a stream not yet destroyed fails at once.
 */
export class DisconnectSafeQueryStream extends QueryStream {
  private lost = false;
  private finishPendingDestroy: (() => void) | undefined;

  /** The connection under this stream died: fail the stream now instead of waiting on the server. */
  connectionLost(error: Error): void {
    this.lost = true;
    this.finishPendingDestroy?.();
    this.destroy(error); // a no-op when a destroy is already under way (just finished above)
  }

  override _destroy(error: Error, callback: (error?: Error | null) => void): void {
    if (this.lost) {
      callback(error);
      return;
    }
    let finished = false;
    const finish = (closeError?: Error | null) => {
      if (finished) return;
      finished = true;
      this.finishPendingDestroy = undefined;
      callback(closeError ?? error);
    };
    this.finishPendingDestroy = () => finish();
    super._destroy(error, finish);
  }
}
