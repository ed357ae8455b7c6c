/**
 * Prints one directory of a target: the shared body of `blit list HOST:/module/path` and
 * `blit-utils ls`.
 *
 * @module
 */

import type { Listing } from "../core/admin/types.ts";
import type { ConnectionSecurity } from "../core/client_security.ts";
import { parseRemoteTarget, parseTarget } from "./parse_target.ts";
import { renderEntry } from "./render_entry.ts";
import { withClient } from "./with_client.ts";

/** Options for {@linkcode printListing}. */
export interface PrintListingOptions {
  /**
   * Lists a local path. Without it a local target is refused, so only remote targets
   * (`HOST:/module/path`, `HOST://path`) are listed.
   *
   * @default {undefined}
   */
  listLocal?: (path: string) => Promise<Listing>;
  /** The client's key and how the daemon is trusted. */
  security?: ConnectionSecurity;
}

/**
 * Prints one directory of a target on stdout, one `ls -l`-like line per entry (or with `json`
 * one object `{"target", "entries", "truncated"}`); a listing the daemon cut short is noted on
 * stderr.
 *
 * Requires `--allow-net` for a remote target (and `--allow-env`), or what `listLocal` needs.
 *
 * @example Usage
 * ```ts ignore
 * import { printListing } from "./print_listing.ts";
 * Deno.exitCode = await printListing("nas:/photos/2024", false);
 * ```
 *
 * @param targetText The target as typed.
 * @param json Print JSON.
 * @param options How to list a local target.
 * @throws {UsageError} For a malformed target, or a local one without `listLocal`.
 * @throws {AdminCallError} When the daemon cannot be reached or refuses.
 * @returns The exit code: 0.
 */
export async function printListing(
  targetText: string,
  json: boolean,
  options: PrintListingOptions = {},
): Promise<number> {
  const { listLocal, security = {} } = options;
  const target = listLocal === undefined
    ? parseRemoteTarget(targetText, "list")
    : parseTarget(targetText);
  const listing: Listing = target.kind === "remote"
    ? await withClient(
      target.address,
      (client) => client.listDir(target.module, target.path),
      security,
    )
    : await listLocal!(target.path); // a local target parses only when listLocal is given
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
