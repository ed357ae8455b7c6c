/**
 * Formats the time left of a run for a progress line.
 *
 * @module
 */

/**
 * Formats seconds left compactly, rounded up: `45s`, `1m05s`, `2h03m`; `?` when unknown.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatEta } from "./format_eta.ts";
 * strictEqual(formatEta(44.2), "45s");
 * strictEqual(formatEta(65), "1m05s");
 * strictEqual(formatEta(2 * 3600 + 180), "2h03m");
 * strictEqual(formatEta(Infinity), "?");
 * ```
 *
 * @param seconds Seconds left (not finite or negative: unknown).
 * @returns Text such as `1m05s`.
 */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const whole = Math.ceil(seconds);
  if (whole < 60) return `${whole}s`;
  const two = (n: number): string => String(n).padStart(2, "0");
  if (whole < 3600) return `${Math.floor(whole / 60)}m${two(whole % 60)}s`;
  const minutes = Math.ceil(whole / 60);
  if (minutes < 100 * 60) return `${Math.floor(minutes / 60)}h${two(minutes % 60)}m`;
  return `${Math.ceil(minutes / 60 / 24)}d`;
}
