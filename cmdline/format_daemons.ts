/**
 * Formats the daemons an mDNS scan found as a table.
 *
 * @module
 */

import type { DiscoveredDaemon } from "../core/mdns_scan.ts";

/**
 * Formats daemons as a table, one row per daemon; truncated module lists end with
 * `(+N more)`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatDaemons } from "./format_daemons.ts";
 * const text = formatDaemons([{
 *   name: "blit@nas", host: "nas.local", port: 9031, addresses: ["10.0.0.2"],
 *   modules: ["pub"], moduleCount: 2, version: "1",
 * }]);
 * strictEqual(text.split("\n")[1], "blit@nas  nas.local  9031  10.0.0.2   pub (+1 more)");
 * ```
 *
 * @param daemons The daemons found.
 * @returns The table, with a header line, ending without a newline.
 */
export function formatDaemons(daemons: readonly DiscoveredDaemon[]): string {
  const rows = [["NAME", "HOST", "PORT", "ADDRESSES", "MODULES"]];
  for (const d of daemons) {
    const more = d.moduleCount - d.modules.length;
    const modules = d.modules.join(",") + (more > 0 ? ` (+${more} more)` : "");
    rows.push([
      d.name,
      d.host,
      String(d.port),
      d.addresses.join(",") || "-",
      modules || "-",
    ]);
  }
  const widths = rows[0]!.map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? "").length))
  );
  return rows
    .map((row) => row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]!) : cell)))
    .map((cells) => cells.join("  "))
    .join("\n");
}
