/**
 * The deadline and cancellation an admin operation runs under, and the pacing of long walks.
 *
 * @module
 */

import { AdminError } from "./admin_error.ts";
import { ADMIN_LIMITS } from "./admin_limits.ts";

/**
 * A deadline plus the caller's cancellation, checked by the operations between steps. Long walks
 * also call {@linkcode AdminBudget.tick} once per entry: every
 * {@linkcode ADMIN_LIMITS.entriesPerTick} entries it yields to the event loop (so that one walk
 * never starves a daemon's other calls) and checks the budget.
 *
 * @example Usage
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { AdminBudget, AdminError } from "./mod.ts";
 * const budget = new AdminBudget("find", -1);
 * throws(() => budget.check(), AdminError);
 * ```
 */
export class AdminBudget {
  readonly #action: string;
  readonly #deadline: number;
  readonly #limitMs: number;
  readonly #cancelled: () => boolean;
  #entries = 0;

  /**
   * Starts a budget now.
   * @param action What runs, as a verb phrase for the error ("search in module \"m\"").
   * @param limitMs Milliseconds the operation may take.
   * @param cancelled Tells whether the caller went away.
   */
  constructor(action: string, limitMs: number, cancelled: () => boolean = () => false) {
    this.#action = action;
    this.#limitMs = limitMs;
    this.#deadline = Date.now() + limitMs;
    this.#cancelled = cancelled;
  }

  /**
   * Throws when the deadline passed or the caller cancelled.
   * @throws {AdminError} `deadline` or `cancelled`.
   */
  check(): void {
    if (this.#cancelled()) {
      throw new AdminError("cancelled", `Cannot ${this.#action}: the client cancelled`);
    }
    if (Date.now() > this.#deadline) {
      throw new AdminError(
        "deadline",
        `Cannot ${this.#action}: it ran longer than ${
          Math.round(this.#limitMs / 1000)
        } s, name a smaller subtree`,
      );
    }
  }

  /**
   * Counts one entry of a walk; every {@linkcode ADMIN_LIMITS.entriesPerTick} entries, waits one
   * macrotask (timers and I/O callbacks run) and checks the budget.
   * @throws {AdminError} `deadline` or `cancelled`.
   * @returns When the walk may go on.
   */
  async tick(): Promise<void> {
    this.#entries++;
    if (this.#entries % ADMIN_LIMITS.entriesPerTick !== 0) return;
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    this.check();
  }
}
