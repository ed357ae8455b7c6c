/**
 * Counters of a transfer run, updated by the engine and read by progress renderers.
 *
 * @module
 */

import type { TransferFailure } from "./types.ts";

/** How many failures a summary lists before it only counts them. */
export const MAX_LISTED_FAILURES = 50;

/**
 * Files of at least this size are followed byte by byte while they are written (the progress
 * line names the largest one in flight); smaller ones are counted when they land.
 */
export const FOLLOWED_FILE_BYTES = 8 * 1024 * 1024;

/** One file being written, followed byte by byte (see {@linkcode TransferStats.follow}). */
export interface FileProgress {
  /** Its relative path (or any name a person recognises). */
  readonly path: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Bytes of it written so far. */
  done: number;
}

/**
 * Live counters of one run. Each failure is counted once; the first
 * {@linkcode MAX_LISTED_FAILURES} are kept with their message.
 */
export class TransferStats {
  /** Source entries examined. */
  examined = 0;
  /** Files the plan decided to send (known only once the walk has finished). */
  planned = 0;
  /** Bytes the plan decided to send. */
  plannedBytes = 0;
  /** Files and links written. */
  transferred = 0;
  /** Payload bytes written. */
  bytes = 0;
  /** Destination entries deleted. */
  deleted = 0;
  /** Source entries removed by move. */
  sourcesRemoved = 0;
  /** Whether the source walk has finished. */
  walkDone = false;
  /** What the engine chose for this run (recorded in the performance history). */
  strategy: Record<string, string | number | boolean> = {};
  /** Per-file failures. */
  readonly failures: TransferFailure[] = [];
  #failed = 0;
  /** When the run started (`performance.now()`). */
  readonly startedAt: number = performance.now();
  /**
   * Whether someone shows these counters live: engines then report bytes within large files
   * even where that costs a little (a copy thread started for one large file).
   */
  watched = false;
  /** The followed file a progress line names (the largest in flight), or `null`. */
  current: FileProgress | null = null;
  readonly #following = new Set<FileProgress>();
  #partialBytes = 0;
  readonly #probes = new Set<() => void>();

  /** Payload bytes written so far: landed files plus what is written of followed ones. */
  get bytesDone(): number {
    return this.bytes + this.#partialBytes;
  }

  /** Number of failures counted. */
  get failed(): number {
    return this.#failed;
  }

  /**
   * Counts one per-file failure.
   * @param path The entry's relative path.
   * @param message One line describing the problem.
   */
  fail(path: string, message: string): void {
    this.#failed++;
    if (this.failures.length < MAX_LISTED_FAILURES) this.failures.push({ path, message });
  }

  /**
   * Starts following a file being written; it becomes {@linkcode TransferStats.current} when it
   * is the largest in flight. Call {@linkcode TransferStats.unfollow} when it lands or fails
   * (before or after counting it in `bytes`, in the same turn).
   *
   * @example Usage
   * ```ts
   * import { strictEqual } from "node:assert/strict";
   * import { TransferStats } from "./stats.ts";
   * const stats = new TransferStats();
   * const file = stats.follow("big.iso", 100);
   * stats.progress(file, 40);
   * strictEqual(stats.current?.done, 40);
   * strictEqual(stats.bytesDone, 40);
   * stats.unfollow(file);
   * stats.bytes += 100;
   * strictEqual(stats.bytesDone, 100);
   * strictEqual(stats.current, null);
   * ```
   *
   * @param path The file's relative path.
   * @param size Its size in bytes.
   * @returns Its progress record, to pass to {@linkcode TransferStats.progress}.
   */
  follow(path: string, size: number): FileProgress {
    const file: FileProgress = { path, size, done: 0 };
    this.#following.add(file);
    if (this.current === null || size > this.current.size) this.current = file;
    return file;
  }

  /**
   * Records how much of a followed file is written (counters only: cheap enough per chunk).
   * @param file The record {@linkcode TransferStats.follow} returned.
   * @param done Bytes of it written so far.
   */
  progress(file: FileProgress, done: number): void {
    this.#partialBytes += done - file.done;
    file.done = done;
  }

  /**
   * Stops following a file (it landed or failed); its written part leaves
   * {@linkcode TransferStats.bytesDone}, which counts it again once it is added to `bytes`.
   * @param file The record {@linkcode TransferStats.follow} returned.
   */
  unfollow(file: FileProgress): void {
    if (!this.#following.delete(file)) return;
    this.#partialBytes -= file.done;
    if (this.current !== file) return;
    this.current = null;
    for (const other of this.#following) {
      if (this.current === null || other.size > this.current.size) this.current = other;
    }
  }

  /**
   * Adds a probe {@linkcode TransferStats.sample} runs: it brings followed files up to date
   * where the bytes are written out of sight (by the kernel, on another thread).
   * @param probe Reads how far its files are and calls {@linkcode TransferStats.progress}.
   */
  addProbe(probe: () => void): void {
    this.#probes.add(probe);
  }

  /**
   * Removes a probe added by {@linkcode TransferStats.addProbe}.
   * @param probe The probe.
   */
  removeProbe(probe: () => void): void {
    this.#probes.delete(probe);
  }

  /**
   * Follows a file written through an open handle by code that does not count its bytes (a
   * payload fill): while the counters are watched and the file is large, a probe reads its size
   * (`fstat`) whenever they are sampled. Nothing is done per chunk.
   *
   * @example Usage
   * ```ts ignore
   * import { TransferStats } from "./stats.ts";
   * const stats = new TransferStats();
   * using file = await Deno.open("/tmp/big.part", { write: true, create: true });
   * const stop = stats.followHandle("big.iso", 1 << 30, file);
   * try {
   *   // ... write the file ...
   * } finally {
   *   stop();
   * }
   * ```
   *
   * @param path The file's relative path.
   * @param size Its size in bytes.
   * @param handle The open file being written.
   * @returns Stops following it (call it once the writing ended, before counting it).
   */
  followHandle(path: string, size: number, handle: Deno.FsFile): () => void {
    if (!this.watched || size < FOLLOWED_FILE_BYTES) return () => {};
    const file = this.follow(path, size);
    const probe = (): void => {
      try {
        this.progress(file, Math.min(size, handle.statSync().size));
      } catch { /* closed meanwhile: the next sample comes after it is unfollowed */ }
    };
    this.addProbe(probe);
    return () => {
      this.removeProbe(probe);
      this.unfollow(file);
    };
  }

  /** Runs the probes; a live renderer calls it before it reads the counters. */
  sample(): void {
    for (const probe of this.#probes) probe();
  }
}
