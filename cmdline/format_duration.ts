/**
 * Formats durations for people.
 *
 * @module
 */

/**
 * Formats a duration in milliseconds as seconds: two decimals below 10 s, else one.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatDuration } from "./format_duration.ts";
 * strictEqual(formatDuration(1234), "1.23 s");
 * strictEqual(formatDuration(65_000), "65.0 s");
 * ```
 *
 * @param ms Milliseconds.
 * @returns Text such as `1.23 s`.
 */
export function formatDuration(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
