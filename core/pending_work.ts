/**
 * Work a run leaves to finish in the background (the control stream's last frames, an old
 * version's removal on an I/O thread), so that a command can end its process as soon as that
 * work is done, without waiting for anything else.
 *
 * Why a command ends its process itself (`Deno.exit`) instead of letting the event loop drain:
 * a Deno process that ends on its own closes its caches of compiled code and module analysis,
 * and may `fsync` them; right after a large write, that `fsync` waits for the disk (~0.5 s after
 * a 1 GiB copy here, measured with `strace -f -T`), while the run's own work was done.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { finishBeforeExit, pendingWorkSettled } from "./pending_work.ts";
 * let done = false;
 * void finishBeforeExit(Promise.resolve().then(() => {
 *   done = true;
 * }));
 * await pendingWorkSettled(1_000);
 * strictEqual(done, true);
 * ```
 *
 * @module
 */

import { startTimer, type Timer } from "./timer.ts";

const pending = new Set<Promise<unknown>>();

/**
 * Records work that must finish before a command ends its process (see
 * {@linkcode pendingWorkSettled}); it is forgotten once it settles.
 * @param work The work.
 * @returns The same promise.
 */
export function finishBeforeExit<T>(work: Promise<T>): Promise<T> {
  pending.add(work);
  const forget = (): void => {
    pending.delete(work);
  };
  work.then(forget, forget);
  return work;
}

/**
 * Waits until every piece of work recorded with {@linkcode finishBeforeExit} (including work
 * recorded meanwhile) has settled, or `timeoutMs` has passed.
 * @param timeoutMs The longest wait.
 * @returns Whether everything settled in time.
 */
export async function pendingWorkSettled(timeoutMs: number): Promise<boolean> {
  let timer: Timer | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = startTimer(timeoutMs, () => resolve(false));
  });
  try {
    return await Promise.race([settledAll().then(() => true), late]);
  } finally {
    timer?.cancel();
  }
}

/** Every recorded piece of work settled, including work recorded while waiting. */
async function settledAll(): Promise<void> {
  while (pending.size > 0) await Promise.allSettled([...pending]);
}
