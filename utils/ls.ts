/**
 * `blit-utils ls TARGET`: one directory (name, type, size, mtime), remote or local.
 *
 * @module
 */

import type { Listing } from "../core/admin_client.ts";
import { parseOneTarget } from "../cli/args.ts";
import { listLocal } from "./local.ts";
import { renderEntry } from "./render.ts";
import { parseTarget, withClient } from "./target.ts";

/** Help of `blit-utils ls`. */
export const LS_HELP = `Usage: blit-utils ls [--json] TARGET

Lists one directory: type and mode, size, modification time, name.
TARGET is HOST:/module/path, HOST://path (default root) or a local path; a path
that is not a directory shows that entry alone.
  --json   print {"target", "entries": [{"name", "type", "size", "mtime", "mode",
           "link_target"?}], "truncated"}
`;

/**
 * Prints one directory of a target.
 * @param targetText The target as typed.
 * @param json Print JSON.
 * @returns The exit code.
 */
export async function printListing(targetText: string, json: boolean): Promise<number> {
  const target = parseTarget(targetText);
  const listing: Listing = target.kind === "local"
    ? await listLocal(target.path)
    : await withClient(target.address, (client) => client.listDir(target.module, target.path));
  if (json) {
    console.log(JSON.stringify({ target: targetText, ...listing }));
    return 0;
  }
  for (const entry of listing.entries) console.log(renderEntry(entry));
  if (listing.truncated) {
    console.error(`blit-utils: listing cut at ${listing.entries.length} entries`);
  }
  return 0;
}

/**
 * Runs `blit-utils ls`.
 * @param argv Arguments after `ls`.
 * @returns The exit code.
 */
export async function runLs(argv: string[]): Promise<number> {
  const parsed = parseOneTarget("blit-utils ls", argv, { help: LS_HELP, expected: "TARGET" });
  if (parsed === null) return 0;
  return await printListing(parsed.target, parsed.json);
}
