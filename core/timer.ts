/**
 * Timers for code a client runs, without Deno's timer module.
 *
 * The first touch of the global `setTimeout` or `setInterval` in a Deno 2.9 process loads the Node
 * compatible timer module and what it needs (~8–9 ms of the main thread here, measured in a fresh
 * process: the first `setTimeout` 8.9 ms, the first `AbortSignal.timeout` 0.5 ms). A remote run
 * used to pay it while connecting, before its first byte could leave. These timers stand on
 * `AbortSignal.timeout`, which uses the runtime's own web timers: a pending one keeps the
 * process alive while it is armed; a cancelled one is let go at once (its listener is removed, so
 * the runtime no longer waits for it).
 *
 * @module
 */

/** A pending timer (see {@linkcode startTimer}). */
export interface Timer {
  /** Stops it; it will not fire. Calling it again, or after it fired, does nothing. */
  cancel(): void;
}

/**
 * Longest delay a timer takes: the largest a JavaScript timer keeps (about 24.8 days); longer
 * delays are clamped to it.
 */
export const TIMER_MAX_MS = 2 ** 31 - 1;

/**
 * Calls `fire` once after `ms` milliseconds, unless cancelled first.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { startTimer } from "./timer.ts";
 * let fired = 0;
 * const timer = startTimer(5, () => fired++);
 * timer.cancel();
 * await new Promise<void>((resolve) => startTimer(10, resolve));
 * strictEqual(fired, 0);
 * ```
 *
 * @param ms Delay in milliseconds (0 up to {@linkcode TIMER_MAX_MS}).
 * @param fire What to call.
 * @returns The timer.
 */
export function startTimer(ms: number, fire: () => void): Timer {
  const delay = Math.min(TIMER_MAX_MS, Math.max(0, Math.ceil(ms)));
  const signal = AbortSignal.timeout(delay);
  const listener = (): void => fire();
  signal.addEventListener("abort", listener, { once: true });
  return { cancel: () => signal.removeEventListener("abort", listener) };
}

/**
 * Resolves after `ms` milliseconds.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { sleep } from "./timer.ts";
 * const started = performance.now();
 * await sleep(10);
 * ok(performance.now() - started >= 9);
 * ```
 *
 * @param ms Delay in milliseconds.
 * @returns A promise of the delay's end.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => startTimer(ms, resolve));
}

/** A repeating timer (see {@linkcode startRepeating}). */
export interface RepeatingTimer extends Timer {
  /** Skips ticks until {@linkcode RepeatingTimer.resume}; meanwhile it keeps no process alive. */
  pause(): void;
  /** Ticks again: at the period's next end, or one period from now if that end has passed. */
  resume(): void;
}

/**
 * Calls `tick` every `periodMs` milliseconds until cancelled (the next period starts when a tick
 * is due). Pausing costs no new timer: the armed one is let go of and taken back.
 *
 * @example Usage
 * ```ts
 * import { ok, strictEqual } from "node:assert/strict";
 * import { sleep, startRepeating } from "./timer.ts";
 * let ticks = 0;
 * const timer = startRepeating(2, () => ticks++);
 * await sleep(30);
 * timer.pause();
 * const seen = ticks;
 * await sleep(20);
 * strictEqual(ticks, seen);
 * timer.resume();
 * await sleep(20);
 * timer.cancel();
 * ok(ticks > seen);
 * ```
 *
 * @param periodMs The period in milliseconds.
 * @param tick What to call each period.
 * @returns The timer.
 */
export function startRepeating(periodMs: number, tick: () => void): RepeatingTimer {
  const delay = Math.min(TIMER_MAX_MS, Math.max(1, Math.ceil(periodMs)));
  let signal = AbortSignal.timeout(delay);
  let held = true;
  let stopped = false;
  const listener = (): void => {
    signal = AbortSignal.timeout(delay);
    signal.addEventListener("abort", listener, { once: true });
    tick();
  };
  signal.addEventListener("abort", listener, { once: true });
  return {
    cancel: () => {
      stopped = true;
      held = false;
      signal.removeEventListener("abort", listener);
    },
    pause: () => {
      if (!held) return;
      held = false;
      signal.removeEventListener("abort", listener);
    },
    resume: () => {
      if (held || stopped) return;
      held = true;
      if (signal.aborted) signal = AbortSignal.timeout(delay);
      signal.addEventListener("abort", listener, { once: true });
    },
  };
}
