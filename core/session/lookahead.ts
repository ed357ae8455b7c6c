/**
 * Listing destination directories ahead of the planner on a worker thread, for local trees
 * (`caps.localPaths`): deciding when it pays and in which order to ask.
 *
 * @module
 */

import type { DirListing } from "./dest_listing.ts";
import { DestinationScanner } from "./dest_scanner.ts";

/**
 * Destination entries still to be compared (estimated) from which listing them on a worker pays:
 * starting a worker blocks this thread 17–27 ms, about what 5,000 `lstat`s cost here.
 */
const LOOKAHEAD_MIN_ENTRIES = 8_000;

/**
 * Decides when to list destination directories ahead on a worker, and in which order: the walk
 * goes depth first, so the directories found last are planned first.
 */
export class ListingLookahead {
  readonly #root: string;
  readonly #allowed: boolean;
  #scanner: DestinationScanner | null = null;
  /** Existing destination directories found before the scanner started, per group. */
  #found: string[][] = [];
  /** Of those, the ones not planned yet. */
  #pending = new Set<string>();
  #entries = 0;
  #groups = 0;

  /**
   * Creates the look-ahead.
   * @param root Local path of the destination directory the manifest's root maps to.
   * @param allowed Whether a worker may be started at all.
   */
  constructor(root: string, allowed: boolean) {
    this.#root = root;
    this.#allowed = allowed;
  }

  /** The listing of `dir` if it was made ahead, else `null` (the planner lists it). */
  async take(dir: string): Promise<DirListing | null> {
    if (this.#scanner === null) {
      this.#pending.delete(dir);
      return null;
    }
    return this.#scanner.has(dir) ? await this.#scanner.take(dir) : null;
  }

  /**
   * Records the existing destination subdirectories of the group just planned.
   * @param dirs Their relative paths, in walk order.
   * @param entries Entries in the group.
   */
  discovered(dirs: string[], entries: number): void {
    this.#entries += entries;
    this.#groups++;
    if (this.#scanner) {
      this.#scanner.request(dirs);
      return;
    }
    if (!this.#allowed) return;
    if (dirs.length > 0) this.#found.push(dirs);
    for (const dir of dirs) this.#pending.add(dir);
    // Entries to come, judged by the directories known ahead and the entries per directory so far.
    if (this.#pending.size * (this.#entries / this.#groups) < LOOKAHEAD_MIN_ENTRIES) return;
    const inWalkOrder = this.#found.reverse().flat().filter((dir) => this.#pending.has(dir));
    this.#found = [];
    this.#pending.clear();
    this.#scanner = new DestinationScanner(this.#root);
    this.#scanner.request(inWalkOrder);
  }

  /** Stops the worker, if one was started. */
  close(): void {
    this.#scanner?.close();
  }
}
