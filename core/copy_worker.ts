/**
 * Worker entry: runs batches of copy jobs (a {@linkcode PackedBatch}) with synchronous calls and posts back the
 * results. Started by {@linkcode CopyWorkerPool}; not part of the public API.
 *
 * @module
 */

import { type CopyResult, type PackedBatch, runCopyJob, unpackBatch } from "./copy_job.ts";
import { SharedPace } from "./shared_pace.ts";

/** A batch answer: job ids and their results, in order. */
export interface CopyBatchResult {
  /** Ids of the jobs. */
  ids: number[];
  /** Their results (`null` = ok). */
  results: CopyResult[];
  /** The batch's bytes, handed back (transferred) for the next batch. */
  bytes: ArrayBuffer;
}

/** The first message to a worker whose copies are held to a rate (`--bwlimit`). */
export interface CopyWorkerPace {
  /** {@linkcode SharedPace.buffer} of the pool's pace. */
  paceBuffer: SharedArrayBuffer;
  /** Its rate. */
  bytesPerSecond: number;
}

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<PackedBatch | CopyWorkerPace>) => void) | null;
  postMessage(message: CopyBatchResult, transfer: Transferable[]): void;
};

let pace: SharedPace | null = null;

scope.onmessage = (event: MessageEvent<PackedBatch | CopyWorkerPace>) => {
  if ("paceBuffer" in event.data) {
    pace = SharedPace.from(event.data.paceBuffer, event.data.bytesPerSecond);
    return;
  }
  const jobs = unpackBatch(event.data);
  const ids: number[] = [];
  const results: CopyResult[] = [];
  for (const job of jobs) {
    ids.push(job.id);
    results.push(runCopyJob(job, pace));
  }
  scope.postMessage({ ids, results, bytes: event.data.bytes }, [event.data.bytes]);
};
