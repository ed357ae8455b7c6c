/**
 * Parses the value of the scan verbs' `--wait SECONDS` flag.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";

/** Longest `--wait`, in seconds. */
const MAX_WAIT_SECONDS = 300;

/**
 * Parses a `--wait` value.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseWait } from "./parse_wait.ts";
 * strictEqual(parseWait("0.5"), 500);
 * strictEqual(parseWait(undefined), 2000);
 * ```
 *
 * @param text The flag's value, or `undefined` for the default of 2 seconds.
 * @throws {UsageError} If it is not a number of seconds above 0 and at most 300.
 * @returns Milliseconds.
 */
export function parseWait(text: string | undefined): number {
  if (text === undefined) return 2000;
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(seconds > 0 && seconds <= MAX_WAIT_SECONDS)) {
    throw new UsageError(
      `Cannot use --wait "${text}": give a number of seconds above 0 and at most ` +
        `${MAX_WAIT_SECONDS}`,
    );
  }
  return Math.round(seconds * 1000);
}
