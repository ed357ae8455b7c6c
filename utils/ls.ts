/**
 * `blit-utils ls TARGET`: one directory (name, type, size, mtime), remote or local.
 *
 * @module
 */

import { SECURITY_HELP } from "../cmdline/security_flags.ts";
import { parseOneTarget } from "../cmdline/parse_one_target.ts";
import { printListing } from "../cmdline/print_listing.ts";
import { listLocal } from "./local.ts";

/** Help of `blit-utils ls`. */
export const LS_HELP = `Usage: blit-utils ls [--json] TARGET

Lists one directory: type and mode, size, modification time, name.
TARGET is HOST:/module/path, HOST://path (default root) or a local path; a path
that is not a directory shows that entry alone.
  --json   print {"target", "entries": [{"name", "type", "size", "mtime", "mode",
           "link_target"?}], "truncated"}
${SECURITY_HELP}
`;

/**
 * Runs `blit-utils ls`.
 * @param argv Arguments after `ls`.
 * @returns The exit code.
 */
export async function runLs(argv: string[]): Promise<number> {
  const parsed = parseOneTarget("blit-utils ls", argv, { help: LS_HELP, expected: "TARGET" });
  if (parsed === null) return 0;
  return await printListing(parsed.target, parsed.json, {
    listLocal,
    security: parsed.security,
  });
}
