/**
 * The rule that one export of a daemon never removes another one nested in it.
 *
 * @module
 */

import { ContainedRoot } from "../paths.ts";
import { AdminError } from "./admin_error.ts";
import { trimSlashes } from "./_entries.ts";

/**
 * Refuses a removal in an export that would take another export with it: the entry `rel`
 * (reached as {@linkcode removeEntry} reaches it, links on the way followed while they stay
 * inside) must neither be nor hold one of `otherExports`. The comparison is between real local
 * paths, which the daemon's configuration holds and trees do not expose; the message names only
 * `rel`. `""` (the export's root, which {@linkcode removeEntry} refuses) passes.
 *
 * Requires `--allow-read` for the export.
 *
 * @example Usage
 * ```ts ignore
 * import { guardNestedExports } from "./mod.ts";
 * guardNestedExports("/srv/m", "nested", ["/srv/m/nested/inner"]); // throws: "permission"
 * ```
 *
 * @param exportPath Local path of the export the removal happens in.
 * @param rel Path of the entry to remove in it.
 * @param otherExports Real local paths of the daemon's other exports.
 * @throws {AdminError} `permission` when the entry is or holds another export.
 * @throws {PathInvalidError} If `rel` is not a valid wire path.
 * @throws {PathEscapeError} If a link on the way leads out of the export.
 * @throws {Deno.errors.NotFound} If the entry does not exist.
 */
export function guardNestedExports(
  exportPath: string,
  rel: string,
  otherExports: readonly string[],
): void {
  const path = trimSlashes(rel);
  if (path === "" || otherExports.length === 0) return;
  const root = ContainedRoot.openSync(exportPath);
  const top = root.resolveExistingSync(path);
  const held = otherExports.find((p) => p !== root.path && (p === top || p.startsWith(`${top}/`)));
  if (held !== undefined) {
    throw new AdminError(
      "permission",
      `Cannot remove ${JSON.stringify(path)}: it holds another exported directory`,
    );
  }
}
