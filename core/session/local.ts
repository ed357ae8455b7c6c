/**
 * A transfer session whose SOURCE and DESTINATION roles both run in this process, on local trees.
 *
 * @module
 */

import { describeError, FatalError } from "../errors.ts";
import { compileFilter, type FilterRule } from "../filter.ts";
import { type FileHasher, hashFileWasm } from "../hash.ts";
import { CopyWorkerPool } from "../copy_pool.ts";
import { TaskPool } from "../pool.ts";
import type { DirListing } from "./dest_listing.ts";
import { DestinationScanner } from "./dest_scanner.ts";
import { TransferStats } from "../stats.ts";
import type { TransferRoots } from "../target.ts";
import type { CompareMode, Entry, TransferOperation, TransferSummary } from "../types.ts";
import { statEntry, walkTree } from "../walk.ts";
import { type FilePlan, LocalDestination, type TransferEvent } from "./destination.ts";
import { summarize } from "./summary.ts";

/** Everything a session needs besides the roots. */
export interface SessionOptions {
  /**
   * How files present on both sides are compared.
   * @default {"size-mtime"}
   */
  compare?: CompareMode;
  /**
   * Never overwrite an existing destination entry.
   * @default {false}
   */
  ignoreExisting?: boolean;
  /**
   * Plan and report, but never write or delete.
   * @default {false}
   */
  dryRun?: boolean;
  /**
   * Include/exclude rules in command-line order.
   * @default {[]}
   */
  filters?: readonly FilterRule[];
  /**
   * Files compared or written concurrently on the async path (checksums, remote payloads).
   * @default {16}
   */
  workers?: number;
  /**
   * Worker threads for local file copies (0 = copy on the main thread). Workers start only once
   * a run has enough files to pay for them. Two overlap the copies with the walk and keep both
   * cores of the reference machine busy (small files 1.0–1.7× and mixed sizes 1.9× faster than
   * one, same-run measurements); more measured no faster there.
   * @default {2}
   */
  copyWorkers?: number;
  /**
   * Asked before mirror deletes anything (not asked in a dry run); resolve `false` to keep
   * everything. Without it, deletions proceed.
   */
  confirmDeletions?: (paths: readonly string[]) => Promise<boolean>;
  /** Receives each action (for `--verbose`). */
  onEvent?: (event: TransferEvent) => void;
  /** Counters to update (for a live progress display); a new one is made when absent. */
  stats?: TransferStats;
  /** Hashes files for checksum compare and move verification. */
  hasher?: FileHasher;
}

const DEFAULT_WORKERS = 16;
const DEFAULT_COPY_WORKERS = 2;

/**
 * Runs one local session: the source walks and streams manifest groups, the destination plans
 * each group and settles its files through a bounded pool; mirror deletions happen only after
 * a complete source scan; move removes each source only after its copy is verified.
 *
 * @param operation The verb.
 * @param roots The resolved roots (see `resolveRoots`).
 * @param sourceText The source as the user gave it (for the summary).
 * @param options Compare rules, filters and callbacks.
 * @throws {FatalError} When the destination root cannot be prepared.
 * @returns The run's summary.
 */
