/**
 * The text of a live progress line, from counters: overall percentage, bytes, files, rate, time
 * left and the large file being written, fitted to the terminal's width.
 *
 * @module
 */

import { printable } from "../core/errors.ts";
import { formatBytes } from "./format_bytes.ts";
import { formatEta } from "./format_eta.ts";
import { columns, cutToWidth, shortenMiddle } from "./format_fit.ts";

/** What a progress line shows, read from a run's counters at one moment. */
export interface ProgressSnapshot {
  /** Payload bytes written so far (including parts of large files in flight). */
  bytesDone: number;
  /** Payload bytes planned so far. */
  plannedBytes: number;
  /** Files (and links) written. */
  filesDone: number;
  /** Files planned so far. */
  plannedFiles: number;
  /** Whether the scan has finished (else the totals are lower bounds and the ETA a guess). */
  scanDone: boolean;
  /** Recent rate in bytes per second, or `null` while there is none yet. */
  bytesPerSecond: number | null;
  /** Files that failed. */
  failed: number;
  /** The large file being written, or `null`. */
  current: { readonly path: string; readonly size: number; readonly done: number } | null;
}

const SEPARATOR = "  ";

/** Fewest columns a file name keeps before the line leaves the file out. */
const MIN_NAME_COLUMNS = 8;

/** The order in which fields leave a line too narrow for them (the percentage never does). */
const DROP_ORDER = ["files", "rate", "eta", "bytes"] as const;

type FieldName = "percent" | "bytes" | "files" | "rate" | "eta" | "failed";

/**
 * Formats a progress line of at most `width - 1` columns (the last column is left free, so the
 * cursor never wraps): totals end with `+` and the percentage and time left start with `~` while
 * the scan runs. Fields leave a narrow line in this order: files, rate, time left, bytes; the
 * current file's name is shortened in the middle to fit, or left out.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatProgress } from "./format_progress.ts";
 * const line = formatProgress({
 *   bytesDone: 512 * 1024 ** 2, plannedBytes: 1024 ** 3, filesDone: 3, plannedFiles: 4,
 *   scanDone: true, bytesPerSecond: 100 * 1024 ** 2, failed: 0,
 *   current: { path: "big.iso", size: 800 * 1024 ** 2, done: 200 * 1024 ** 2 },
 * }, 100);
 * strictEqual(line, "50%  512.0 MiB/1.0 GiB  3/4 files  100.0 MiB/s  ETA 6s  big.iso 25%");
 * ```
 *
 * @param snapshot The counters.
 * @param width The terminal's width in columns.
 * @returns The line, without `\r` or escapes.
 */
export function formatProgress(snapshot: ProgressSnapshot, width: number): string {
  const max = Math.max(1, width - 1);
  const estimate = snapshot.scanDone ? "" : "+";
  const guess = snapshot.scanDone ? "" : "~";
  const totalBytes = Math.max(snapshot.plannedBytes, snapshot.bytesDone);
  const totalFiles = Math.max(snapshot.plannedFiles, snapshot.filesDone);
  const rate = snapshot.bytesPerSecond;
  const left = rate !== null && rate > 0
    ? formatEta((totalBytes - snapshot.bytesDone) / rate)
    : "?";
  const fields = new Map<FieldName, string>([
    ["percent", `${guess}${percent(snapshot.bytesDone, totalBytes, snapshot.scanDone)}%`],
    ["bytes", `${formatBytes(snapshot.bytesDone)}/${formatBytes(totalBytes)}${estimate}`],
    ["files", `${snapshot.filesDone}/${totalFiles}${estimate} files`],
    ["rate", `${formatBytes(Math.round(rate ?? 0))}/s`],
    ["eta", `ETA ${left === "?" ? "" : guess}${left}`],
  ]);
  if (snapshot.failed > 0) fields.set("failed", `${snapshot.failed} failed`);
  const joined = (): string => [...fields.values()].join(SEPARATOR);
  for (const name of DROP_ORDER) {
    if (columns(joined()) <= max) break;
    fields.delete(name);
  }
  let line = joined();
  const file = snapshot.current;
  if (file !== null) {
    const share = ` ${percent(file.done, file.size, false)}%`;
    const room = max - columns(line) - SEPARATOR.length - share.length;
    if (room >= MIN_NAME_COLUMNS) {
      line += `${SEPARATOR}${shortenMiddle(printable(file.path), room)}${share}`;
    }
  }
  return cutToWidth(line, max);
}

/** Whole percent of `done` in `total`, 100 only when all is done. */
function percent(done: number, total: number, complete: boolean): number {
  if (total <= 0) return complete ? 100 : 0;
  return Math.min(100, Math.floor((done / total) * 100));
}
