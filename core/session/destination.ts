/**
 * The DESTINATION role of a transfer session on a local tree: it compares each manifest group
 * against what it has, decides what it needs, writes files through temporary siblings, and, for
 * mirror, decides deletions once the source scan is known to be complete.
 *
 * @module
 */

import { needsTransfer, sameMtime } from "../compare.ts";
import { describeError } from "../errors.ts";
import type { EntryFilter } from "../filter.ts";
import type { FileHasher } from "../hash.ts";
import type { TransferStats } from "../stats.ts";
import type { CompareMode, Entry } from "../types.ts";
import { type ManifestGroup, TEMP_PREFIX } from "../walk.ts";
import { type DirListing, LISTED_DIR, LISTED_FILE, LISTED_LINK } from "./dest_listing.ts";

/** What the destination reports as it works (for `--verbose`). */
export interface TransferEvent {
  /** What happened, or would happen in a dry run. */
  action: "send" | "link" | "mkdir" | "delete" | "remove-source";
  /** Relative path of the entry. */
  path: string;
  /** Bytes involved, for `send`. */
  size?: number;
}

/** Options for {@linkcode LocalDestination}. */
export interface DestinationOptions {
  /** Absolute path of the destination root (a directory, or the target file of a file copy). */
  root: string;
  /** How files present on both sides are compared. */
  compare: CompareMode;
  /** Never overwrite an existing destination entry. */
  ignoreExisting: boolean;
  /** Collect deletions of destination entries absent from the source. */
  mirror: boolean;
  /** Plan and report only. */
  dryRun: boolean;
  /** The same filter the source walked with: excluded destination entries are never deleted. */
  filter: EntryFilter;
  /** Counters of the run. */
  stats: TransferStats;
  /** Hashes a destination file (checksum compare and move verification). */
  hashDestination: FileHasher;
  /** Hashes the source's copy of an entry (checksum compare and move verification). */
  hashSource: (entry: Entry) => Promise<string>;
  /** Receives a report of each action. */
  onEvent?: (event: TransferEvent) => void;
  /**
   * Maps a relative path to the absolute path to use, checking it first (the daemon passes its
   * containment check, so no call can reach outside the module through a symlink). Defaults to
   * a lexical join onto `root`.
   */
  resolvePath?: (rel: string) => string;
  /**
   * Whether symlinks may be created. The sandboxed daemon cannot: Deno allows creating a link
   * only with unscoped read and write permissions, so links are reported and skipped there.
   * @default {true}
   */
  symlinks?: boolean;
}

/** What the destination decided for one file of a group. */
export interface FilePlan {
  /** The source entry. */
  entry: Entry;
  /** `send` = write it; `hash` = compare digests, then maybe write; `settled` = already equal. */
  decision: "send" | "hash" | "settled" | "kept";
}

/** Writes the payload of one file into a temporary path. */
export type PayloadWriter = (tmpPath: string) => Promise<void>;

interface DirState {
  entry: Entry;
}

interface DestFacts {
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
  /** A regular file's size and mtime when a listing read them already. */
  size?: number;
  mtimeMs?: number;
}

let tempCounter = 0;

function tempName(name: string): string {
  const base = name.length > 150 ? name.slice(0, 150) : name;
  tempCounter = (tempCounter + 1) % 1_000_000;
  return `${TEMP_PREFIX}${Deno.pid}-${tempCounter}-${base}`;
}

/** Splits a relative path into its parent directory and its name. */
function splitPath(path: string): [string, string] {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? ["", path] : [path.slice(0, slash), path.slice(slash + 1)];
}

/**
 * The destination side of a session on a local directory tree.
 *
 * Call {@linkcode LocalDestination.prepareRoot} once, {@linkcode LocalDestination.planGroup} for
 * each manifest group in order (parents before children), {@linkcode LocalDestination.settleFile}
 * for each planned file (concurrently), then {@linkcode LocalDestination.finish}.
 */
