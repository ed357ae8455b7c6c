/**
 * The scan verb of `blit scan` and `blit-utils scan`: lists the blit daemons that answer an mDNS
 * query.
 *
 * @module
 */

import { scanDaemons } from "../core/mdns_scan.ts";
import { explainArgs } from "./explain_args.ts";
import { formatDaemons } from "./format_daemons.ts";
import { parseArgs } from "./parse_args.ts";
import { parseWait } from "./parse_wait.ts";

/**
 * Help of a scan verb.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { scanHelp } from "./scan_verb.ts";
 * const help = scanHelp("blit-utils scan");
 * ok(help.startsWith("Usage: blit-utils scan [--wait SECONDS] [--json]\n"));
 * ```
 *
 * @param program How the verb is invoked (`blit scan`, `blit-utils scan`).
 * @returns The help text.
 */
export function scanHelp(program: string): string {
  return `Usage: ${program} [--wait SECONDS] [--json]

Lists the blit daemons on the local network that answer an mDNS query for _blit._tcp.local.
  --wait SECONDS  how long to collect answers (default 2)
  --json          print the daemons as a JSON array of
                  {name, host, port, addresses, modules, moduleCount, version}
`;
}

/**
 * Runs a scan verb: parses `[--wait SECONDS] [--json]`, scans, prints the daemons.
 *
 * Requires `--allow-net=0.0.0.0:5353,224.0.0.251:5353` and `--allow-sys=networkInterfaces`.
 *
 * @example Usage
 * ```ts ignore
 * import { runScanVerb } from "./scan_verb.ts";
 * Deno.exitCode = await runScanVerb(["--wait", "1", "--json"], "blit-utils scan");
 * ```
 *
 * @param argv Arguments after the verb.
 * @param program How the verb is invoked, for help and errors.
 * @throws {UsageError} For bad arguments.
 * @throws {FatalError} If a permission is missing or multicast is unavailable.
 * @returns The exit code: 0, also when no daemon answered.
 */
export async function runScanVerb(argv: string[], program = "blit scan"): Promise<number> {
  const { values } = explainArgs(program, () =>
    parseArgs({
      args: argv,
      options: {
        wait: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }), { wait: parseWait });
  if (values.help) {
    console.log(scanHelp(program));
    return 0;
  }
  const waitMs = parseWait(values.wait);
  const daemons = await scanDaemons({ waitMs });
  if (values.json) {
    console.log(JSON.stringify(daemons));
  } else if (daemons.length === 0) {
    console.log(`no blit daemons answered within ${waitMs / 1000} s`);
  } else {
    console.log(formatDaemons(daemons));
  }
  return 0;
}
