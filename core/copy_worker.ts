/**
 * Worker entry: runs batches of copy jobs (a {@linkcode PackedBatch}) with synchronous calls and posts back the
 * results. Started by {@linkcode CopyWorkerPool}; not part of the public API.
 *
 * @module
 */

import { type CopyResult, type PackedBatch, runCopyJob, unpackBatch } from "./copy_job.ts";

/** A batch answer: job ids and their results, in order. */
export interface CopyBatchResult {
  /** Ids of the jobs. */
  ids: number[];
  /** Their results (`null` = ok). */
  results: CopyResult[];
  /** The batch's bytes, handed back (transferred) for the next batch. */
  bytes: ArrayBuffer;
}

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<PackedBatch>) => void) | null;
  postMessage(message: CopyBatchResult, transfer: Transferable[]): void;
};

scope.onmessage = (event: MessageEvent<PackedBatch>) => {
  const jobs = unpackBatch(event.data);
  const ids: number[] = [];
  const results: CopyResult[] = [];
  for (const job of jobs) {
    ids.push(job.id);
    results.push(runCopyJob(job));
  }
  scope.postMessage({ ids, results, bytes: event.data.bytes }, [event.data.bytes]);
};
