/**
 * Runs local file copies on worker threads, batched, so that the walk and plan on the main
 * thread overlap with the copies and both cores are busy.
 *
 * @module
 */

import { type CopyJob, type CopyResult, packBatch, runCopyJob } from "./copy_job.ts";
import type { CopyBatchResult, CopyWorkerPace } from "./copy_worker.ts";
import type { SharedPace } from "./shared_pace.ts";
import { trackTemporary } from "./temporaries_in_flight.ts";
import { PARTIAL_PREFIX, splitPath } from "./tree.ts";
import { type FileProgress, FOLLOWED_FILE_BYTES, type TransferStats } from "./stats.ts";

/** Where a pool reports the bytes of large files while a thread copies them. */
export interface CopyProgress {
  /** The run's counters: followed files are reported here. */
  stats: TransferStats;
  /** The name a person knows a job's file by (its relative path). */
  name: (job: CopyJob) => string;
}

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
  /**
   * Reports the bytes of large files as a thread copies them (sampled from the size of their
   * temporary on disk). While the counters are watched, a batch with a file of
   * {@linkcode THREAD_FOR_PROGRESS_BYTES} or more goes to a thread even when the work would not
   * pay for one: copied on the calling thread, it would freeze the progress line.
   */
  progress?: CopyProgress;
  /**
   * Holds every copy to one rate (`--bwlimit`). Paced copies sleep, so they all run on worker
   * threads (at least one), never on the calling thread.
   */
  pace?: SharedPace;
}

/**
 * A file at least this large is copied on a thread when its progress is watched (a copy of it
 * takes ~30 ms or more; starting a worker costs the calling thread ~20–40 ms).
 */
export const THREAD_FOR_PROGRESS_BYTES = 64 * 1024 * 1024;

/** Jobs per batch while no worker runs (small, so the first file lands at once). */
const FIRST_BATCH_FILES = 8;

/**
 * Estimated copy work (µs) that must have gone by before another worker is started: creating a
 * worker blocks the calling thread for 17–27 ms here (measured), so a run with less work than
 * that is faster without it.
 */
const WORKER_PAYOFF_MICROS = 25_000;

/** Byte buffers kept for the next batches once the workers hand them back. */
const MAX_SPARES = 4;

/** The size of a new byte buffer, unless a batch needs more: a shard's worth (4 MiB) and room. */
const SPARE_BYTES = 8 * 1024 * 1024;

/** Estimated µs to copy one file (measured here: ~50 µs per small file, ~2 GB/s beyond). */
function copyCost(job: CopyJob): number {
  return 50 + job.size / 2_000;
}

interface WorkerSlot {
  worker: Worker;
  inFlight: number;
  /** Job ids of the batches posted and not answered yet, oldest first. */
  batches: number[][];
}

/**
 * A pool of copy workers fed in batches. Workers start lazily, each only once the work seen since
 * the last one started pays for its start-up; small runs copy on the calling thread. `onDone` is
 * called for every job with its result.
 */
export class CopyWorkerPool {
  #max: number;
  readonly #pace: SharedPace | null;
  #batchFiles: number;
  #batchBytes: number;
  #slots: WorkerSlot[] = [];
  #batch: CopyJob[] = [];
  #batchSize = 0;
  /** Byte buffers the workers handed back, for the next batches (at most {@linkcode MAX_SPARES}). */
  #spares: ArrayBuffer[] = [];
  #pending = 0;
  #idle: (() => void)[] = [];
  #space: (() => void)[] = [];
  #onDone: (job: CopyJob, result: CopyResult) => void;
  #jobs = new Map<number, CopyJob>();
  #failure: Error | null = null;
  /** The flushes in order (see `#flush`). */
  #flushing: Promise<void> = Promise.resolve();
  /** Estimated µs of the copies queued so far (see {@linkcode WORKER_PAYOFF_MICROS}). */
  #work = 0;
  /** `#work` when the last worker was started. */
  #workAtStart = 0;
  /** Estimated µs of the batch being filled. */
  #batchCost = 0;
  #progress: CopyProgress | null;
  /** Large jobs handed to a thread and not answered, with their record once their bytes show. */
  #followed = new Map<CopyJob, FileProgress | null>();
  #probe = (): void => this.#sampleFollowed();
  /** Forgets this pool's entry in the temporaries removed on Ctrl-C (see `#start`). */
  #untrack: (() => void) | null = null;

