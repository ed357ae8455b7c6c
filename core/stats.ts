/**
 * Counters of a transfer run, updated by the engine and read by progress renderers.
 *
 * @module
 */

import type { TransferFailure } from "./types.ts";

/** How many failures a summary lists before it only counts them. */
export const MAX_LISTED_FAILURES = 50;

/**
 * Live counters of one run. Each failure is counted once; the first
 * {@linkcode MAX_LISTED_FAILURES} are kept with their message.
 */
export class TransferStats {
  /** Source entries examined. */
  examined = 0;
  /** Files the plan decided to send (known only once the walk has finished). */
  planned = 0;
  /** Bytes the plan decided to send. */
  plannedBytes = 0;
  /** Files and links written. */
  transferred = 0;
  /** Payload bytes written. */
  bytes = 0;
  /** Destination entries deleted. */
  deleted = 0;
  /** Source entries removed by move. */
  sourcesRemoved = 0;
  /** Whether the source walk has finished. */
  walkDone = false;
  /** What the engine chose for this run (recorded in the performance history). */
  strategy: Record<string, string | number | boolean> = {};
  /** Per-file failures. */
  readonly failures: TransferFailure[] = [];
  #failed = 0;
  /** When the run started (`performance.now()`). */
  readonly startedAt: number = performance.now();

  /** Number of failures counted. */
  get failed(): number {
    return this.#failed;
  }

  /**
   * Counts one per-file failure.
   * @param path The entry's relative path.
   * @param message One line describing the problem.
   */
  fail(path: string, message: string): void {
    this.#failed++;
    if (this.failures.length < MAX_LISTED_FAILURES) this.failures.push({ path, message });
  }
}
