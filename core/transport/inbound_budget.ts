/**
 * A byte budget shared by every control stream of a process: frames received but not yet read
 * by their session count against it, so that many sessions together cannot grow the daemon's
 * memory without bound either. A stream over its own cap, or any stream holding frames while
 * the shared budget is spent, stops reading from the network until its session catches up
 * (see `stream_port.ts`).
 *
 * @module
 */

/**
 * Bytes held, against a limit.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { InboundBudget } from "./inbound_budget.ts";
 * const budget = new InboundBudget(100);
 * budget.take(80);
 * strictEqual(budget.exhausted, false);
 * budget.take(30);
 * strictEqual(budget.exhausted, true);
 * budget.give(30);
 * strictEqual(budget.held, 80);
 * ```
 */
export class InboundBudget {
  readonly #limit: number;
  #held = 0;

  /**
   * Creates a budget.
   * @param limitBytes The bytes all streams together may hold.
   * @throws {RangeError} When the limit is not a positive number.
   */
  constructor(limitBytes: number) {
    if (!(limitBytes > 0)) {
      throw new RangeError(`Cannot create an inbound budget of ${limitBytes} bytes: give > 0`);
    }
    this.#limit = limitBytes;
  }

  /** The limit in bytes. */
  get limit(): number {
    return this.#limit;
  }

  /** Bytes held now. */
  get held(): number {
    return this.#held;
  }

  /** Whether the streams together hold the limit or more. */
  get exhausted(): boolean {
    return this.#held >= this.#limit;
  }

  /**
   * Counts bytes a stream queued.
   * @param bytes How many.
   */
  take(bytes: number): void {
    this.#held += bytes;
  }

  /**
   * Returns bytes a stream's session read (or dropped).
   * @param bytes How many.
   */
  give(bytes: number): void {
    this.#held = Math.max(0, this.#held - bytes);
  }
}
