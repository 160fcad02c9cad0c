/**
 * A small closed-loop load generator: `clients` concurrent loops, each sending its next request as
 * soon as the previous one is answered, until `requests` were sent in all or `durationMs` passed.
 * In the section's process, while the server runs in another (bench-app.ts); fetch keeps its
 * connections alive, as a real client would.
 */
export interface LoadResult {
  requests: number;
  seconds: number;
  /** Per request, in milliseconds, in completion order. */
  latenciesMs: number[];
}

export async function closedLoop(options: { clients: number; requests?: number; durationMs?: number; send: (index: number) => Promise<void> }): Promise<LoadResult> {
  const { clients, send } = options;
  if (options.requests === undefined && options.durationMs === undefined) throw new Error('closedLoop needs requests or durationMs');
  const latenciesMs: number[] = [];
  let issued = 0;
  const started = process.hrtime.bigint();
  const deadline = options.durationMs === undefined ? undefined : started + BigInt(options.durationMs) * 1_000_000n;
  const more = () => (options.requests === undefined || issued < options.requests) && (deadline === undefined || process.hrtime.bigint() < deadline);
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (more()) {
        const index = issued;
        issued += 1;
        const sent = process.hrtime.bigint();
        await send(index);
        latenciesMs.push(Number(process.hrtime.bigint() - sent) / 1e6);
      }
    }),
  );
  return { requests: latenciesMs.length, seconds: Number(process.hrtime.bigint() - started) / 1e9, latenciesMs };
}
