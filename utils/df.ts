/**
 * `blit-utils df HOST:/module/`: capacity of the filesystem that holds a module.
 *
 * @module
 */

import { SECURITY_HELP } from "../cmdline/security_flags.ts";
import { parseOneTarget } from "../cmdline/parse_one_target.ts";
import { parseRemoteTarget } from "../cmdline/parse_target.ts";
import { withClient } from "../cmdline/with_client.ts";
import { renderSpace } from "./render.ts";

/** Help of `blit-utils df`. */
export const DF_HELP = `Usage: blit-utils df HOST:/module/ [--json]

Shows the total, used and free bytes of the filesystem that holds a module
(HOST://  for the default root).
  --json   print {"target", "module", "total_bytes", "used_bytes", "free_bytes"}
${SECURITY_HELP}
`;

/**
 * Runs `blit-utils df`.
 * @param argv Arguments after `df`.
 * @returns The exit code.
 */
export async function runDf(argv: string[]): Promise<number> {
  const parsed = parseOneTarget("blit-utils df", argv, {
    help: DF_HELP,
    expected: "HOST:/module/",
  });
  if (parsed === null) return 0;
  const text = parsed.target;
  const target = parseRemoteTarget(text, "measure");
  const space = await withClient(
    target.address,
    (client) => client.diskFree(target.module),
    parsed.security,
  );
  if (parsed.json) {
    console.log(JSON.stringify({ target: text, module: target.module, ...space }));
  } else {
    console.log(renderSpace(text, space));
  }
  return 0;
}
