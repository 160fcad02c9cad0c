/**
 * A failed PostgreSQL connection's error as a log field: message and codes only. pg-pool hangs
 * the dead client on the error it emits (`err.client`), and the logger would print all of it:
 * connection parameters, socket state, buffers.
 */
export function connectionErrorFields(error: Error): { type: string; message: string; code?: string } {
  const code = (error as { code?: unknown }).code;
  return { type: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
}
