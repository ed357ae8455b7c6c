/**
 * Formats one record of the local performance history as a line of text.
 *
 * @module
 */

import type { PerfRecord } from "../core/perf_history.ts";
import { formatBytes } from "./format_bytes.ts";
import { formatDuration } from "./format_duration.ts";

/**
 * Formats one performance record: end time, verb, transport, files, bytes, duration, average
 * rate (`-` for a run that took no time) and the engine's strategy as JSON.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatPerfRecord } from "./format_perf_record.ts";
 * const line = formatPerfRecord({
 *   at: "2024-06-01T12:00:00.000Z",
 *   operation: "copy",
 *   transport: "local",
 *   files: 1200,
 *   files_transferred: 1200,
 *   bytes: 10 * 1024 * 1024,
 *   duration_ms: 2000,
 *   strategy: { workers: 2 },
 *   outcome: "transferred",
 * });
 * strictEqual(
 *   line,
 *   "2024-06-01T12:00:00.000Z  copy   local     1200 files   10.0 MiB    2.00 s  " +
 *     `5.0 MiB/s  {"workers":2}`,
 * );
 * ```
 *
 * @param record The record.
 * @returns The line, without a newline.
 */
export function formatPerfRecord(record: PerfRecord): string {
  const r = record;
  const rate = r.duration_ms > 0 ? formatBytes((r.bytes * 1000) / r.duration_ms) : "-";
  return `${r.at}  ${r.operation.padEnd(6)} ${r.transport.padEnd(5)} ${
    String(r.files).padStart(8)
  } files ` +
    `${formatBytes(r.bytes).padStart(10)}  ${formatDuration(r.duration_ms).padStart(8)}  ` +
    `${rate}/s  ${JSON.stringify(r.strategy)}`;
}
