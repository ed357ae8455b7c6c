/**
 * The exit codes of blit's commands, and the mapping from a run's summary to one.
 *
 * @module
 */

import type { TransferSummary } from "../core/types.ts";

/** Exit codes: 0 success, 1 usage or fatal error, 2 partial failure. */
export const ExitCode = {
  /** Everything asked for was done. */
  Ok: 0,
  /** Bad input or a fatal error: nothing, or not everything, could start. */
  Fatal: 1,
  /** The run finished but some files failed or deletions were skipped. */
  Partial: 2,
} as const;

/**
 * Maps a summary to the exit code of the run.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { ExitCode, exitCodeFor } from "./exit_code.ts";
 * strictEqual(exitCodeFor({ files_failed: 0, deletions_skipped_reason: null }), ExitCode.Ok);
 * strictEqual(exitCodeFor({ files_failed: 3, deletions_skipped_reason: null }), ExitCode.Partial);
 * strictEqual(
 *   exitCodeFor({ files_failed: 0, deletions_skipped_reason: "the scan was incomplete" }),
 *   ExitCode.Partial,
 * );
 * ```
 *
 * @param summary The run's summary (only its failure count and skipped-deletions reason are read).
 * @returns {@linkcode ExitCode.Ok} on full success, {@linkcode ExitCode.Partial} when a file
 *   failed or deletions were skipped.
 */
export function exitCodeFor(
  summary: Pick<TransferSummary, "files_failed" | "deletions_skipped_reason">,
): number {
  return summary.files_failed > 0 || summary.deletions_skipped_reason !== null
    ? ExitCode.Partial
    : ExitCode.Ok;
}