export async function runLocalSession(
  operation: TransferOperation,
  roots: TransferRoots,
  sourceText: string,
  options: SessionOptions = {},
): Promise<TransferSummary> {
  const {
    compare = "size-mtime",
    ignoreExisting = false,
    dryRun = false,
    filters = [],
    workers = DEFAULT_WORKERS,
    copyWorkers = DEFAULT_COPY_WORKERS,
    confirmDeletions,
    onEvent,
    stats = new TransferStats(),
  } = options;
  stats.strategy = { workers, copyWorkers, compare };
  // hash.ts loads its WebAssembly module on the first digest, so a run that never hashes pays
  // nothing for it.
  const hasher = options.hasher ?? hashFileWasm;
  const filter = compileFilter(filters);
  const sourceAbs = (rel: string): string => rel === "" ? roots.source : `${roots.source}/${rel}`;
  const dest = new LocalDestination({
    root: roots.target,
    compare,
    ignoreExisting,
    mirror: operation === "mirror",
    dryRun,
    filter,
    stats,
    hashDestination: hasher,
    hashSource: (entry: Entry) => hasher(sourceAbs(entry.path)),
    ...(onEvent ? { onEvent } : {}),
  });
  const move = operation === "move";
  const umask = currentUmask();
  const movedDirs: string[] = [];

  const copies = new CopyWorkerPool((job, error) => {
    const entry = jobEntries.get(job.id);
    jobEntries.delete(job.id);
    if (!entry) return;
    if (error !== null) {
      stats.fail(entry.path || ".", error);
      return;
    }
    stats.transferred++;
    stats.bytes += entry.size;
    if (move) pendingRemovals.push(removeSource(entry));
  }, { workers: copyWorkers });
  const jobEntries = new Map<number, Entry>();
  const pendingRemovals: Promise<void>[] = [];
  let jobCounter = 0;

  const settle = async (plan: FilePlan): Promise<void> => {
    if (plan.decision === "send" && !dryRun) {
      // The fast path: a synchronous copy on a worker thread.
      dest.announceSend(plan.entry);
      const id = jobCounter++;
      jobEntries.set(id, plan.entry);
      await copies.add({
        id,
        src: sourceAbs(plan.entry.path),
        tmp: dest.tempPath(plan.entry),
        dst: dest.abs(plan.entry.path),
        size: plan.entry.size,
        mtimeMs: plan.entry.mtimeMs,
        mode: plan.entry.mode,
        umask,
      });
      return;
    }
    const src = sourceAbs(plan.entry.path);
    const landed = await dest.settleFile(plan, (tmp) => Deno.copyFile(src, tmp), {
      modeSet: true,
    });
    if (move && landed) await removeSource(plan.entry);
    else if (move && plan.decision === "kept") {
      stats.fail(
        plan.entry.path,
        "Cannot move: the destination exists (--ignore-existing); source kept",
      );
    }
  };

  const removeSource = async (entry: Entry): Promise<void> => {
    try {
      if (!(await dest.verify(entry))) {
        stats.fail(entry.path || ".", "Cannot verify the copy: source kept");
        return;
      }
      const now = statEntry(sourceAbs(entry.path), entry.path);
      if (now.size !== entry.size || now.mtimeMs !== entry.mtimeMs) {
        stats.fail(
          entry.path || ".",
          "Cannot move: the source changed during the transfer; source kept",
        );
        return;
      }
      onEvent?.({ action: "remove-source", path: entry.path });
      if (!dryRun) await Deno.remove(sourceAbs(entry.path));
      stats.sourcesRemoved++;
    } catch (error) {
      stats.fail(entry.path || ".", `Cannot remove source: ${describeError(error)}`);
    }
  };

  let scanComplete = true;
  if (roots.sourceKind !== "dir") {
    const entry = statEntry(roots.source, "");
    prepareParent(roots.target, dryRun);
    const plan = dest.planRootFile(entry);
    if (plan?.entry.kind === "symlink") {
      await settleLink(dest, plan, stats, dryRun);
      if (move && plan) await removeSource(entry);
    } else if (plan) await settle(plan);
    stats.walkDone = true;
    await copies.finish();
  } else {
    const rootEntry = statEntry(roots.source, "");
    try {
      dest.prepareRoot(rootEntry);
    } catch (error) {
      throw new FatalError(
        `Cannot create destination "${roots.target}": ${describeError(error)}`,
      );
    }
    const pool = new TaskPool(workers);
    const walk = walkTree(roots.source, {
      filter,
      onError: (path, message) => {
        scanComplete = false;
        stats.fail(path, message);
      },
    });
    const lookahead = new ListingLookahead(roots.target, copyWorkers > 0);
    try {
      for await (const group of walk) {
        if (!group.complete) scanComplete = false;
        if (move) movedDirs.push(group.dir);
        const plans = dest.planGroup(group, await lookahead.take(group.dir));
        lookahead.discovered(
          group.entries.filter((e) => e.kind === "dir" && !dest.isFresh(e.path)).map((e) => e.path),
          group.entries.length,
        );
        for (const plan of plans) {
          stats.planned++;
          stats.plannedBytes += plan.decision === "send" ? plan.entry.size : 0;
          if (plan.decision === "send" && !dryRun) await settle(plan);
          else if (plan.decision === "settled" && !move) continue;
          else await pool.run(() => settle(plan));
        }
        await copies.endBatch();
      }
    } finally {
      lookahead.close();
    }
    stats.walkDone = true;
    await pool.drain();
    await copies.finish();
  }
  await Promise.all(pendingRemovals);

  let deletionsSkipped: string | null = null;
  if (operation === "mirror") {
    const pending = dest.deletions;
    if (!scanComplete) {
      deletionsSkipped = "the source scan did not complete, so nothing was deleted";
    } else if (pending.length > 0) {
      const confirmed = dryRun || !confirmDeletions ||
        await confirmDeletions(pending.map((d) => d.path));
      if (confirmed) dest.applyDeletions();
      else deletionsSkipped = `${pending.length} deletion(s) were not confirmed`;
    }
  }
  dest.finishDirectories();
  if (move && roots.sourceKind === "dir" && !dryRun) {
    removeEmptyDirs(roots.source, movedDirs, !roots.contentsOnly);
  }
  return summarize({
    operation,
    source: sourceText,
    destination: roots.target,
    stats,
    dryRun,
    deletionsSkipped,
  });
}

