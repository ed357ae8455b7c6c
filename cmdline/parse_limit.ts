/**
 * Parses the value of a `--limit N` flag.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";

/**
 * Parses a `--limit` value.
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { parseLimit } from "./parse_limit.ts";
 * strictEqual(parseLimit("5", 20), 5);
 * strictEqual(parseLimit(undefined, 20), 20);
 * throws(() => parseLimit("0", 20), {
 *   message: `Cannot use --limit "0": give a whole number of at least 1`,
 * });
 * ```
 *
 * @param text The flag's value, or `undefined` when the flag was not given.
 * @param fallback What to return when the flag was not given.
 * @throws {UsageError} If `text` is not a whole number of at least 1.
 * @returns The limit, or `fallback`.
 */
export function parseLimit(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`Cannot use --limit "${text}": give a whole number of at least 1`);
  }
  return n;
}
