/**
 * Lists destination directories on a worker thread ahead of the planner, so that the
 * destination's `lstat`s run on the second core while the main thread walks the source.
 *
 * @module
 */

import type { DirListing } from "./dest_listing.ts";
import type { ScanAnswer, ScanRequest } from "./dest_scan_worker.ts";

/** Directories asked of the worker and not yet taken, at most (bounds memory). */
const MAX_AHEAD = 64;

/**
 * Lists directories of one destination tree on a worker, in the order they were requested.
 * Call {@linkcode DestinationScanner.request} for directories the planner will reach, then
 * {@linkcode DestinationScanner.take} when it does; always {@linkcode DestinationScanner.close}.
 */
export class DestinationScanner {
  readonly #root: string;
  readonly #worker: Worker;
  /** Requested, not yet sent to the worker. */
  readonly #queue: string[] = [];
  /** Sent to the worker, oldest first (it answers in order). */
  readonly #sent: string[] = [];
  readonly #answers = new Map<string, DirListing | null>();
  readonly #waiting = new Map<string, (listing: DirListing | null) => void>();
  readonly #known = new Set<string>();
  #broken = false;

  /**
   * Starts the worker.
   * @param root Absolute path of the destination root.
   */
  constructor(root: string) {
    this.#root = root;
    this.#worker = new Worker(new URL("./dest_scan_worker.ts", import.meta.url), {
      type: "module",
    });
    this.#worker.onmessage = (event: MessageEvent<ScanAnswer>) => {
      const dir = this.#sent.shift();
      if (dir === undefined) return;
      this.#settle(dir, "listing" in event.data ? event.data.listing : null);
      this.#pump();
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      // The planner lists these itself.
      this.#broken = true;
      for (const dir of [...this.#sent.splice(0), ...this.#queue.splice(0)]) {
        this.#settle(dir, null);
      }
    };
  }

  #settle(dir: string, listing: DirListing | null): void {
    const waiter = this.#waiting.get(dir);
    if (waiter) {
      this.#waiting.delete(dir);
      waiter(listing);
    } else this.#answers.set(dir, listing);
  }

  #pump(): void {
    while (
      !this.#broken && this.#queue.length > 0 && this.#sent.length + this.#answers.size < MAX_AHEAD
    ) {
      this.#send(this.#queue.shift() as string);
    }
  }

  /** Asks the worker for one directory (answers come back in the order asked). */
  #send(dir: string): void {
    this.#sent.push(dir);
    const request: ScanRequest = { abs: dir === "" ? this.#root : `${this.#root}/${dir}` };
    this.#worker.postMessage(request);
  }

  /**
   * Asks for listings ahead of time. The planner walks depth first, so the subdirectories of the
   * directory just planned come next: they go to the front of the queue, in the order given.
   * @param dirs Relative paths of directories that exist in the destination, in walk order.
   */
  request(dirs: readonly string[]): void {
    if (this.#broken) return;
    const fresh = dirs.filter((dir) => !this.#known.has(dir));
    for (const dir of fresh) this.#known.add(dir);
    this.#queue.unshift(...fresh);
    this.#pump();
  }

  /**
   * Whether {@linkcode DestinationScanner.take} has a listing coming for `dir`.
   * @param dir Relative path.
   * @returns `true` when it was requested and not taken yet.
   */
  has(dir: string): boolean {
    return this.#known.has(dir);
  }

  /**
   * Returns a requested directory's listing, waiting for the worker if needed.
   * @param dir Relative path given to {@linkcode DestinationScanner.request}.
   * @returns The listing, or `null` when the worker could not make it (list it yourself, to get
   *   the real error).
   */
  take(dir: string): Promise<DirListing | null> {
    this.#known.delete(dir);
    if (this.#answers.has(dir)) {
      const listing = this.#answers.get(dir) ?? null;
      this.#answers.delete(dir);
      this.#pump();
      return Promise.resolve(listing);
    }
    if (this.#broken) return Promise.resolve(null);
    const queued = this.#queue.indexOf(dir);
    if (queued >= 0) {
      // Not sent yet (the look-ahead is full of later directories): send it now.
      this.#queue.splice(queued, 1);
      this.#send(dir);
    }
    return new Promise((resolve) => this.#waiting.set(dir, resolve));
  }

  /** Stops the worker. */
  close(): void {
    this.#worker.terminate();
    for (const resolve of this.#waiting.values()) resolve(null);
    this.#waiting.clear();
  }
}
