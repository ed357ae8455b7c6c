/**
 * Formats modification times the way the listings show them.
 *
 * @module
 */

/**
 * Formats an ISO time as local `YYYY-MM-DD HH:MM`.
 *
 * @example Usage
 * ```ts
 * import { match } from "node:assert/strict";
 * import { formatTime } from "./format_time.ts";
 * // The result is in the local time zone.
 * match(formatTime("2024-06-01T12:00:00.000Z"), /^2024-06-0[12] \d\d:\d\d$/);
 * ```
 *
 * @param iso An ISO 8601 time.
 * @returns The short local time.
 */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  const two = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${
    two(d.getMinutes())
  }`;
}
