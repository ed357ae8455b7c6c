/**
 * Worker entry: runs batches of {@linkcode CopyJob}s with synchronous calls and posts back the
 * results. Started by {@linkcode CopyWorkerPool}; not part of the public API.
 *
 * @module
 */

import { type CopyJob, type CopyResult, runCopyJob } from "./copy_job.ts";

/** A batch answer: job ids and their results, in order. */
export interface CopyBatchResult {
  /** Ids of the jobs. */
  ids: number[];
  /** Their results (`null` = ok). */
  results: CopyResult[];
}

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<CopyJob[]>) => void) | null;
  postMessage(message: CopyBatchResult): void;
};

scope.onmessage = (event: MessageEvent<CopyJob[]>) => {
  const jobs = event.data;
  const ids: number[] = [];
  const results: CopyResult[] = [];
  for (const job of jobs) {
    ids.push(job.id);
    results.push(runCopyJob(job));
  }
  scope.postMessage({ ids, results });
};
