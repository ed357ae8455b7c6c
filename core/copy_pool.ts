/**
 * Runs local file copies on worker threads, batched, so that the walk and plan on the main
 * thread overlap with the copies and both cores are busy.
 *
 * @module
 */

import { type CopyJob, type CopyResult, runCopyJob } from "./copy_job.ts";
import type { CopyBatchResult } from "./copy_worker.ts";

/** Options of {@linkcode CopyWorkerPool}. */
export interface CopyPoolOptions {
  /**
   * Worker threads to use at most (0 = copy on the calling thread).
   * @default {2}
   */
  workers?: number;
  /**
   * Jobs per batch sent to a worker.
   * @default {256}
   */
  batchFiles?: number;
  /**
   * Payload bytes per batch sent to a worker.
   * @default {64 MiB}
   */
  batchBytes?: number;
}

/** Jobs in the first batch, copied on the calling thread while the first worker starts. */
const FIRST_BATCH_FILES = 8;

interface WorkerSlot {
  worker: Worker;
  inFlight: number;
}

/**
 * A pool of copy workers fed in batches. Workers start lazily, only once there is enough work
 * to pay for their start-up; small runs copy on the calling thread. `onDone` is called for every
 * job with its result.
 */
export class CopyWorkerPool {
  #max: number;
  #batchFiles: number;
  #batchBytes: number;
  #slots: WorkerSlot[] = [];
  #batch: CopyJob[] = [];
  #batchSize = 0;
  #pending = 0;
  #idle: (() => void)[] = [];
  #space: (() => void)[] = [];
  #onDone: (job: CopyJob, result: CopyResult) => void;
  #jobs = new Map<number, CopyJob>();
  #failure: Error | null = null;

  /**
   * Creates a pool.
   * @param onDone Called with each job's result.
   * @param options Worker count and batch sizes.
   */
  constructor(onDone: (job: CopyJob, result: CopyResult) => void, options: CopyPoolOptions = {}) {
    const { workers = 2, batchFiles = 256, batchBytes = 64 * 1024 * 1024 } = options;
    this.#max = Math.max(0, workers);
    this.#batchFiles = batchFiles;
    this.#batchBytes = batchBytes;
    this.#onDone = onDone;
  }

  /** How many workers were started. */
  get workersStarted(): number {
    return this.#slots.length;
  }

  /**
   * Queues one copy. Resolves once the job is queued; waits while the workers are saturated.
   * @param job The copy; its `id` is the caller's and comes back in `onDone`.
   */
  async add(job: CopyJob): Promise<void> {
    this.#batch.push(job);
    this.#batchSize += job.size;
    // The first batch is small so the first file lands at once (see #flush).
    const files = this.#slots.length === 0 ? FIRST_BATCH_FILES : this.#batchFiles;
    if (this.#batch.length >= files || this.#batchSize >= this.#batchBytes) {
      await this.#flush(false);
    }
  }

  /** Sends the current batch to the least busy worker, starting one if allowed. */
  async #flush(final: boolean): Promise<void> {
    const jobs = this.#batch;
    if (jobs.length === 0) return;
    this.#batch = [];
    this.#batchSize = 0;
    if (this.#max === 0 || (final && this.#slots.length === 0 && jobs.length < 16)) {
      // Too little work to pay for a worker: copy here.
      for (const job of jobs) this.#onDone(job, runCopyJob(job));
      return;
    }
    if (this.#slots.length === 0) {
      // Start the worker, and copy this first batch here while it boots (tens of ms).
      this.#start();
      for (const job of jobs) this.#onDone(job, runCopyJob(job));
      return;
    }
    let slot = this.#slots.reduce<WorkerSlot | null>(
      (best, s) => (best === null || s.inFlight < best.inFlight ? s : best),
      null,
    );
    if ((slot === null || slot.inFlight > 0) && this.#slots.length < this.#max) {
      slot = this.#start();
    }
    while (slot && slot.inFlight >= 2) {
      // Every worker has two batches queued: wait for one to finish (back-pressure).
      await new Promise<void>((resolve) => this.#space.push(resolve));
      slot = this.#slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    }
    if (!slot) return;
    for (const job of jobs) this.#jobs.set(job.id, job);
    slot.inFlight++;
    this.#pending++;
    slot.worker.postMessage(jobs);
  }

  #start(): WorkerSlot {
    const worker = new Worker(new URL("./copy_worker.ts", import.meta.url), { type: "module" });
    const slot: WorkerSlot = { worker, inFlight: 0 };
    worker.onmessage = (event: MessageEvent<CopyBatchResult>) => {
      const { ids, results } = event.data;
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i] as number;
        const job = this.#jobs.get(id);
        this.#jobs.delete(id);
        if (job) this.#onDone(job, results[i] ?? null);
      }
      slot.inFlight--;
      this.#pending--;
      this.#space.shift()?.();
      if (this.#pending === 0) { for (const resolve of this.#idle.splice(0)) resolve(); }
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#failure = new Error(`Cannot copy files: a copy worker failed: ${event.message}`);
      slot.inFlight = 0;
      this.#pending = 0;
      for (const resolve of this.#idle.splice(0)) resolve();
      for (const resolve of this.#space.splice(0)) resolve();
    };
    this.#slots.push(slot);
    return slot;
  }

  /**
   * Ends the current batch (call it at a directory boundary): batches then never span two
   * directories, so two workers rarely create files in the same directory at once.
   */
  async endBatch(): Promise<void> {
    await this.#flush(false);
  }

  /**
   * Sends what is queued and waits for every copy to finish; stops the workers.
   * @throws {Error} When a worker crashed.
   */
  async finish(): Promise<void> {
    await this.#flush(true);
    while (this.#pending > 0) {
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
    for (const slot of this.#slots) slot.worker.terminate();
    this.#slots = [];
    if (this.#failure) throw this.#failure;
  }
}
