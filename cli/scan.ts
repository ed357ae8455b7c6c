/**
 * `blit scan` (and `blit-utils scan`): lists the blit daemons that answer an mDNS query.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import { type DiscoveredDaemon, scanDaemons } from "../core/mdns_scan.ts";
import { explainArgs } from "./args.ts";
import { parseArgs } from "./parse_args.ts";

/** Longest `--wait`, in seconds. */
const MAX_WAIT_SECONDS = 300;

/**
 * Help of a scan verb.
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
 * Parses a `--wait` value.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseWait } from "./scan.ts";
 * strictEqual(parseWait("0.5"), 500);
 * strictEqual(parseWait(undefined), 2000);
 * ```
 *
 * @param text The flag's value, or `undefined` for the default of 2 seconds.
 * @throws {UsageError} If it is not a number of seconds above 0 and at most 300.
 * @returns Milliseconds.
 */
export function parseWait(text: string | undefined): number {
  if (text === undefined) return 2000;
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(seconds > 0 && seconds <= MAX_WAIT_SECONDS)) {
    throw new UsageError(
      `Cannot use --wait "${text}": give a number of seconds above 0 and at most ` +
        `${MAX_WAIT_SECONDS}`,
    );
  }
  return Math.round(seconds * 1000);
}

/**
 * Formats daemons as a table, one row per daemon; truncated module lists end with
 * `(+N more)`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatDaemons } from "./scan.ts";
 * const text = formatDaemons([{
 *   name: "blit@nas", host: "nas.local", port: 9031, addresses: ["10.0.0.2"],
 *   modules: ["pub"], moduleCount: 2, version: "1",
 * }]);
 * strictEqual(text.split("\n")[1], "blit@nas  nas.local  9031  10.0.0.2   pub (+1 more)");
 * ```
 *
 * @param daemons The daemons found.
 * @returns The table, with a header line, ending without a newline.
 */
export function formatDaemons(daemons: readonly DiscoveredDaemon[]): string {
  const rows = [["NAME", "HOST", "PORT", "ADDRESSES", "MODULES"]];
  for (const d of daemons) {
    const more = d.moduleCount - d.modules.length;
    const modules = d.modules.join(",") + (more > 0 ? ` (+${more} more)` : "");
    rows.push([
      d.name,
      d.host,
      String(d.port),
      d.addresses.join(",") || "-",
      modules || "-",
    ]);
  }
  const widths = rows[0]!.map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? "").length))
  );
  return rows
    .map((row) => row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]!) : cell)))
    .map((cells) => cells.join("  "))
    .join("\n");
}

/**
 * Runs a scan verb: parses `[--wait SECONDS] [--json]`, scans, prints the daemons.
 *
 * Requires `--allow-net=0.0.0.0:5353,224.0.0.251:5353` and `--allow-sys=networkInterfaces`.
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
    }));
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
