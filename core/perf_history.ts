/**
 * The local performance history: one JSON line per real run, in the user's config directory.
 * Nothing here ever leaves the machine.
 *
 * @module
 */

import type { TransferSummary } from "./types.ts";

/** One recorded run. */
export interface PerfRecord {
  /** When the run ended (ISO 8601). */
  at: string;
  /** The verb. */
  operation: string;
  /** Whether the run was local or remote (push/pull). */
  transport: "local" | "push" | "pull";
  /** Source entries examined. */
  files: number;
  /** Files written. */
  files_transferred: number;
  /** Bytes written. */
  bytes: number;
  /** Bytes on the sockets (0 for a local run; absent in records of older versions). */
  bytes_on_wire?: number;
  /** Wall time in milliseconds. */
  duration_ms: number;
  /** The strategy the engine chose (free-form, e.g. `{"workers":2}`). */
  strategy: Record<string, string | number | boolean>;
  /** The run's outcome. */
  outcome: string;
}

/** How many records the history keeps; older ones are dropped when it grows to twice this. */
export const PERF_HISTORY_LIMIT = 1000;

/**
 * Returns blit's config directory: `$XDG_CONFIG_HOME/blit`, else `~/.config/blit`.
 * @returns The directory, or `null` when neither variable is set.
 */
export function configDir(): string | null {
  const xdg = Deno.env.get("XDG_CONFIG_HOME");
  if (xdg) return `${xdg}/blit`;
  const home = Deno.env.get("HOME");
  return home ? `${home}/.config/blit` : null;
}

/** Where the history lives. */
export interface PerfHistoryPaths {
  /** The JSON-lines file. */
  log: string;
  /** Marker file whose presence disables recording. */
  disabledMarker: string;
}

/**
 * Paths of the history files in `dir`.
 * @param dir The config directory (default: {@linkcode configDir}).
 * @returns The paths, or `null` when there is no config directory.
 */
export function perfHistoryPaths(dir: string | null = configDir()): PerfHistoryPaths | null {
  if (!dir) return null;
  return { log: `${dir}/perf_history.jsonl`, disabledMarker: `${dir}/perf_history.disabled` };
}

/**
 * Builds a record from a summary.
 * @param summary The run's summary.
 * @param transport Local, push or pull.
 * @param strategy What the engine chose.
 * @returns The record.
 */
export function recordFromSummary(
  summary: TransferSummary,
  transport: PerfRecord["transport"],
  strategy: PerfRecord["strategy"],
): PerfRecord {
  return {
    at: new Date().toISOString(),
    operation: summary.operation,
    transport,
    files: summary.files_examined,
    files_transferred: summary.files_transferred,
    bytes: summary.bytes_transferred,
    bytes_on_wire: summary.bytes_on_wire,
    duration_ms: summary.duration_ms,
    strategy,
    outcome: summary.outcome,
  };
}

/**
 * Appends a record unless recording is disabled; trims the log to the newest
 * {@linkcode PERF_HISTORY_LIMIT} records when it has grown to twice that. Never throws: the
 * history must not break a transfer.
 *
 * @param record The record.
 * @param paths Where the history lives (default: the user's config directory).
 * @returns `true` when the record was written.
 */
export function appendPerfRecord(
  record: PerfRecord,
  paths: PerfHistoryPaths | null = perfHistoryPaths(),
): boolean {
  if (!paths) return false;
  try {
    if (exists(paths.disabledMarker)) return false;
    Deno.mkdirSync(paths.log.slice(0, paths.log.lastIndexOf("/")), { recursive: true });
    Deno.writeTextFileSync(paths.log, `${JSON.stringify(record)}\n`, { append: true });
    const size = Deno.statSync(paths.log).size;
    if (size > PERF_HISTORY_LIMIT * 2 * 200) {
      const lines = Deno.readTextFileSync(paths.log).split("\n").filter((l) => l !== "");
      if (lines.length > PERF_HISTORY_LIMIT * 2) {
        const tmp = `${paths.log}.tmp`;
        Deno.writeTextFileSync(tmp, `${lines.slice(-PERF_HISTORY_LIMIT).join("\n")}\n`);
        Deno.renameSync(tmp, paths.log);
      }
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads the newest records, oldest first. Malformed lines are skipped.
 * @param limit How many of the newest records to return.
 * @param paths Where the history lives.
 * @returns The records.
 */
export function readPerfHistory(
  limit: number,
  paths: PerfHistoryPaths | null = perfHistoryPaths(),
): PerfRecord[] {
  if (!paths) return [];
  let text: string;
  try {
    text = Deno.readTextFileSync(paths.log);
  } catch {
    return [];
  }
  const records: PerfRecord[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      const value = JSON.parse(line) as PerfRecord;
      if (typeof value.operation === "string" && typeof value.duration_ms === "number") {
        records.push(value);
      }
    } catch { /* skip a torn line */ }
  }
  return records.slice(-limit);
}

/**
 * Turns recording on or off (a marker file), or clears the history.
 * @param action What to do.
 * @param paths Where the history lives.
 * @throws {Error} When the config directory cannot be written.
 */
export function setPerfHistory(
  action: "enable" | "disable" | "clear",
  paths: PerfHistoryPaths | null = perfHistoryPaths(),
): void {
  if (!paths) throw new Error("Cannot find a config directory: set HOME or XDG_CONFIG_HOME");
  Deno.mkdirSync(paths.log.slice(0, paths.log.lastIndexOf("/")), { recursive: true });
  if (action === "disable") Deno.writeTextFileSync(paths.disabledMarker, "");
  else if (action === "enable") removeIfPresent(paths.disabledMarker);
  else removeIfPresent(paths.log);
}

/**
 * Whether recording is enabled.
 * @param paths Where the history lives.
 * @returns `false` when the disable marker exists.
 */
export function perfHistoryEnabled(paths: PerfHistoryPaths | null = perfHistoryPaths()): boolean {
  return paths !== null && !exists(paths.disabledMarker);
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function removeIfPresent(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
