/**
 * A bounded pool of concurrent async tasks.
 *
 * @module
 */

/**
 * Runs async tasks with at most `limit` in flight. `run()` resolves once the task has *started*,
 * so a producer awaiting it is held back while the pool is full (back-pressure); `drain()` waits
 * for every task. Task errors must be handled by the task itself: a rejection is kept and
 * re-thrown by `drain()`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { TaskPool } from "./pool.ts";
 * const pool = new TaskPool(2);
 * let done = 0;
 * for (let i = 0; i < 5; i++) await pool.run(async () => { done++; });
 * await pool.drain();
 * strictEqual(done, 5);
 * ```
 */
export class TaskPool {
  #limit: number;
  #active = 0;
  #waiters: (() => void)[] = [];
  #idle: (() => void)[] = [];
  #error: unknown = undefined;
  #failed = false;

  /**
   * Creates a pool.
   * @param limit Maximum tasks in flight (at least 1).
   */
  constructor(limit: number) {
    this.#limit = Math.max(1, Math.floor(limit));
  }

  /** Tasks currently running. */
  get active(): number {
    return this.#active;
  }

  /**
   * Starts `task` as soon as a slot is free.
   * @param task The work to run.
   * @returns A promise that resolves when the task has started.
   */
  async run(task: () => Promise<void>): Promise<void> {
    while (this.#active >= this.#limit) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#active++;
    task().catch((error: unknown) => {
      if (!this.#failed) {
        this.#failed = true;
        this.#error = error;
      }
    }).finally(() => {
      this.#active--;
      this.#waiters.shift()?.();
      if (this.#active === 0) {
        for (const resolve of this.#idle.splice(0)) resolve();
      }
    });
  }

  /**
   * Waits until no task is running.
   * @throws The first error a task rejected with.
   */
  async drain(): Promise<void> {
    while (this.#active > 0) {
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
    if (this.#failed) throw this.#error;
  }
}
