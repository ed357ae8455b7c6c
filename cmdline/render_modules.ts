/**
 * Renders the modules a daemon exports as lines of text.
 *
 * @module
 */

import type { ModuleSummary } from "../core/admin/types.ts";
import { printable } from "../core/errors.ts";

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

/**
 * Renders a daemon's message of the day for `blit list HOST`: one line per line of the motd,
 * control characters escaped (a daemon may not drive the user's terminal); nothing for an
 * empty motd.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { renderMotd } from "./render_modules.ts";
 * deepStrictEqual(renderMotd("welcome\n\tto the nas\u001b[2J\n"), [
 *   "welcome",
 *   "\tto the nas\\u001b[2J",
 * ]);
 * deepStrictEqual(renderMotd(""), []);
 * ```
 *
 * @param motd The daemon's `motd`.
 * @returns The lines.
 */
export function renderMotd(motd: string): string[] {
  if (motd.trim() === "") return [];
  return motd.replace(/\n+$/, "").split("\n").map((line) =>
    line.split("\t").map(printable).join("\t")
  );
}