/**
 * Destination entries still to be compared (estimated) from which listing them on a worker pays:
 * starting a worker blocks this thread 17–27 ms, about what 5,000 `lstat`s cost here.
 */
const LOOKAHEAD_MIN_ENTRIES = 8_000;

/**
 * Decides when to list destination directories ahead on a worker, and in which order: the walk
 * goes depth first, so the directories found last are planned first.
 */
class ListingLookahead {
  readonly #root: string;
  readonly #allowed: boolean;
  #scanner: DestinationScanner | null = null;
  /** Existing destination directories found before the scanner started, per group. */
  #found: string[][] = [];
  /** Of those, the ones not planned yet. */
  #pending = new Set<string>();
  #entries = 0;
  #groups = 0;

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

/** Reads the process umask (0o022 when the runtime does not expose it). */
function currentUmask(): number {
  try {
    const mask = Deno.umask(0o022);
    Deno.umask(mask);
    return mask;
  } catch {
    return 0o022;
  }
}

async function settleLink(
  dest: LocalDestination,
  plan: FilePlan,
  stats: TransferStats,
  dryRun: boolean,
): Promise<void> {
  if (plan.decision === "settled" || plan.decision === "kept") return;
  try {
    const target = plan.entry.linkTarget ?? "";
    if (!dryRun) {
      const tmp = `${dest.abs("")}.blit-link-${Deno.pid}`;
      await Deno.symlink(target, tmp);
      await Deno.rename(tmp, dest.abs(""));
    }
    stats.transferred++;
  } catch (error) {
    stats.fail(plan.entry.path || ".", describeError(error));
  }
}

function prepareParent(target: string, dryRun: boolean): void {
  const parent = target.slice(0, target.lastIndexOf("/")) || "/";
  if (dryRun) return;
  try {
    Deno.mkdirSync(parent, { recursive: true });
  } catch (error) {
    throw new FatalError(
      `Cannot create destination directory "${parent}": ${describeError(error)}`,
    );
  }
}

function removeEmptyDirs(root: string, dirs: string[], includeRoot: boolean): void {
  const ordered = dirs.filter((d) => d !== "" || includeRoot).sort((a, b) => b.length - a.length);
  for (const dir of ordered) {
    try {
      Deno.removeSync(dir === "" ? root : `${root}/${dir}`);
    } catch { /* not empty (a failed or excluded file stayed): keep it */ }
  }
}
