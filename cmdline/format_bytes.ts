/**
 * Formats byte counts for people.
 *
 * @module
 */

/**
 * Formats a byte count with a binary unit: whole bytes below 1 KiB, else one decimal.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatBytes } from "./format_bytes.ts";
 * strictEqual(formatBytes(512), "512 B");
 * strictEqual(formatBytes(1536), "1.5 KiB");
 * strictEqual(formatBytes(3 * 1024 ** 3), "3.0 GiB");
 * ```
 *
 * @param bytes The count.
 * @returns Text such as `1.5 KiB`.
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
