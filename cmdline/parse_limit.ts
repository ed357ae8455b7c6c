/**
 * Parses the value of a `--limit N` flag.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";

/** Largest `--limit` unless a verb says otherwise. */
export const MAX_LIMIT = 1_000_000;

/**
 * Parses a `--limit` value: a whole number (digits only) from 1 to `max`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { parseLimit } from "./parse_limit.ts";
 * strictEqual(parseLimit("5", 20), 5);
 * strictEqual(parseLimit(undefined, 20), 20);
 * throws(() => parseLimit("0", 20), {
 *   message: `Cannot use --limit "0": give a whole number from 1 to 1000000`,
 * });
 * throws(() => parseLimit("99999999999", 20, 1000), {
 *   message: `Cannot use --limit "99999999999": give a whole number from 1 to 1000`,
 * });
 * ```
 *
 * @param text The flag's value, or `undefined` when the flag was not given.
 * @param fallback What to return when the flag was not given.
 * @param max The largest limit the verb takes.
 * @throws {UsageError} If `text` is not a whole number from 1 to `max`.
 * @returns The limit, or `fallback`.
 */
export function parseLimit(text: string | undefined, fallback: number, max = MAX_LIMIT): number {
  if (text === undefined) return fallback;
  const n = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= max)) {
    throw new UsageError(`Cannot use --limit "${text}": give a whole number from 1 to ${max}`);
  }
  return n;
}
