/**
 * `blit diagnostics perf`: shows and manages the local performance history.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import {
  perfHistoryEnabled,
  perfHistoryPaths,
  readPerfHistory,
  setPerfHistory,
} from "../core/perf_history.ts";
import { explainArgs } from "./args.ts";
import { parseArgs } from "./parse_args.ts";
import { formatBytes, formatDuration } from "./render.ts";

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
 * Parses a `--limit` value.
 * @param text The flag's value.
 * @returns A whole number of at least 1.
 */
export function parseLimit(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`Cannot use --limit "${text}": give a whole number of at least 1`);
  }
  return n;
}

/**
 * Runs `blit diagnostics SUBCOMMAND`.
 * @param argv Arguments after `diagnostics`.
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
    }));
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
  const records = readPerfHistory(parseLimit(values.limit, 20), paths);
  if (values.json) {
    console.log(JSON.stringify(records));
    return Promise.resolve(0);
  }
  console.log(
    `performance history (${paths?.log ?? "no config directory"}; recording ${
      perfHistoryEnabled(paths) ? "on" : "off"
    })`,
  );
  if (records.length === 0) console.log("no runs recorded");
  for (const r of records) {
    const rate = r.duration_ms > 0 ? formatBytes((r.bytes * 1000) / r.duration_ms) : "-";
    console.log(
      `${r.at}  ${r.operation.padEnd(6)} ${r.transport.padEnd(5)} ${
        String(r.files).padStart(8)
      } files ` +
        `${formatBytes(r.bytes).padStart(10)}  ${formatDuration(r.duration_ms).padStart(8)}  ` +
        `${rate}/s  ${JSON.stringify(r.strategy)}`,
    );
  }
  return Promise.resolve(0);
}
