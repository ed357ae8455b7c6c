/**
 * Error classes shared by the engine, the CLI and the daemon.
 *
 * Per-file problems are not thrown: they are counted in {@linkcode TransferStats} and the run
 * goes on. The classes here are for conditions that stop a run before or while it starts.
 *
 * @module
 */

/** Thrown for bad input from a user: a bad flag, a missing source, overlapping roots. Exit 1. */
export class UsageError extends Error {
  /**
   * Creates a usage error.
   * @param message One line naming the problem and the fix.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Thrown when a run cannot go on at all (the destination is not writable, for example). Exit 1. */
export class FatalError extends Error {
  /**
   * Creates a fatal error.
   * @param message One line naming the problem.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FatalError";
  }
}

/**
 * Returns a one-line description of any thrown value, without a stack trace.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { describeError } from "./errors.ts";
 * strictEqual(describeError(new Error("Cannot open \"x\"\nmore")), "Cannot open \"x\"");
 * ```
 *
 * @param error The caught value.
 * @returns The first line of its message.
 */
export function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n", 1)[0] ?? text;
}
