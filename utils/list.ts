/**
 * `blit-utils list HOST[:PORT]`: the modules a daemon exports.
 *
 * @module
 */

import { parseOneTarget } from "../cli/args.ts";
import { renderModules } from "./render.ts";
import { parseHostArg, withClient } from "./target.ts";

/** Help of `blit-utils list`. */
export const LIST_HELP = `Usage: blit-utils list [--json] HOST[:PORT]

Lists the modules a daemon exports: name, rw/ro, comment.
  --json   print {"host", "port", "modules": [{"name", "read_only", "comment"}]}
`;

/**
 * Prints the modules of a daemon.
 * @param hostText `HOST`, `HOST:PORT` or `[IPV6]:PORT`.
 * @param json Print JSON.
 * @returns The exit code.
 */
export async function printModules(hostText: string, json: boolean): Promise<number> {
  const address = parseHostArg(hostText);
  const modules = await withClient(address, (client) => client.listModules());
  if (json) {
    console.log(JSON.stringify({ host: address.host, port: address.port, modules }));
  } else if (modules.length === 0) {
    console.log("no modules exported");
  } else {
    for (const line of renderModules(modules)) console.log(line);
  }
  return 0;
}

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
  return await printModules(parsed.target, parsed.json);
}
