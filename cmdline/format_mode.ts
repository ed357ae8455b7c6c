/**
 * Formats permission bits as `ls -l` shows them.
 *
 * @module
 */

/**
 * Formats permission bits as `rwxr-xr-x`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatMode } from "./format_mode.ts";
 * strictEqual(formatMode(0o754), "rwxr-xr--");
 * ```
 *
 * @param mode Permission bits (higher bits are ignored).
 * @returns Nine characters.
 */
export function formatMode(mode: number): string {
  let out = "";
  for (let shift = 6; shift >= 0; shift -= 3) {
    const bits = (mode >> shift) & 7;
    out += `${bits & 4 ? "r" : "-"}${bits & 2 ? "w" : "-"}${bits & 1 ? "x" : "-"}`;
  }
  return out;
}
