/**
 * `blit-utils list HOST[:PORT]`: the modules a daemon exports.
 *
 * @module
 */

import { SECURITY_HELP } from "../cmdline/security_flags.ts";
import { parseOneTarget } from "../cmdline/parse_one_target.ts";
import { printModules } from "../cmdline/print_modules.ts";

/** Help of `blit-utils list`. */
export const LIST_HELP = `Usage: blit-utils list [--json] HOST[:PORT]

Lists the modules a daemon exports: name, rw/ro, comment.
  --json   print {"host", "port", "modules": [{"name", "read_only", "comment"}]}
${SECURITY_HELP}
`;

/**
 * Runs `blit-utils list`.
 * @param argv Arguments after `list`.
 * @returns The exit code.
 */
export async function runList(argv: string[]): Promise<number> {
  const parsed = parseOneTarget("blit-utils list", argv, {
    help: LIST_HELP,
    expected: "HOST[:PORT]",
  });
  if (parsed === null) return 0;
  return await printModules(parsed.target, parsed.json, parsed.security);
}
