/**
 * Deadlines for network waits. A peer that stalls is detected by a lack of progress, never by
 * the total time a transfer takes: {@linkcode withDeadline} bounds one wait (accept, token read,
 * dial), and {@linkcode StallGuard} bounds each read or write of a long stream, restarting its
 * clock whenever bytes move.
 *
 * Neither can cancel a pending `Deno.Conn` operation by itself: both call an `onTimeout` /
 * `onStall` callback, in which the caller closes the connection so the pending operation rejects.
 *
 * @module
 */

import { type RepeatingTimer, startRepeating, startTimer } from "../timer.ts";

/** Thrown when a network wait made no progress within its deadline. */
export class TimeoutError extends Error {
  /** The idle limit that was exceeded, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Creates a timeout error.
   * @param action What was being done, as a verb phrase ("read data record").
   * @param timeoutMs The idle limit in milliseconds.
   */
  constructor(action: string, timeoutMs: number) {
    super(`Cannot ${action}: no progress for ${formatSeconds(timeoutMs)} s`);
    this.name = "TimeoutError";
    this.timeoutMs = timeoutMs;
  }
}

/** Options for {@linkcode withDeadline}. */
export interface DeadlineOptions {
  /** Milliseconds to wait before giving up. */
  timeoutMs: number;
  /** What is being waited for, as a verb phrase for the error ("read session token"). */
  action: string;
  /** Called once on timeout, before the rejection; close the connection here. */
  onTimeout?: () => void;
}

/**
 * Waits for `promise`, or rejects with a {@linkcode TimeoutError} once `timeoutMs` has passed.
 * On timeout `onTimeout` runs first so the caller can close the resource that `promise` waits on;
 * a later rejection of `promise` is then ignored.
 *
 * @example Usage
 * ```ts
 * import { rejects } from "node:assert/strict";
 * import { TimeoutError, withDeadline } from "./deadline.ts";
 * let closed = false;
 * await rejects(
 *   withDeadline(new Promise(() => {}), {
 *     timeoutMs: 10,
 *     action: "read session token",
 *     onTimeout: () => closed = true,
 *   }),
 *   TimeoutError,
 * );
 * ```
 *
 * @param promise The pending operation.
 * @param options The limit, the action named in the error, and the timeout hook.
 * @throws {TimeoutError} When `promise` has not settled within `timeoutMs`.
 * @returns What `promise` resolves to.
 */
export function withDeadline<T>(promise: Promise<T>, options: DeadlineOptions): Promise<T> {
  const { timeoutMs, action, onTimeout } = options;
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = startTimer(timeoutMs, () => {
      if (done) return;
      done = true;
      try {
        onTimeout?.();
      } finally {
        reject(new TimeoutError(action, timeoutMs));
      }
    });
    promise.then(
      (value) => {
        if (done) return;
        done = true;
        timer.cancel();
        resolve(value);
      },
      (error: unknown) => {
        if (done) return;
        done = true;
        timer.cancel();
        reject(error);
      },
    );
  });
}

/** Options for {@linkcode StallGuard}. */
export interface StallGuardOptions {
  /** Longest time a pending operation may go without progress, in milliseconds. */
  idleTimeoutMs: number;
  /** Named in the error, as a verb phrase ("read data record"). */
  action: string;
  /** Called once when a stall is detected; close the connection here. */
  onStall: () => void;
}

/**
 * A progress-based deadline for a long stream. Wrap each network operation in
 * {@linkcode StallGuard.run}: the guard fires only while an operation is pending and no progress
 * was seen for `idleTimeoutMs`; time spent between operations (writing to local disk, waiting on
 * a sink) never counts. One interval timer serves the whole stream, so the per-chunk cost is a
 * clock read.
 *
 * @example Usage
 * ```ts
 * import { rejects } from "node:assert/strict";
 * import { StallGuard, TimeoutError } from "./deadline.ts";
 * let cancel = () => {};
 * const guard = new StallGuard({ idleTimeoutMs: 20, action: "read data", onStall: () => cancel() });
 * const stuck = new Promise<number>((_, reject) => cancel = () => reject(new Error("closed")));
 * await rejects(guard.run(() => stuck), TimeoutError);
 * guard.stop();
 * ```
 */
export class StallGuard {
  #idleTimeoutMs: number;
  #action: string;
  #onStall: () => void;
  #pending = 0;
  #last = 0;
  #timer: RepeatingTimer | undefined;
  #stalled: TimeoutError | null = null;
  #waiters = new Set<(error: TimeoutError) => void>();

  /**
   * Creates a guard; its timer starts with the first operation.
   * @param options The idle limit, the action named in the error, and the stall hook.
   */
  constructor(options: StallGuardOptions) {
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#action = options.action;
    this.#onStall = options.onStall;
  }

  /** The error of a detected stall, or `null` while none happened. */
  get stalled(): TimeoutError | null {
    return this.#stalled;
  }

  /** Records progress (bytes moved): the idle clock restarts. */
  touch(): void {
    this.#last = performance.now();
  }

  /**
   * Runs one network operation under the guard. Progress is recorded when it settles; when a
   * stall was detected its rejection is replaced by the stall's {@linkcode TimeoutError}.
   *
   * @param op Starts the operation.
   * @throws {TimeoutError} When the guard fired while `op` was pending.
   * @returns What `op` resolves to.
   */
  async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.#stalled) throw this.#stalled;
    if (this.#pending++ === 0) this.#last = performance.now();
    this.#arm();
    // The timer keeps the process alive only while an operation is pending.
    this.#timer?.resume();
    let fail: (error: TimeoutError) => void = () => {};
    const stalled = new Promise<never>((_, reject) => fail = reject);
    this.#waiters.add(fail);
    try {
      const value = await Promise.race([op(), stalled]);
      this.#last = performance.now();
      return value;
    } catch (error) {
      throw this.#stalled ?? error;
    } finally {
      this.#waiters.delete(fail);
      if (--this.#pending === 0) this.#timer?.pause();
    }
  }

  /** Stops the timer; call it when the stream is done (or failed). */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#stalled) return;
    const period = Math.max(5, Math.min(1000, Math.floor(this.#idleTimeoutMs / 4)));
    this.#timer = startRepeating(period, () => this.#check());
  }

  #check(): void {
    if (this.#pending === 0) return;
    if (performance.now() - this.#last <= this.#idleTimeoutMs) return;
    const stalled = new TimeoutError(this.#action, this.#idleTimeoutMs);
    this.#stalled = stalled;
    this.stop();
    try {
      this.#onStall();
    } finally {
      for (const fail of this.#waiters) fail(stalled);
    }
  }
}

function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? String(s) : s.toFixed(ms < 1000 ? 2 : 1).replace(/0+$/, "");
}
