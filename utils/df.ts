/**
 * `blit-utils df HOST:/module/`: capacity of the filesystem that holds a module.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { UsageError } from "../core/errors.ts";
import { explainArgs } from "../cli/args.ts";
import { renderSpace } from "./render.ts";
import { parseRemoteTarget, withClient } from "./target.ts";

/** Help of `blit-utils df`. */
export const DF_HELP = `Usage: blit-utils df HOST:/module/ [--json]

Shows the total, used and free bytes of the filesystem that holds a module
(HOST://  for the default root).
  --json   print {"target", "module", "total_bytes", "used_bytes", "free_bytes"}
`;

/**
 * Runs `blit-utils df`.
 * @param argv Arguments after `df`.
 * @returns The exit code.
 */
export async function runDf(argv: string[]): Promise<number> {
  const { values, positionals } = explainArgs("blit-utils df", () =>
    parseArgs({
      args: argv,
      options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    }));
  if (values.help) {
    console.log(DF_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(`Cannot measure: expected one HOST:/module/, got ${positionals.length}`);
  }
  const text = positionals[0] as string;
  const target = parseRemoteTarget(text, "measure");
  const space = await withClient(target.address, (client) => client.diskFree(target.module));
  if (values.json) {
    console.log(JSON.stringify({ target: text, module: target.module, ...space }));
  } else {
    console.log(renderSpace(text, space));
  }
  return 0;
}
