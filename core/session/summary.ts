/**
 * Summaries: a side's counters as a {@linkcode SideSummary}, and the run's
 * {@linkcode TransferSummary} built from both sides.
 *
 * @module
 */

import type { TransferStats } from "../stats.ts";
import type { TransferOperation, TransferSummary } from "../types.ts";
import type { SideSummary } from "./frames.ts";
import { mergeSides, outcomeOf } from "./plan.ts";

/**
 * A side's summary from its counters.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { TransferStats } from "../stats.ts";
 * import { sideSummary } from "./summary.ts";
 * const stats = new TransferStats();
 * stats.fail("a", "Cannot read");
 * strictEqual(sideSummary(stats, null).failed, 1);
 * ```
 *
 * @param stats The side's counters.
 * @param deletionsSkipped Why deletions were skipped (destination), else `null`.
 * @returns The summary.
 */
export function sideSummary(stats: TransferStats, deletionsSkipped: string | null): SideSummary {
  return {
    examined: stats.examined,
    transferred: stats.transferred,
    bytes: stats.bytes,
    deleted: stats.deleted,
    sourcesRemoved: stats.sourcesRemoved,
    failed: stats.failed,
    failures: [...stats.failures],
    deletionsSkipped,
  };
}

/** Inputs of {@linkcode transferSummary}. */
export interface SummaryInput {
  /** The verb. */
  operation: TransferOperation;
  /** Source as given. */
  source: string;
  /** Where the source landed, as shown to the user. */
  destination: string;
  /** The source side's summary. */
  sourceSide: SideSummary;
  /** The destination side's summary. */
  destinationSide: SideSummary;
  /** Whether nothing was changed on purpose. */
  dryRun: boolean;
  /** When the run started (`performance.now()`). */
  startedAt: number;
  /** Bytes on the sockets of both planes (0 for a local run). */
  bytesOnWire?: number;
}

/**
 * The run's summary from both sides' summaries, telling "transferred" from "partial" from "up to
 * date" from "source empty" from "failed".
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { transferSummary } from "./summary.ts";
 * const side = {
 *   examined: 0, transferred: 0, bytes: 0, deleted: 0, sourcesRemoved: 0,
 *   failed: 0, failures: [], deletionsSkipped: null,
 * };
 * const summary = transferSummary({
 *   operation: "copy", source: "a", destination: "b", dryRun: false, startedAt: 0,
 *   sourceSide: { ...side, examined: 2 }, destinationSide: { ...side, transferred: 2 },
 * });
 * strictEqual(summary.outcome, "transferred");
 * ```
 *
 * @param input Both sides and the run's identity.
 * @returns The summary.
 */
export function transferSummary(input: SummaryInput): TransferSummary {
  const run = mergeSides(input.sourceSide, input.destinationSide);
  return {
    operation: input.operation,
    source: input.source,
    destination: input.destination,
    files_examined: run.examined,
    files_transferred: run.transferred,
    bytes_transferred: run.bytes,
    bytes_on_wire: input.bytesOnWire ?? 0,
    entries_deleted: run.deleted,
    sources_removed: run.sourcesRemoved,
    files_failed: run.failed,
    failures: run.failures,
    failures_truncated: run.failed > run.failures.length,
    deletions_skipped_reason: run.deletionsSkipped,
    duration_ms: Math.round(performance.now() - input.startedAt),
    dry_run: input.dryRun,
    outcome: outcomeOf(run),
  };
}
