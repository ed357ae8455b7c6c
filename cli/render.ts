/**
 * Human and JSON rendering of transfer results and events.
 *
 * @module
 */

import { printable } from "../core/errors.ts";
import type { TransferEvent } from "../core/session/planner.ts";
import type { TransferSummary } from "../core/types.ts";
import { formatBytes } from "../cmdline/format_bytes.ts";
import { formatDuration } from "../cmdline/format_duration.ts";

/**
 * Renders one `--verbose` line for an event.
 * @param event The event.
 * @param dryRun Whether the run is a dry run (prefixes "would").
 * @returns The line.
 */
export function renderEvent(event: TransferEvent, dryRun: boolean): string {
  const verb = {
    send: "copy",
    link: "link",
    mkdir: "mkdir",
    delete: "delete",
    "remove-source": "remove source",
  }[event.action];
  // Paths come from the source (a daemon, on a pull): escaped, one event stays one line.
  return `${dryRun ? "would " : ""}${verb} ${event.path === "" ? "." : printable(event.path)}` +
    linkedTo(event);
}

/** rsync's ` => FIRST` after a hard link's path, or `""`. */
function linkedTo(event: TransferEvent): string {
  return event.linkTo === undefined ? "" : ` => ${printable(event.linkTo)}`;
}

/**
 * Renders one `--itemize-changes` line: rsync's 11 characters, a space and the path (a
 * directory's with a trailing `/`). On a push the files go out, so rsync's `>` becomes `<`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { renderItemized } from "./render.ts";
 * const sent = { action: "send", path: "a.txt", size: 3, itemize: ">f.st......" } as const;
 * strictEqual(renderItemized(sent, { pushing: false }), ">f.st...... a.txt");
 * strictEqual(renderItemized(sent, { pushing: true }), "<f.st...... a.txt");
 * strictEqual(
 *   renderItemized({ action: "mkdir", path: "d", itemize: "cd+++++++++" }, { pushing: true }),
 *   "cd+++++++++ d/",
 * );
 * strictEqual(
 *   renderItemized({ action: "delete", path: "old", itemize: "*deleting  ", dir: true }, {
 *     pushing: false,
 *   }),
 *   "*deleting   old/",
 * );
 * ```
 *
 * @param event The event.
 * @param options Whether the run is a push.
 * @returns The line.
 */
export function renderItemized(event: TransferEvent, options: { pushing: boolean }): string {
  const raw = event.itemize ?? renderEvent(event, false).split(" ", 1)[0] ?? "";
  const itemize = options.pushing && raw.startsWith(">") ? `<${raw.slice(1)}` : raw;
  const path = event.path === "" ? "." : printable(event.path);
  const slash = event.action === "mkdir" || event.dir === true ? "/" : "";
  return `${itemize.padEnd(11)} ${path}${slash}${linkedTo(event)}`;
}

/**
 * Renders the human summary printed at the end of a run.
 * @param summary The run's summary.
 * @returns Lines of text.
 */
export function renderSummary(summary: TransferSummary): string {
  const lines: string[] = [];
  const d = summary.dry_run ? "would be " : "";
  const what: Record<TransferSummary["outcome"], string> = {
    transferred: summary.dry_run ? "dry run" : "done",
    partial: `done with ${summary.files_failed} failure(s)`,
    up_to_date: "up to date",
    source_empty: "source is empty: nothing to transfer",
    failed: "failed",
  };
  let line =
    `${summary.operation}: ${what[summary.outcome]}: ${summary.files_transferred} file(s) ${d}` +
    `transferred (${formatBytes(summary.bytes_transferred)}) of ${summary.files_examined} examined`;
  if (summary.operation === "mirror") line += `, ${summary.entries_deleted} ${d}deleted`;
  if (summary.operation === "move") line += `, ${summary.sources_removed} source(s) ${d}removed`;
  line += ` in ${formatDuration(summary.duration_ms)}`;
  lines.push(line);
  if (summary.files_failed > 0) {
    lines.push(`${summary.files_failed} failure(s):`);
    for (const f of summary.failures) lines.push(`  ${printable(f.path)}: ${printable(f.message)}`);
    if (summary.failures_truncated) {
      lines.push(`  … and ${summary.files_failed - summary.failures.length} more`);
    }
  }
  if (summary.deletions_skipped_reason) {
    lines.push(`deletions skipped: ${printable(summary.deletions_skipped_reason)}`);
  }
  return lines.join("\n");
}

/**
 * Renders rsync's closing statistics (`--stats`) for a run.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { renderStatistics } from "./render.ts";
 * const text = renderStatistics({
 *   operation: "copy", source: "a", destination: "b", files_examined: 3, files_transferred: 2,
 *   bytes_transferred: 2048, bytes_on_wire: 0, entries_deleted: 0, sources_removed: 0,
 *   files_failed: 0, failures: [], failures_truncated: false, deletions_skipped_reason: null,
 *   duration_ms: 500, dry_run: false, outcome: "transferred",
 * });
 * ok(text.includes("Number of regular files transferred: 2"));
 * ok(text.includes("Total transferred file size: 2,048 bytes"));
 * ```
 *
 * @param summary The run's summary.
 * @returns The lines, rsync's names first.
 */
export function renderStatistics(summary: TransferSummary): string {
  // Grouped by hand: toLocaleString loads the locale data (~18 ms at the first call).
  const n = (value: number): string => String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const seconds = Math.max(summary.duration_ms, 1) / 1000;
  return [
    "",
    `Number of files: ${n(summary.files_examined)}`,
    `Number of regular files transferred: ${n(summary.files_transferred)}`,
    `Number of deleted files: ${n(summary.entries_deleted)}`,
    `Number of files failed: ${n(summary.files_failed)}`,
    `Total transferred file size: ${n(summary.bytes_transferred)} bytes`,
    `Total bytes on the wire: ${n(summary.bytes_on_wire)}`,
    `Transfer time: ${seconds.toFixed(3)} seconds`,
    `Rate: ${formatBytes(summary.bytes_transferred / seconds)}/s`,
  ].join("\n");
}
