/**
 * `blit list HOST[:PORT]` (the modules of a daemon) and `blit list HOST:/module/path` (the
 * entries of one remote directory).
 *
 * @module
 */

import { isRemote } from "../core/endpoint.ts";
import { parseOneTarget } from "../cmdline/parse_one_target.ts";
import { printListing } from "../cmdline/print_listing.ts";
import { printModules } from "../cmdline/print_modules.ts";
import { SECURITY_HELP } from "../cmdline/security_flags.ts";

/** Help of `blit list`. */
export const LIST_HELP = `Usage: blit list [--json] HOST[:PORT]
       blit list [--json] HOST:/module/path

With a host: the modules the daemon exports (name, rw/ro, comment).
With a remote path: the entries of that directory (type and mode, size, time, name).
  --json   print {"host", "port", "fingerprint", "modules": [...]}
           or {"target", "entries": [...], "truncated"}
${SECURITY_HELP}
`;

/**
 * Tells whether `text` names a remote path rather than a bare `HOST[:PORT]`.
 * @param text The argument.
 * @returns True for `host:/…`, `host:port:/…` and `host://…`.
 */
function isRemotePath(text: string): boolean {
  return isRemote(text) && text.includes(":/");
}

/**
 * Runs `blit list`.
 * @param argv Arguments after `list`.
 * @returns The exit code.
 */
export async function runList(argv: string[]): Promise<number> {
  const parsed = parseOneTarget("blit list", argv, {
    help: LIST_HELP,
    expected: "HOST[:PORT] or HOST:/module/path",
  });
  if (parsed === null) return 0;
  const text = parsed.target;
  const json = parsed.json;
  const { security } = parsed;
  return isRemotePath(text)
    ? await printListing(text, json, { security })
    : await printModules(text, json, security);
}
