/**
 * `blit diagnostics perf`: shows and manages the local performance history.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import { PERF_HISTORY_LIMIT, perfHistoryPaths, setPerfHistory } from "../core/perf_history.ts";
import { explainArgs } from "../cmdline/explain_args.ts";
import { parseArgs } from "../cmdline/parse_args.ts";
import { parseLimit } from "../cmdline/parse_limit.ts";
import { printPerfHistory } from "../cmdline/print_perf_history.ts";

/** `--limit`: the history never holds more than {@linkcode PERF_HISTORY_LIMIT} records. */
const limitOf = (text: string | undefined): number => parseLimit(text, 20, PERF_HISTORY_LIMIT);

/** Help of `blit diagnostics perf`. */
export const DIAGNOSTICS_HELP =
  `Usage: blit diagnostics perf [--limit N] [--json] [--clear] [--disable|--enable]

Shows the local performance history (one record per transfer; it never leaves this machine).
  --limit N   show the newest N records (default 20)
  --json      print the records as a JSON array
  --clear     delete the history
  --disable   stop recording; --enable starts again
`;

/**
 * Runs `blit diagnostics SUBCOMMAND`.
 * @param argv Arguments after `diagnostics`.
 * @throws {UsageError} For an unknown subcommand, bad flags or a bad `--limit`.
 * @returns The exit code.
 */
export function runDiagnostics(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "--help" || sub === "-h" || sub === undefined) {
    console.log(DIAGNOSTICS_HELP);
    return Promise.resolve(sub === undefined ? 1 : 0);
  }
  if (sub !== "perf") {
    throw new UsageError(`Cannot run diagnostics "${sub}": the only subcommand is "perf"`);
  }
  const { values } = explainArgs("blit diagnostics perf", () =>
    parseArgs({
      args: rest,
      options: {
        limit: { type: "string" },
        json: { type: "boolean" },
        clear: { type: "boolean" },
        disable: { type: "boolean" },
        enable: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }), { limit: limitOf });
  if (values.help) {
    console.log(DIAGNOSTICS_HELP);
    return Promise.resolve(0);
  }
  if (values.disable && values.enable) {
    throw new UsageError("Cannot combine --disable with --enable: pick one");
  }
  const paths = perfHistoryPaths();
  for (const action of ["clear", "disable", "enable"] as const) {
    if (values[action]) {
      setPerfHistory(action, paths);
      console.log(`performance history: ${action === "clear" ? "cleared" : `${action}d`}`);
    }
  }
  if (values.clear || values.disable || values.enable) return Promise.resolve(0);
  printPerfHistory(limitOf(values.limit), { json: values.json ?? false, paths });
  return Promise.resolve(0);
}
