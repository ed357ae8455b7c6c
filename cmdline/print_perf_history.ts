/**
 * Prints the local performance history: the shared body of `blit diagnostics perf` and
 * `blit-utils profile`.
 *
 * @module
 */

import {
  perfHistoryEnabled,
  type PerfHistoryPaths,
  perfHistoryPaths,
  readPerfHistory,
} from "../core/perf_history.ts";
import { formatPerfRecord } from "./format_perf_record.ts";

/** Options for {@linkcode printPerfHistory}. */
export interface PrintPerfHistoryOptions {
  /**
   * Print the records as one JSON array instead of a header and one line per record.
   * @default {false}
   */
  json?: boolean;
  /**
   * Where the history lives; `null` when there is no config directory.
   * @default {perfHistoryPaths()}
   */
  paths?: PerfHistoryPaths | null;
}

/**
 * Prints the newest records of the performance history on stdout, oldest first: a header
 * naming the file and whether recording is on, then one line per record (or `no runs
 * recorded`); with `json`, one JSON array of the records.
 *
 * Requires `--allow-env` (to find the config directory) and `--allow-read` for it.
 *
 * @example Usage
 * ```ts ignore
 * import { printPerfHistory } from "./print_perf_history.ts";
 * printPerfHistory(20, { json: true });
 * ```
 *
 * @param limit How many of the newest records to print.
 * @param options JSON output, and where the history lives.
 */
export function printPerfHistory(limit: number, options: PrintPerfHistoryOptions = {}): void {
  const { json = false, paths = perfHistoryPaths() } = options;
  const records = readPerfHistory(limit, paths);
  if (json) {
    console.log(JSON.stringify(records));
    return;
  }
  console.log(
    `performance history (${paths?.log ?? "no config directory"}; recording ${
      perfHistoryEnabled(paths) ? "on" : "off"
    })`,
  );
  if (records.length === 0) console.log("no runs recorded");
  for (const record of records) console.log(formatPerfRecord(record));
}
