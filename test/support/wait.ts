import type { ChildProcess } from 'node:child_process';

/**
 * Polls until `check` returns a value other than undefined, and returns it; fails with `what`
 * after `timeoutMs`, so a stuck service fails the test instead of hanging it. With
 * `ignoreErrors`, a check that throws counts as "not yet" (a service a fault test is restarting
 * or cutting off is expected to refuse some of them).
 */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 50, options: { ignoreErrors?: boolean } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = options.ignoreErrors ? await check().catch(() => undefined) : await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Asks a child process to stop (SIGTERM), and kills it if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
}
