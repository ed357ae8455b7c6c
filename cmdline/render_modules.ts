/**
 * Renders the modules a daemon exports as lines of text.
 *
 * @module
 */

import type { ModuleSummary } from "../core/admin/types.ts";

/**
 * Renders the modules of a daemon, one per line: name (padded to a common width), `rw`/`ro`,
 * comment.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { renderModules } from "./render_modules.ts";
 * deepStrictEqual(
 *   renderModules([
 *     { name: "photos", read_only: true, comment: "family pictures" },
 *     { name: "tmp", read_only: false, comment: "" },
 *   ]),
 *   ["photos  ro  family pictures", "tmp     rw"],
 * );
 * ```
 *
 * @param modules The modules.
 * @returns The lines.
 */
export function renderModules(modules: readonly ModuleSummary[]): string[] {
  const width = Math.max(4, ...modules.map((m) => m.name.length));
  return modules.map((m) =>
    `${m.name.padEnd(width)}  ${m.read_only ? "ro" : "rw"}  ${m.comment}`.trimEnd()
  );
}