  /**
   * Creates a pool.
   * @param onDone Called with each job's result.
   * @param options Worker count and batch sizes.
   */
  constructor(onDone: (job: CopyJob, result: CopyResult) => void, options: CopyPoolOptions = {}) {
    const { workers = 2, batchFiles = 256, batchBytes = 64 * 1024 * 1024 } = options;
    this.#pace = options.pace ?? null;
    this.#max = Math.max(this.#pace === null ? 0 : 1, workers);
    this.#batchFiles = batchFiles;
    this.#batchBytes = batchBytes;
    this.#onDone = (job, result) => {
      if (this.#followed.size > 0) this.#unfollow(job);
      onDone(job, result);
    };
    this.#progress = options.progress ?? null;
  }

  /** Follows the large files of a batch handed to a thread (when progress is reported). */
  #follow(jobs: readonly CopyJob[]): void {
    if (this.#progress === null) return;
    for (const job of jobs) {
      if (job.size < FOLLOWED_FILE_BYTES || job.data !== undefined) continue;
      if (this.#followed.size === 0) this.#progress.stats.addProbe(this.#probe);
      this.#followed.set(job, null);
    }
  }

  #unfollow(job: CopyJob): void {
    if (!this.#followed.has(job) || this.#progress === null) return;
    const file = this.#followed.get(job);
    this.#followed.delete(job);
    if (file) this.#progress.stats.unfollow(file);
    if (this.#followed.size === 0) this.#progress.stats.removeProbe(this.#probe);
  }

  /** Reads how far each followed copy is: the size of its temporary (written by the kernel). */
  #sampleFollowed(): void {
    const progress = this.#progress;
    if (progress === null) return;
    for (const [job, known] of this.#followed) {
      let size: number;
      try {
        size = Deno.lstatSync(job.tmp).size;
      } catch {
        continue; // not started yet
      }
      const file = known ?? progress.stats.follow(progress.name(job), job.size);
      if (known === null) this.#followed.set(job, file);
      progress.stats.progress(file, Math.min(size, job.size));
    }
  }

  /**
   * Whether a batch must go to a thread: paced copies sleep, and one copied here would freeze a
   * watched progress line (see `progress`).
   */
  #wantsThread(jobs: readonly CopyJob[]): boolean {
    if (this.#pace !== null) return true;
    if (this.#max === 0 || this.#progress === null || !this.#progress.stats.watched) return false;
    return jobs.some((job) => job.size >= THREAD_FOR_PROGRESS_BYTES && job.data === undefined);
  }

  /** How many workers were started. */
  get workersStarted(): number {
    return this.#slots.length;
  }

  /**
   * Starts every worker now instead of when the work pays for them (a long-lived process that
   * will copy: its first batches then go to threads that are already up).
   */
  startWorkers(): void {
    while (this.#slots.length < this.#max && this.#failure === null) this.#start();
  }

  /**
   * Queues one copy. Resolves once the job is queued; waits while the workers are saturated.
   * @param job The copy; its `id` is the caller's and comes back in `onDone`.
   */
  async add(job: CopyJob): Promise<void> {
    this.#batch.push(job);
    this.#batchSize += job.size;
    const cost = copyCost(job);
    this.#work += cost;
    this.#batchCost += cost;
    // While no worker runs, batches are small so the first file lands at once (see #flush).
    const files = this.#slots.length === 0 ? FIRST_BATCH_FILES : this.#batchFiles;
    if (this.#batch.length >= files || this.#batchSize >= this.#batchBytes) {
      await this.#flush(false);
    }
  }

  /**
   * Sends the current batch on, after every earlier flush has sent its own: a flush may wait for
   * a worker (back-pressure) holding jobs that other callers added, whose bytes are views of their
   * buffers (a data connection's shard). Had a later flush (that caller's `endBatch`) resolved
   * before, the caller would reuse its buffer while the waiting flush had not yet copied those
   * bytes, and wrong bytes would be written.
   */
  #flush(final: boolean): Promise<void> {
    const run = this.#flushing.then(() => this.#flushNow(final));
    this.#flushing = run.catch(() => {});
    return run;
  }

  /** Sends the current batch to the least busy worker, starting one if allowed. */
  async #flushNow(final: boolean): Promise<void> {
    const jobs = this.#batch;
    if (jobs.length === 0) return;
    this.#batch = [];
    this.#batchSize = 0;
    // Judge by the work seen before this batch: a worker started now only helps later batches
    // (a single big file never needs one).
    const before = this.#work - this.#batchCost;
    this.#batchCost = 0;
    const paysOff = !final && before - this.#workAtStart >= WORKER_PAYOFF_MICROS;
    if (this.#slots.length === 0 && this.#wantsThread(jobs)) {
      this.#start();
    } else if (this.#slots.length === 0) {
      // Start the first worker once the work seen pays for it, and copy this batch here while
      // it boots; until then everything is copied here.
      if (this.#max > 0 && paysOff) this.#start();
      for (const job of jobs) this.#onDone(job, runCopyJob(job));
      return;
    }
    let slot = this.#slots.reduce<WorkerSlot | null>(
      (best, s) => (best === null || s.inFlight < best.inFlight ? s : best),
      null,
    );
    if ((slot === null || slot.inFlight > 0) && this.#slots.length < this.#max && paysOff) {
      slot = this.#start();
    }
    while (slot && slot.inFlight >= 2) {
      // Every worker has two batches queued: wait for one to finish (back-pressure).
      await new Promise<void>((resolve) => this.#space.push(resolve));
      slot = this.#slots.reduce<WorkerSlot | null>(
        (best, s) => (best === null || s.inFlight < best.inFlight ? s : best),
        null,
      );
    }
    if (!slot) {
      // No worker left (one failed): copy here, so that every job is answered.
      for (const job of jobs) this.#onDone(job, runCopyJob(job));
      return;
    }
    for (const job of jobs) this.#jobs.set(job.id, job);
    this.#follow(jobs);
    slot.inFlight++;
    slot.batches.push(jobs.map((job) => job.id));
    this.#pending++;
    const batch = packBatch(jobs, this.#spareFor(jobs));
    slot.worker.postMessage(batch, [batch.numbers.buffer, batch.bytes]);
  }

  /**
   * A buffer for the received bytes of `jobs`: a spare one that holds them, else a new one of at
   * least {@linkcode SPARE_BYTES} (so that it fits the next batches when it comes back).
   */
  #spareFor(jobs: readonly CopyJob[]): ArrayBuffer | undefined {
    let total = 0;
    for (const job of jobs) if (job.data !== undefined) total += job.size;
    if (total === 0) return undefined;
    const at = this.#spares.findIndex((spare) => spare.byteLength >= total);
    if (at >= 0) return this.#spares.splice(at, 1)[0];
    return new ArrayBuffer(Math.max(total, Math.min(this.#batchBytes, SPARE_BYTES)));
  }

  #start(): WorkerSlot {
    const worker = new Worker(new URL("./copy_worker.ts", import.meta.url), { type: "module" });
    // The threads' jobs run while the main thread may be interrupted (Ctrl-C).
    this.#untrack ??= trackTemporary(() => this.#removeTemporaries());
    if (this.#pace !== null) {
      const { buffer, bytesPerSecond } = this.#pace;
      worker.postMessage({ paceBuffer: buffer, bytesPerSecond } satisfies CopyWorkerPace);
    }
    const slot: WorkerSlot = { worker, inFlight: 0, batches: [] };
    this.#workAtStart = this.#work;
    worker.onmessage = (event: MessageEvent<CopyBatchResult>) => {
      const { ids, results, bytes } = event.data;
      if (bytes.byteLength > 0 && this.#spares.length < MAX_SPARES) this.#spares.push(bytes);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i] as number;
        const job = this.#jobs.get(id);
        this.#jobs.delete(id);
        if (job) this.#onDone(job, results[i] ?? null);
      }
      slot.inFlight--;
      slot.batches.shift();
      this.#pending--;
      this.#space.shift()?.();
      if (this.#pending === 0) { for (const resolve of this.#idle.splice(0)) resolve(); }
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      const failure = `Cannot copy files: a copy worker failed: ${event.message}`;
      this.#failure = new Error(failure);
      // Every job it held fails (and says so), and it takes no more: a later batch goes to
      // another worker. Nobody waits for an answer that cannot come.
      this.#slots = this.#slots.filter((s) => s !== slot);
      worker.terminate();
      this.#pending -= slot.inFlight;
      slot.inFlight = 0;
      for (const id of slot.batches.splice(0).flat()) {
        const job = this.#jobs.get(id);
        this.#jobs.delete(id);
        if (job) this.#onDone(job, failure);
      }
      if (this.#pending === 0) { for (const resolve of this.#idle.splice(0)) resolve(); }
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
   * Drops what is queued and not yet sent (those jobs are never reported), waits for the
   * batches the workers hold, and stops the workers: the session ended early.
   */
  async close(): Promise<void> {
    for (const job of this.#batch) this.#jobs.delete(job.id);
    this.#batch = [];
    this.#batchSize = 0;
    await this.finish().catch(() => {});
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
    this.#untrack?.();
    this.#untrack = null;
    if (this.#failure) throw this.#failure;
  }

  /**
   * Removes the ordinary temporaries of the jobs the threads hold (one try each: a job not
   * started has none yet, a finished one has renamed it); partial files stay for resume.
   */
  #removeTemporaries(): void {
    for (const job of this.#jobs.values()) {
      if (job.resume || splitPath(job.tmp)[1].startsWith(PARTIAL_PREFIX)) continue;
      try {
        Deno.removeSync(job.tmp);
      } catch { /* not created yet, or already renamed into place */ }
    }
  }
}

/** What a session needs of a pool of copy or writer threads (its own, or a share of one). */
export interface CopyJobQueue {
  /** Queues one job; waits while the threads are saturated. */
  add(job: CopyJob): Promise<void>;
  /**
   * Sends what is queued (a directory or shard boundary). Resolves once every job added before
   * has been handed to a thread or done: the bytes of received files may then be reused.
   */
  endBatch(): Promise<void>;
  /** Sends what is queued and waits until every job of this queue is done. */
  finish(): Promise<void>;
  /** The session ended early: waits for its jobs already handed to a thread, then lets go. */
  close(): Promise<void>;
}

/**
 * One pool of writer threads shared by every session of a process (the daemon's): a thread is
 * started once and serves all sessions, so many clients at once cost two threads, not two each.
 * Each session gets a {@linkcode CopyJobQueue} that waits only for its own jobs.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { SharedCopyPool } from "./copy_pool.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a`, "hello");
 * const shared = new SharedCopyPool({ workers: 0 });
 * const results: (string | null)[] = [];
 * const queue = shared.session((_job, result) => results.push(result));
 * await queue.add({
 *   id: 1, src: `${dir}/a`, tmp: `${dir}/.b`, dst: `${dir}/b`, size: 5, mtimeMs: 0,
 *   mode: 0o644, umask: 0o022,
 * });
 * await queue.finish();
 * strictEqual(await Deno.readTextFile(`${dir}/b`), "hello");
 * strictEqual(results[0], null);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class SharedCopyPool {
  readonly #pool: CopyWorkerPool;
  readonly #owners = new Map<number, { job: CopyJob; share: PoolShare }>();
  #next = 0;

  /**
   * Creates the shared pool (threads start when the work pays for them, and stay).
   * @param options Worker count and batch sizes.
   */
  constructor(options: CopyPoolOptions = {}) {
    this.#pool = new CopyWorkerPool((job, result) => {
      const owner = this.#owners.get(job.id);
      this.#owners.delete(job.id);
      owner?.share.done(owner.job, result);
    }, options);
  }

  /**
   * Starts the threads now (see {@linkcode CopyWorkerPool.startWorkers}): a daemon does so at
   * start, so that many clients arriving at once do not have their first files written on its
   * main thread while the threads would boot.
   */
  startWorkers(): void {
    this.#pool.startWorkers();
  }

  /**
   * A session's share of the pool.
   * @param onDone Called with each of this session's jobs and its result.
   * @returns The session's queue.
   */
  session(onDone: (job: CopyJob, result: CopyResult) => void): CopyJobQueue {
    return new PoolShare(onDone, (job, share) => {
      const id = this.#next++;
      this.#owners.set(id, { job, share });
      return this.#pool.add({ ...job, id });
    }, () => this.#pool.endBatch());
  }
}

/** One session's view of a {@linkcode SharedCopyPool}. */
class PoolShare implements CopyJobQueue {
  readonly #onDone: (job: CopyJob, result: CopyResult) => void;
  readonly #submit: (job: CopyJob, share: PoolShare) => Promise<void>;
  readonly #flush: () => Promise<void>;
  #pending = 0;
  #idle: (() => void)[] = [];

  constructor(
    onDone: (job: CopyJob, result: CopyResult) => void,
    submit: (job: CopyJob, share: PoolShare) => Promise<void>,
    flush: () => Promise<void>,
  ) {
    this.#onDone = onDone;
    this.#submit = submit;
    this.#flush = flush;
  }

  done(job: CopyJob, result: CopyResult): void {
    this.#pending--;
    this.#onDone(job, result);
    if (this.#pending === 0) { for (const wake of this.#idle.splice(0)) wake(); }
  }

  add(job: CopyJob): Promise<void> {
    this.#pending++;
    return this.#submit(job, this);
  }

  endBatch(): Promise<void> {
    return this.#flush();
  }

  async finish(): Promise<void> {
    await this.#flush();
    while (this.#pending > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  close(): Promise<void> {
    return this.finish();
  }
}
