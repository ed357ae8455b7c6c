/**
 * `blit-utils profile`: the local performance history, the same one `blit diagnostics perf`
 * shows.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import { explainArgs } from "../cmdline/explain_args.ts";
import { parseArgs } from "../cmdline/parse_args.ts";
import { parseLimit } from "../cmdline/parse_limit.ts";
import { printPerfHistory } from "../cmdline/print_perf_history.ts";
import { PERF_HISTORY_LIMIT } from "../core/perf_history.ts";

/** `--limit`: the history never holds more than {@linkcode PERF_HISTORY_LIMIT} records. */
const limitOf = (text: string | undefined): number => parseLimit(text, 20, PERF_HISTORY_LIMIT);

/** Help of `blit-utils profile`. */
export const PROFILE_HELP = `Usage: blit-utils profile [--limit N] [--json]

Shows the local performance history (one record per transfer, newest last; the
same as "blit diagnostics perf").
  --limit N   the newest N records (default 20)
  --json      print the records as a JSON array
`;

/**
 * Runs `blit-utils profile`.
 * @param argv Arguments after `profile`.
 * @throws {UsageError} For bad flags, a bad `--limit` or an extra argument.
 * @returns The exit code.
 */
export function runProfile(argv: string[]): Promise<number> {
  const { values, positionals } = explainArgs("blit-utils profile", () =>
    parseArgs({
      args: argv,
      options: {
        limit: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    }), { limit: limitOf });
  if (values.help) {
    console.log(PROFILE_HELP);
    return Promise.resolve(0);
  }
  if (positionals.length > 0) {
    throw new UsageError(
      `Cannot use extra argument "${positionals[0]}": run "blit-utils profile --help"`,
    );
  }
  printPerfHistory(limitOf(values.limit), { json: values.json ?? false });
  return Promise.resolve(0);
}
