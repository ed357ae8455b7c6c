/**
 * The exit codes of blit's commands.
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
 * @param summary The run's summary.
 * @returns 0 on full success, 2 when a file failed or deletions were skipped.
 */
export function exitCodeFor(summary: TransferSummary): number {
  return summary.files_failed > 0 || summary.deletions_skipped_reason !== null
    ? ExitCode.Partial
    : ExitCode.Ok;
}
