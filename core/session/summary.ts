/**
 * Builds the summary of a run from its counters.
 *
 * @module
 */

import type { TransferStats } from "../stats.ts";
import type { TransferOperation, TransferOutcome, TransferSummary } from "../types.ts";

/** Inputs of {@linkcode summarize}. */
export interface SummaryInput {
  /** The verb. */
  operation: TransferOperation;
  /** Source as given. */
  source: string;
  /** Resolved destination. */
  destination: string;
  /** The run's counters. */
  stats: TransferStats;
  /** Whether nothing was changed on purpose. */
  dryRun: boolean;
  /** Why mirror deletions were skipped, if they were. */
  deletionsSkipped: string | null;
}

/**
 * Turns counters into a {@linkcode TransferSummary}, telling "transferred" from "up to date"
 * from "source empty".
 *
 * @param input The run's counters and identity.
 * @returns The summary.
 */
export function summarize(input: SummaryInput): TransferSummary {
  const { stats } = input;
  let outcome: TransferOutcome;
  const changed = stats.transferred + stats.deleted + stats.sourcesRemoved;
  if (stats.failed > 0 && changed === 0) outcome = "failed";
  else if (changed > 0) outcome = "transferred";
  else if (stats.examined === 0) outcome = "source_empty";
  else outcome = "up_to_date";
  return {
    operation: input.operation,
    source: input.source,
    destination: input.destination,
    files_examined: stats.examined,
    files_transferred: stats.transferred,
    bytes_transferred: stats.bytes,
    entries_deleted: stats.deleted,
    sources_removed: stats.sourcesRemoved,
    files_failed: stats.failed,
    failures: [...stats.failures],
    failures_truncated: stats.failed > stats.failures.length,
    deletions_skipped_reason: input.deletionsSkipped,
    duration_ms: Math.round(performance.now() - stats.startedAt),
    dry_run: input.dryRun,
    outcome,
  };
}