export class LocalDestination {
  readonly #o: DestinationOptions;
  readonly #dirs: DirState[] = [];
  readonly #deletions: { path: string; isDir: boolean }[] = [];
  /** Directories this run created or that do not exist (dry run): their listing is empty. */
  readonly #fresh = new Set<string>();

  /**
   * Creates the destination role.
   * @param options Root, compare rules and counters.
   */
  constructor(options: DestinationOptions) {
    this.#o = options;
  }

  /** Relative paths the mirror would delete, known after every group was planned. */
  get deletions(): readonly { path: string; isDir: boolean }[] {
    return this.#deletions;
  }

  /**
   * Maps a relative path to an absolute destination path.
   * @param rel Relative POSIX path (`""` is the root).
   * @returns The absolute path.
   */
  abs(rel: string): string {
    if (this.#o.resolvePath) return this.#o.resolvePath(rel);
    return rel === "" ? this.#o.root : `${this.#o.root}/${rel}`;
  }

  #emit(event: TransferEvent): void {
    this.#o.onEvent?.(event);
  }

  /**
   * Makes sure the root directory exists and remembers its metadata for the end of the run.
   * @param rootEntry The source root's entry (a directory, path `""`).
   * @throws {Error} When the root cannot be created.
   */
  prepareRoot(rootEntry: Entry): void {
    this.#dirs.push({ entry: rootEntry });
    const facts = this.#lstatFacts(this.abs(""));
    if (facts?.isDirectory) return;
    if (facts) this.#replace("", facts, true);
    this.#fresh.add("");
    this.#emit({ action: "mkdir", path: "" });
    if (!this.#o.dryRun) Deno.mkdirSync(this.abs(""), { recursive: true, mode: 0o700 });
  }

  /**
   * Plans a single-file transfer whose destination root is the target file itself.
   * @param entry The source file's entry (path `""`).
   * @returns The plan for that file, or `null` when it cannot be written.
   */
  planRootFile(entry: Entry): FilePlan | null {
    const { stats, ignoreExisting, compare } = this.#o;
    stats.examined++;
    const facts = this.#lstatFacts(this.abs(""));
    if (!facts) return { entry, decision: "send" };
    if (ignoreExisting) return { entry, decision: "kept" };
    if (!facts.isFile) {
      return this.#replace("", facts, false) ? { entry, decision: "send" } : null;
    }
    const info = Deno.lstatSync(this.abs(""));
    const verdict = needsTransfer(entry, { size: info.size, mtimeMs: mtimeOf(info) }, compare);
    return { entry, decision: verdict === "hash" ? "hash" : verdict ? "send" : "settled" };
  }

  #lstatFacts(abs: string): DestFacts | null {
    try {
      return Deno.lstatSync(abs);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }

  #mkdir(rel: string): void {
    this.#fresh.add(rel);
    this.#emit({ action: "mkdir", path: rel });
    if (this.#o.dryRun) return;
    Deno.mkdirSync(this.abs(rel), { mode: 0o700 });
  }

  /**
   * Removes a destination entry of the wrong kind so the source's entry can take its place.
   * A non-empty directory is removed only by mirror; copy reports a failure instead.
   */
  #replace(rel: string, facts: DestFacts, forDirectory: boolean): boolean {
    if (facts.isDirectory && !forDirectory) {
      if (!this.#o.mirror) {
        try {
          if (!this.#o.dryRun) Deno.removeSync(this.abs(rel));
        } catch {
          this.#o.stats.fail(
            rel,
            "Cannot replace a non-empty directory with a file: use mirror to replace it",
          );
          return false;
        }
      } else if (!this.#o.dryRun) {
        Deno.removeSync(this.abs(rel), { recursive: true });
      }
      this.#emit({ action: "delete", path: rel });
      return true;
    }
    if (!facts.isDirectory && forDirectory) {
      if (!this.#o.dryRun) Deno.removeSync(this.abs(rel));
      this.#emit({ action: "delete", path: rel });
      return true;
    }
    return true;
  }

  /**
   * Whether a directory was created by this run (or does not exist in a dry run): its listing is
   * known to be empty.
   * @param dir Relative path.
   * @returns `true` for such a directory.
   */
  isFresh(dir: string): boolean {
    return this.#fresh.has(dir);
  }

  /** Removes a stale temporary of an earlier run. */
  #removeStale(abs: string): void {
    if (this.#o.dryRun) return;
    try {
      Deno.removeSync(abs, { recursive: true });
    } catch { /* another run may own it; leave it */ }
  }

  /**
   * Lists a destination directory: name → kind (and file facts when `listing`, made ahead by
   * another thread, has them). Removes stale temporaries of earlier runs.
   */
  #list(dir: string, listing: DirListing | null): Map<string, DestFacts> {
    const found = new Map<string, DestFacts>();
    if (this.#fresh.has(dir)) return found;
    const abs = this.abs(dir);
    if (listing) {
      const { names, kinds, sizes, mtimes } = listing;
      for (let i = 0; i < names.length; i++) {
        const name = names[i] as string;
        if (name.startsWith(TEMP_PREFIX)) {
          this.#removeStale(`${abs}/${name}`);
          continue;
        }
        const kind = kinds[i];
        const size = sizes[i] ?? -1;
        const facts: DestFacts = {
          isFile: kind === LISTED_FILE,
          isDirectory: kind === LISTED_DIR,
          isSymlink: kind === LISTED_LINK,
        };
        if (size >= 0) {
          facts.size = size;
          facts.mtimeMs = mtimes[i] ?? 0;
        }
        found.set(name, facts);
      }
      return found;
    }
    for (const item of Deno.readDirSync(abs)) {
      if (item.name.startsWith(TEMP_PREFIX)) {
        this.#removeStale(`${abs}/${item.name}`);
        continue;
      }
      found.set(item.name, item);
    }
    return found;
  }

  /**
   * Compares one manifest group against the destination directory: creates missing
   * subdirectories, writes symlinks, records deletions (mirror), and returns the files that need
   * payload or a digest comparison.
   *
   * @param group A group from the source, its directory already planned as an entry of its parent.
   * @param listing The destination directory's listing when made ahead (see
   *   `DestinationScanner`); without it, the directory is listed here.
   * @returns The plan for each file of the group.
   */
  planGroup(group: ManifestGroup, listing: DirListing | null = null): FilePlan[] {
    const { stats, mirror, filter, ignoreExisting, compare } = this.#o;
    let existing: Map<string, DestFacts>;
    try {
      existing = this.#list(group.dir, listing);
    } catch (error) {
      stats.fail(group.dir || ".", `Cannot list destination directory: ${describeError(error)}`);
      return [];
    }
    const plans: FilePlan[] = [];
    const seen = mirror ? new Set<string>() : null;
    for (const entry of group.entries) {
      stats.examined++;
      const name = entry.path.slice(entry.path.lastIndexOf("/") + 1);
      seen?.add(name);
      const facts = existing.get(name);
      try {
        if (entry.kind === "dir") {
          this.#dirs.push({ entry });
          if (facts?.isDirectory) continue;
          if (facts && !this.#replace(entry.path, facts, true)) continue;
          this.#mkdir(entry.path);
          continue;
        }
        if (facts && ignoreExisting) {
          plans.push({ entry, decision: "kept" });
          continue;
        }
        if (entry.kind === "symlink") {
          if (this.#planLink(entry, facts)) plans.push({ entry, decision: "settled" });
          continue;
        }
        if (!facts) {
          plans.push({ entry, decision: "send" });
          continue;
        }
        if (!facts.isFile) {
          if (this.#replace(entry.path, facts, false)) plans.push({ entry, decision: "send" });
          continue;
        }
        let dst: { size: number; mtimeMs: number };
        if (facts.size !== undefined && facts.mtimeMs !== undefined) {
          dst = { size: facts.size, mtimeMs: facts.mtimeMs };
        } else {
          const info = Deno.lstatSync(this.abs(entry.path));
          dst = { size: info.size, mtimeMs: mtimeOf(info) };
        }
        const verdict = needsTransfer(entry, dst, compare);
        plans.push({ entry, decision: verdict === "hash" ? "hash" : verdict ? "send" : "settled" });
      } catch (error) {
        stats.fail(entry.path, describeError(error));
      }
    }
    if (seen && group.complete) {
      for (const [name, facts] of existing) {
        if (seen.has(name)) continue;
        const rel = group.dir === "" ? name : `${group.dir}/${name}`;
        if (!filter(rel, facts.isDirectory)) continue;
        this.#deletions.push({ path: rel, isDir: facts.isDirectory });
      }
    }
    return plans;
  }

  /** Creates or replaces a symlink; returns whether the destination now holds it. */
  #planLink(entry: Entry, facts: DestFacts | undefined): boolean {
    const abs = this.abs(entry.path);
    const target = entry.linkTarget ?? "";
    if (facts?.isSymlink && Deno.readLinkSync(abs) === target) return true;
    if (facts?.isDirectory && !this.#replace(entry.path, facts, false)) return false;
    if (this.#o.symlinks === false) {
      this.#o.stats.fail(
        entry.path,
        "Cannot create a symlink on this daemon: its sandbox has no unscoped write permission, which Deno requires for links; skipped",
      );
      return false;
    }
    this.#emit({ action: "link", path: entry.path });
    this.#o.stats.transferred++;
    if (this.#o.dryRun) return true;
    const [dir, name] = splitPath(entry.path);
    const tmp = `${this.abs(dir)}/${tempName(name)}`;
    Deno.symlinkSync(target, tmp);
    try {
      Deno.renameSync(tmp, abs);
    } catch (error) {
      try {
        Deno.removeSync(tmp);
      } catch { /* already gone */ }
      throw error;
    }
    return true;
  }

  /**
   * Carries out the plan for one file: compares digests when asked, writes the payload through a
   * temporary sibling and renames it into place, and stamps mode and mtime. Failures are counted
   * and the partial file removed.
   *
   * @param plan The plan from {@linkcode LocalDestination.planGroup}.
   * @param write Fills the temporary path with the payload.
   * @param options `modeSet`: the writer already applied the permission bits.
   * @returns `true` when the destination now holds the file (written or already equal).
   */
  async settleFile(
    plan: FilePlan,
    write: PayloadWriter,
    options: { modeSet: boolean },
  ): Promise<boolean> {
    const { entry } = plan;
    const { stats, dryRun } = this.#o;
    try {
      if (plan.decision === "kept") return false;
      if (plan.decision === "settled") return true;
      if (plan.decision === "hash") {
        const [a, b] = await Promise.all([
          this.#o.hashSource(entry),
          this.#o.hashDestination(this.abs(entry.path)),
        ]);
        if (a === b) return true;
      }
      this.announceSend(entry);
      if (dryRun) {
        stats.transferred++;
        stats.bytes += entry.size;
        return true;
      }
      await this.#writeThroughTemp(entry, write, options.modeSet);
      stats.transferred++;
      stats.bytes += entry.size;
      return true;
    } catch (error) {
      stats.fail(entry.path, describeError(error));
      return false;
    }
  }

  /**
   * Returns a fresh temporary sibling path for an entry's final path.
   * @param entry The entry to be written.
   * @returns An absolute path in the same directory as the final path.
   */
  tempPath(entry: Entry): string {
    if (entry.path === "") return siblingTemp(this.abs(""));
    const [dir, name] = splitPath(entry.path);
    return `${this.abs(dir)}/${tempName(name)}`;
  }

  /**
   * Reports that a file is about to be written (for `--verbose`).
   * @param entry The file.
   */
  announceSend(entry: Entry): void {
    this.#emit({ action: "send", path: entry.path, size: entry.size });
  }

  async #writeThroughTemp(entry: Entry, write: PayloadWriter, modeSet: boolean): Promise<void> {
    const tmp = this.tempPath(entry);
    try {
      await write(tmp);
      const info = Deno.lstatSync(tmp);
      if (info.size !== entry.size) {
        throw new Error(
          `Cannot verify copy: source changed during transfer (${info.size} bytes, expected ${entry.size})`,
        );
      }
      if (!modeSet) Deno.chmodSync(tmp, entry.mode);
      const mtime = new Date(entry.mtimeMs);
      Deno.utimeSync(tmp, mtime, mtime);
      Deno.renameSync(tmp, this.abs(entry.path));
    } catch (error) {
      try {
        Deno.removeSync(tmp);
      } catch { /* never created */ }
      throw error;
    }
  }

  /**
   * Checks that the destination holds an equal copy of `entry` (size and mtime, or digests in
   * checksum mode). Used by move before it removes a source.
   *
   * @param entry The source entry.
   * @returns `true` when the copy is verified.
   */
  async verify(entry: Entry): Promise<boolean> {
    const abs = this.abs(entry.path);
    if (this.#o.dryRun) return true;
    const info = Deno.lstatSync(abs);
    if (entry.kind === "symlink") {
      return info.isSymlink && Deno.readLinkSync(abs) === entry.linkTarget;
    }
    if (!info.isFile || info.size !== entry.size) return false;
    if (this.#o.compare === "checksum") {
      const [a, b] = await Promise.all([this.#o.hashSource(entry), this.#o.hashDestination(abs)]);
      return a === b;
    }
    return sameMtime(mtimeOf(info), entry.mtimeMs);
  }

  /**
   * Hashes the destination's copy of an entry.
   * @param entry The entry.
   * @returns Its digest.
   */
  hashLocal(entry: Entry): Promise<string> {
    return this.#o.hashDestination(this.abs(entry.path));
  }

  /**
   * Deletes what the mirror collected (files first, then directories, deepest first).
   * @returns The number of entries deleted.
   */
  applyDeletions(): number {
    const ordered = [...this.#deletions].sort((a, b) =>
      a.isDir === b.isDir ? b.path.length - a.path.length : a.isDir ? 1 : -1
    );
    let deleted = 0;
    for (const item of ordered) {
      this.#emit({ action: "delete", path: item.path });
      if (!this.#o.dryRun) {
        try {
          Deno.removeSync(this.abs(item.path), { recursive: item.isDir });
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) {
            this.#o.stats.fail(item.path, `Cannot delete: ${describeError(error)}`);
            continue;
          }
        }
      }
      deleted++;
    }
    this.#o.stats.deleted += deleted;
    return deleted;
  }

  /**
   * Restores directory modes and mtimes, deepest first, after their contents are written.
   */
  finishDirectories(): void {
    if (this.#o.dryRun) return;
    const dirs = this.#dirs.sort((a, b) => b.entry.path.length - a.entry.path.length);
    for (const { entry } of dirs) {
      const abs = this.abs(entry.path);
      try {
        Deno.chmodSync(abs, entry.mode);
        const mtime = new Date(entry.mtimeMs);
        Deno.utimeSync(abs, mtime, mtime);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          this.#o.stats.fail(
            entry.path || ".",
            `Cannot set directory attributes: ${describeError(error)}`,
          );
        }
      }
    }
  }
}

function siblingTemp(path: string): string {
  const slash = path.lastIndexOf("/");
  return `${path.slice(0, slash)}/${tempName(path.slice(slash + 1))}`;
}

/**
 * Reads a file's mtime in milliseconds from Deno's file information.
 * @param info The information.
 * @returns Milliseconds since the epoch (0 when unknown).
 */
export function mtimeOf(info: Deno.FileInfo): number {
  return info.mtime?.getTime() ?? 0;
}
