/**
 * The DESTINATION's planner and writer over a {@linkcode Tree}: it compares each manifest group
 * with what the destination holds, creates directories and links, decides which files it needs,
 * writes them through temporary siblings, collects mirror deletions, verifies copies for move and
 * restores directory attributes at the end. Every route's destination is one of these; it knows
 * nothing of frames or transports.
 *
 * Paths: the manifest names entries relative to the source root (`""` is the root); the planner
 * maps them under `rootName` in its tree (`""` when the tree's root is the target itself).
 *
 * @module
 */

import { isNewer, needsTransfer, sameMtime } from "../compare.ts";
import {
  ITEMIZE_DELETING,
  ITEMIZE_NEW_DIR,
  itemizeFile,
  itemizeHardLink,
  itemizeLink,
} from "./itemize.ts";
import type { CopyJob } from "../copy_job.ts";
import {
  describeError,
  PathEscapeError,
  PathInvalidError,
  ProtocolError,
  quotePath,
  TransferInterruptedError,
} from "../errors.ts";
import type { EntryFilter } from "../filter.ts";
import type { FileHasher } from "../hash.ts";
import type { TransferStats } from "../stats.ts";
import { trackTemporary } from "../temporaries_in_flight.ts";
import {
  type EntryOwner,
  isTemporaryName,
  joinPath,
  kindOfItem,
  parsePartialName,
  PARTIAL_PREFIX,
  renameSettingAside,
  type SetAside,
  splitPath,
  TEMP_PREFIX,
  type Tree,
  type TreeDir,
} from "../tree.ts";
import type { CompareMode, Entry, EntryInfo, StatKind } from "../types.ts";
import { type DirListing, LISTED_DIR, LISTED_FILE, LISTED_LINK } from "./dest_listing.ts";
import type { BackupTerms, FileDone, ManifestGroup } from "./frames.ts";
import {
  backupPath,
  type ChangeGate,
  copyVerified,
  keptForBackups,
  receivedMode,
  RESUME_MIN_BYTES,
  temporaryVerdict,
} from "./plan.ts";

/**
 * What the destination reports as it works (for `--verbose` and `--itemize-changes`): each
 * action once it is done, or, in a dry run, once it is planned.
 */
export interface TransferEvent {
  /** What happened, or would happen in a dry run. */
  action: "send" | "link" | "mkdir" | "delete" | "remove-source";
  /** Relative path of the entry. */
  path: string;
  /** Bytes involved, for `send`. */
  size?: number;
  /** rsync's itemize string (`>f.st......`, `cd+++++++++`, `*deleting  `; see `itemize.ts`). */
  itemize?: string;
  /** For a hard link made (`-H`, itemize `hf…`): the path it is a second name of. */
  linkTo?: string;
  /** For `delete`: the entry was a directory (rsync prints its path with a trailing `/`). */
  dir?: boolean;
}

/** What the planner decided for one file or link. */
export interface FilePlan {
  /** The entry's manifest id (the root's is 0). */
  id: number;
  /** The source entry. */
  entry: Entry;
  /**
   * `send` = write it; `hash` = compare digests, then maybe write; `settled` = the destination
   * already holds it (equal, or a link just written); `kept` = left alone (`--ignore-existing`).
   */
  decision: "send" | "hash" | "settled" | "kept";
  /**
   * Why a `kept` entry is left alone: the destination has it (`--ignore-existing`), has a newer
   * copy (`--update`), or its size is outside `--min-size`/`--max-size`.
   */
  keptBecause?: "existing" | "newer" | "size";
  /** rsync's itemize string of a file to send or hash (see `itemize.ts`). */
  itemize?: string;
  /** Size of the destination's old copy of a file to send or hash (a delta's basis), if any. */
  basisSize?: number;
  /**
   * A partial file of this very source version, left by an interrupted run: the file continues
   * from it (its name in the file's directory, and its size).
   */
  resumeFrom?: { name: string; size: number };
}

/** Options of {@linkcode DestinationPlanner}. */
export interface PlannerOptions {
  /** The tree that holds the target. */
  tree: Tree;
  /** Name of the target in the tree (`""`: the tree's root is the target). */
  rootName: string;
  /** How files present on both sides are compared. */
  compare: CompareMode;
  /** Never overwrite an existing destination entry. */
  ignoreExisting: boolean;
  /**
   * Leave a destination file alone when it is newer than the source's (`--update`).
   * @default {false}
   */
  update?: boolean;
  /**
   * Source files whose size is outside this range are left alone (`--min-size`, `--max-size`;
   * `null`: no limit on that side).
   * @default {{ min: null, max: null }}
   */
  sizeRange?: { min: number | null; max: number | null };
  /** Collect deletions of destination entries absent from the source. */
  mirror: boolean;
  /**
   * Mirror: delete destination entries the filter excludes too (`--delete-excluded`).
   * @default {false}
   */
  deleteExcluded?: boolean;
  /**
   * Give files and directories the numeric owners the source sent (`SessionTerms.keepOwner`;
   * needs root). Links keep the writer's.
   * @default {false}
   */
  keepOwner?: boolean;
  /**
   * Accept hard links (`-H`, `Entry.hardLink`): each is made, once every file is in place, by
   * {@linkcode DestinationPlanner.linkHardLinks}. Without it an entry naming one fails.
   * @default {false}
   */
  hardLinks?: boolean;
  /**
   * Return plans for entries that are already in place too (move reports them); without it
   * `planGroup` returns only what needs work.
   */
  reportSettled: boolean;
  /** The one dry-run gate of the session. */
  gate: ChangeGate;
  /**
   * The filter the source walked with: excluded destination entries are never deleted (unless
   * `deleteExcluded`).
   */
  filter: EntryFilter;
  /** Counters of this side. */
  stats: TransferStats;
  /** Hashes destination files (checksum compare, move verification). */
  hasher: FileHasher;
  /**
   * Keep setuid, setgid and sticky bits of what is written (see `receivedMode` in `plan.ts`).
   * @default {false}
   */
  keepSpecialBits?: boolean;
  /**
   * Write large files under partial names and continue from the partial file an interrupted run
   * left (off: `--no-resume`).
   * @default {true}
   */
  resume?: boolean;
  /** Receives each action. */
  onEvent?: (event: TransferEvent) => void;
  /**
   * Keep replaced and deleted entries as backups (`-b`, `--backup-dir`, `--suffix`; see
   * `backupPath` in plan.ts), `null` or absent: replace and delete them.
   * @default {null}
   */
  backup?: BackupTerms | null;
}

/**
 * What a listing says of one destination entry: its kind, and a file's size and mtime when the
 * listing read them (`size` -1 when not). One shape for every entry: this is made per entry.
 */
interface ListedFacts {
  kind: StatKind;
  size: number;
  mtimeMs: number;
}

const LISTED_KINDS: Record<number, StatKind> = {
  [LISTED_FILE]: "file",
  [LISTED_DIR]: "dir",
  [LISTED_LINK]: "symlink",
};

/** A deletion the mirror would make. */
export interface PendingDeletion {
  /** Relative path (manifest space). */
  path: string;
  /** Whether it is a directory (removed with its contents). */
  isDir: boolean;
}

/** How {@linkcode DestinationPlanner.writeFile} writes a file. */
export interface WriteFileOptions {
  /** The partial file this write continues (removed once the file is in place). */
  resumeFrom?: string;
  /** The file replaces an old version of `RELEASE_ASIDE_MIN_BYTES` (plan.ts) or more. */
  releaseOld?: boolean;
}

/**
 * Renames `name` aside before the rename that replaces it (see {@linkcode TreeDir.setAside}), or
 * `null` when the tree cannot or the rename fails: the rename over it then frees it, as it would
 * anyway.
 */
function setAside(dir: TreeDir, name: string): SetAside | null {
  if (dir.setAside === undefined) return null;
  try {
    return dir.setAside(name);
  } catch {
    return null;
  }
}

/** Puts a renamed old version back (see `#backUpReplaced`); a failure leaves it as its backup. */
function putBack(restore: (() => void) | null): void {
  try {
    restore?.();
  } catch { /* it stays under its backup name: kept, not lost */ }
}

/**
 * The destination side of a session over a tree. Call {@linkcode DestinationPlanner.planRoot}
 * once, {@linkcode DestinationPlanner.planGroup} for each manifest group in order (parents
 * before children), {@linkcode DestinationPlanner.writeFile} for each file it needs, then
 * {@linkcode DestinationPlanner.applyDeletions} (mirror, when the gate and consent allow) and
 * {@linkcode DestinationPlanner.finishDirectories}.
 */
export class DestinationPlanner {
  readonly #o: PlannerOptions;
  /** Directory entries, for their attributes at the end. */
  readonly #dirs: Entry[] = [];
  /** Directories announced by the source and not planned yet: only these may come as groups. */
  readonly #announced = new Set<string>();
  readonly #deletions: PendingDeletion[] = [];
  /** Directories this run created (or that do not exist, in a dry run): listed as empty. */
  readonly #fresh = new Set<string>();
  /**
   * Directories that could not be created (each one failure), with the entries under them that
   * were skipped rather than failed one by one.
   */
  readonly #failedDirs = new Map<string, number>();
  /** Where the files handed to writer threads go (see `writeJob`), until they are done. */
  readonly #landing = new Map<Entry, { dir: TreeDir; name: string }>();
  /** The directory handle of the last `writeJob`, for the next file in the same directory. */
  #writeDir: { parent: string; dir: TreeDir } | null = null;
  /** Where replaced and deleted entries are kept (`null`: nowhere, they go). */
  readonly #backup: BackupTerms | null;
  /** Directories of the backup directory known to exist (tree paths). */
  readonly #backupDirs = new Set<string>();
  /** With hard links: the files planned so far, which a later entry may be a hard link to. */
  readonly #files: Set<string> | null;
  /** Hard links to make once every file is in place (`-H`). */
  #hardLinks: { id: number; entry: Entry }[] = [];
  /** Removals of old versions set aside (see `writeFile`), still running on I/O threads. */
  readonly #releasing = new Set<Promise<void>>();

  /**
   * Creates the planner.
   * @param options Tree, rules and counters.
   */
  constructor(options: PlannerOptions) {
    this.#o = options;
    this.#backup = options.backup ?? null;
    this.#files = options.hardLinks ? new Set() : null;
  }

  /** Whether replaced and deleted entries are kept as backups (`-b`). */
  get keepsBackups(): boolean {
    return this.#backup !== null;
  }

  /** Deletions collected so far (complete once every group was planned). */
  get deletions(): readonly PendingDeletion[] {
    return this.#deletions;
  }

  /**
   * The path of a manifest entry in the tree.
   * @param rel Manifest path (`""` for the root).
   * @returns The tree path.
   */
  at(rel: string): string {
    return joinPath(this.#o.rootName, rel);
  }

  /**
   * The permission bits this destination gives an entry it writes (the mode rule of `plan.ts`).
   * @param entry The entry as the source announced it.
   * @returns The bits to apply.
   */
  modeOf(entry: Entry): number {
    return receivedMode(entry.mode, this.#o.keepSpecialBits ?? false);
  }

  /**
   * Opens the tree directory that holds a manifest entry.
   * @param rel Manifest path of the entry.
   * @returns The directory handle and the entry's name in it (`""`: the tree root itself).
   */
  holder(rel: string): { dir: TreeDir; name: string } {
    const path = this.at(rel);
    if (path === "") return { dir: this.#o.tree.dir(""), name: "" };
    const [parent, name] = splitPath(path);
    return { dir: this.#o.tree.dir(parent), name };
  }

  /**
   * Whether a directory was created by this run (or is missing, in a dry run).
   * @param dir Manifest path.
   * @returns `true` when its listing is known to be empty.
   */
  isFresh(dir: string): boolean {
    return this.#fresh.has(dir);
  }

  #emit(event: TransferEvent): void {
    this.#o.onEvent?.(event);
  }

  /**
   * Plans the root entry: makes sure a directory root exists (replacing a file or link in its
   * place), or plans a file or link root like any entry.
   * @param root The root entry (path `""`).
   * @param merged Several sources merged into it (`SourceRoot.merged`): the root stands for no
   * directory of the source, so an existing one keeps its attributes and a new one gets the
   * default mode (the umask's).
   * @returns The plan of a file or link root, `null` for a directory.
   */
  planRoot(root: Entry, merged = false): FilePlan | null {
    let holder;
    let facts: EntryInfo | null;
    try {
      holder = this.holder("");
      facts = holder.dir.stat(holder.name);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound && this.#o.gate.dryRun)) throw error;
      facts = null; // a dry run into a directory that does not exist yet
    }
    if (root.kind === "dir") {
      if (!merged) this.#dirs.push(root);
      this.#announced.add("");
      if (facts?.kind === "dir") return null;
      if (facts && holder) this.#replace(holder.dir, holder.name, "", facts.kind, true);
      this.#mkdir(holder, "", merged ? 0o777 : 0o700);
      return null;
    }
    if (!holder) {
      return { id: 0, entry: root, decision: "send", itemize: itemizeFile(root, null, false) };
    }
    const plan = this.#planEntry(holder.dir, holder.name, root, facts, 0);
    // A file root that may have a partial file beside it: its directory is listed for it (only
    // then: a one-file copy into a large directory would otherwise list all of it).
    const wanted = plan?.decision === "send" || plan?.decision === "hash";
    if (root.kind === "file" && wanted && this.resumable(root)) {
      const temps = holder.dir.list().map((item) => item.name).filter(isTemporaryName);
      this.#settleTemporaries(holder.dir, temps, plan ? [plan] : [], () => holder.name);
    }
    return plan;
  }

  /**
   * Compares one manifest group with the destination directory: creates missing subdirectories,
   * writes links, records deletions (mirror), and returns what to do with each file and link.
   *
   * @param group A group whose directory was announced as a directory earlier in the session.
   * @param listing The directory's listing when a look-ahead made it.
   * @throws {ProtocolError} When the group's directory was not announced as a directory (or came
   * twice), or an entry is not a child of it.
   * @returns The plans of the group's files and links that need work (all of them with `reportSettled`).
   */
  planGroup(group: ManifestGroup, listing: DirListing | null = null): FilePlan[] {
    const { stats, mirror, filter } = this.#o;
    if (!this.#announced.delete(group.dir)) {
      throw new ProtocolError(
        `Cannot accept the group "${group.dir}": it was not announced as a directory`,
      );
    }
    if (this.#skipUnderFailedDir(group)) return [];
    let dir: TreeDir | null = null;
    let existing: Map<string, ListedFacts>;
    const temps: string[] = [];
    try {
      if (this.#fresh.has(group.dir)) existing = new Map();
      else {
        dir = this.#o.tree.dir(this.at(group.dir));
        existing = this.#list(dir, listing, temps);
        this.#statFiles(dir, group, existing);
      }
    } catch (error) {
      stats.fail(group.dir || ".", `Cannot list destination directory: ${describeError(error)}`);
      return [];
    }
    const plans: FilePlan[] = [];
    const seen = mirror ? new Set<string>() : null;
    const prefix = group.dir === "" ? "" : `${group.dir}/`;
    for (const entry of group.entries) {
      const name = entry.path.slice(prefix.length);
      if (!entry.path.startsWith(prefix) || name === "" || name.includes("/")) {
        throw new ProtocolError(`Cannot accept entry "${entry.path}": not a child of the group`);
      }
      // The source walks with this filter: an entry it excludes is one it must not send.
      if (!filter(entry.path, entry.kind === "dir")) {
        throw new ProtocolError(`Cannot accept entry ${quotePath(entry.path)}: it is excluded`);
      }
      seen?.add(name);
      try {
        const plan = this.#planEntry(dir, name, entry, existing.get(name) ?? null, entry.id);
        if (plan && (plan.decision !== "settled" || this.#o.reportSettled)) plans.push(plan);
      } catch (error) {
        stats.fail(entry.path, describeError(error));
        if (entry.kind === "dir") this.#failedDirs.set(entry.path, 0);
      }
    }
    if (dir !== null && temps.length > 0) {
      const prefix = group.dir === "" ? "" : `${group.dir}/`;
      this.#settleTemporaries(dir, temps, plans, (entry) => entry.path.slice(prefix.length));
    }
    if (seen && group.complete) {
      for (const [name, facts] of existing) {
        if (seen.has(name)) continue;
        const rel = prefix + name;
        const isDir = facts.kind === "dir";
        if (!this.#o.deleteExcluded && !filter(rel, isDir)) continue;
        if (this.#backup !== null && keptForBackups(this.#backup, this.at(rel))) continue;
        this.#deletions.push({ path: rel, isDir });
      }
    }
    return plans;
  }

  /**
   * Reads the size and mtime of the files both sides have, all at once when the tree can (a
   * contained tree then checks the directory once for the group, not once per file). A file
   * that could not be read is left for the entry's own `stat`, which reports it.
   */
  #statFiles(dir: TreeDir, group: ManifestGroup, existing: Map<string, ListedFacts>): void {
    if (dir.statMany === undefined) return;
    const prefix = group.dir === "" ? "" : `${group.dir}/`;
    const names: string[] = [];
    for (const entry of group.entries) {
      if (entry.kind !== "file") continue;
      const name = entry.path.slice(prefix.length);
      const facts = existing.get(name);
      if (facts?.kind === "file" && facts.size < 0) names.push(name);
    }
    if (names.length < 2) return;
    const found = dir.statMany(names);
    for (const [i, name] of names.entries()) {
      const info = found[i];
      if (info === null) existing.delete(name);
      else if (info !== undefined && !(info instanceof Error)) {
        existing.set(name, { kind: info.kind, size: info.size, mtimeMs: info.mtimeMs });
      }
    }
  }

  /**
   * Lists a destination directory (from the look-ahead when it made one), minus temporaries
   * (their names go to `temps`).
   */
  #list(dir: TreeDir, listing: DirListing | null, temps: string[]): Map<string, ListedFacts> {
    const found = new Map<string, ListedFacts>();
    if (listing) {
      const { names, kinds, sizes, mtimes } = listing;
      for (let i = 0; i < names.length; i++) {
        const name = names[i] as string;
        if (isTemporaryName(name)) {
          temps.push(name);
          continue;
        }
        found.set(name, {
          kind: LISTED_KINDS[kinds[i] ?? -1] ?? "other",
          size: sizes[i] ?? -1,
          mtimeMs: mtimes[i] ?? 0,
        });
      }
      return found;
    }
    for (const item of dir.list()) {
      if (isTemporaryName(item.name)) {
        temps.push(item.name);
        continue;
      }
      found.set(item.name, { kind: kindOfItem(item), size: -1, mtimeMs: 0 });
    }
    return found;
  }

  /**
   * Applies the temporaries rule (`temporaryVerdict` in `plan.ts`) to the temporaries of one
   * directory: stale ones go, and a file to send continues from the largest partial file of its
   * very source version (attached to its plan as `resumeFrom`).
   * @param nameOf The name of a plan's entry in `dir`.
   */
  #settleTemporaries(
    dir: TreeDir,
    temps: readonly string[],
    plans: readonly FilePlan[],
    nameOf: (entry: Entry) => string,
  ): void {
    const byName = new Map<string, FilePlan>();
    for (const plan of plans) if (plan.entry.kind === "file") byName.set(nameOf(plan.entry), plan);
    const now = Date.now();
    for (const temp of temps) {
      try {
        const facts = dir.inspectTemporary(temp);
        if (facts === null) continue;
        const partial = temp.startsWith(PARTIAL_PREFIX) ? parsePartialName(temp) : null;
        const plan = partial ? byName.get(partial.name) : undefined;
        const entry = plan === undefined ? null : {
          size: plan.entry.size,
          mtimeMs: plan.entry.mtimeMs,
          wanted: plan.decision === "send" || plan.decision === "hash",
        };
        const verdict = temporaryVerdict({
          partial,
          facts,
          now,
          entry,
          resume: this.#o.resume ?? true,
        });
        if (verdict === "resume" && plan !== undefined) {
          const best = plan.resumeFrom;
          if (best === undefined || best.size < facts.size) {
            if (best !== undefined) this.#removeTemporary(dir, best.name);
            plan.resumeFrom = { name: temp, size: facts.size };
            continue;
          }
        }
        if (verdict !== "keep") this.#removeTemporary(dir, temp);
      } catch { /* gone meanwhile, or not ours to judge: leave it */ }
    }
  }

  /** Removes a temporary left by an interrupted run (never in a dry run). */
  #removeTemporary(dir: TreeDir, name: string): void {
    this.#o.gate.apply(() => {
      try {
        dir.remove(name, { recursive: true });
      } catch { /* another run may own it; leave it */ }
    });
  }

  /**
   * Plans one entry against what its directory holds. `dir` is `null` when the directory is
   * fresh (created by this run, or missing in a dry run).
   */
  #planEntry(
    dir: TreeDir | null,
    name: string,
    entry: Entry,
    facts: ListedFacts | null,
    id: number,
  ): FilePlan | null {
    const { ignoreExisting, compare } = this.#o;
    if (entry.kind === "dir") {
      this.#dirs.push(entry);
      this.#announced.add(entry.path);
      if (facts?.kind === "dir") return null;
      if (facts && dir && !this.#replace(dir, name, entry.path, facts.kind, true)) return null;
      this.#mkdir(dir ? { dir, name } : null, entry.path);
      return null;
    }
    // A first name may be left as it is below; its links then fail on their own terms.
    if (entry.kind === "file" && entry.hardLink === undefined) this.#files?.add(entry.path);
    if (facts && ignoreExisting) return { id, entry, decision: "kept", keptBecause: "existing" };
    if (entry.kind === "symlink") return this.#planLink(dir, name, entry, facts, id);
    if (!this.#inSizeRange(entry.size)) return { id, entry, decision: "kept", keptBecause: "size" };
    if (entry.hardLink !== undefined) return this.#deferHardLink(entry, id);
    const fresh = itemizeFile(entry, null, false);
    if (!facts || !dir) return { id, entry, decision: "send", itemize: fresh };
    if (facts.kind !== "file") {
      return this.#replace(dir, name, entry.path, facts.kind, false)
        ? { id, entry, decision: "send", itemize: fresh }
        : null;
    }
    let size = facts.size;
    let mtimeMs = facts.mtimeMs;
    if (size < 0) {
      const info = dir.stat(name);
      if (!info || info.kind !== "file") return { id, entry, decision: "send", itemize: fresh };
      size = info.size;
      mtimeMs = info.mtimeMs;
    }
    if (this.#o.update && isNewer(mtimeMs, entry.mtimeMs)) {
      return { id, entry, decision: "kept", keptBecause: "newer" };
    }
    const verdict = needsTransfer(entry, { size, mtimeMs }, compare);
    if (verdict === false) return { id, entry, decision: "settled" };
    return {
      id,
      entry,
      decision: verdict === "hash" ? "hash" : "send",
      basisSize: size,
      itemize: itemizeFile(entry, { kind: "file", size, mtimeMs }, false),
    };
  }

  /** Keeps a hard link for {@linkcode linkHardLinks}, once its first name is known. */
  #deferHardLink(entry: Entry, id: number): null {
    const first = entry.hardLink as string;
    if (this.#files === null || !this.#files.has(first)) {
      throw new ProtocolError(
        `Cannot accept ${quotePath(entry.path)} as a hard link to ${quotePath(first)}: ` +
          (this.#files === null ? "hard links were not asked for" : "no such file came before it"),
      );
    }
    this.#hardLinks.push({ id, entry });
    return null;
  }

  /**
   * Makes the hard links of the run (`-H`), once every file is in place: each further name of a
   * file becomes a hard link to the destination's copy of its first name, unless it is one
   * already. The links of a first name that does not hold the source's version (it failed, or
   * was left as it was) fail. In a dry run they are only reported.
   * @returns Each link with whether it is in place (made or already there), for move's
   * verification.
   */
  linkHardLinks(): { id: number; entry: Entry; ok: boolean }[] {
    const done: { id: number; entry: Entry; ok: boolean }[] = [];
    // Directory handles by manifest path, opened once for all the links of the run.
    const dirs = new Map<string, TreeDir>();
    const place = (rel: string): { dir: TreeDir; name: string } => {
      const [parent, name] = splitPath(rel);
      let dir = dirs.get(parent);
      if (dir === undefined) {
        dir = this.holder(rel).dir;
        dirs.set(parent, dir);
      }
      return { dir, name };
    };
    for (const { id, entry } of this.#hardLinks) {
      let ok = false;
      try {
        ok = this.#hardLink(entry, place);
      } catch (error) {
        this.#o.stats.fail(entry.path, describeError(error));
      }
      done.push({ id, entry, ok });
    }
    this.#hardLinks = [];
    return done;
  }

  /** Makes one hard link (see `linkHardLinks`); `false` when it was not made. */
  #hardLink(entry: Entry, place: (rel: string) => { dir: TreeDir; name: string }): boolean {
    const first = entry.hardLink as string;
    if (this.#o.gate.dryRun) return this.#linked(entry, false);
    const from = place(first);
    const to = place(entry.path);
    const origin = identify(from.dir, from.name);
    const timed = this.#o.compare === "size-mtime" || this.#o.compare === "ignore-times";
    if (
      origin.facts?.kind !== "file" || origin.facts.size !== entry.size ||
      (timed && !sameMtime(origin.facts.mtimeMs, entry.mtimeMs))
    ) {
      throw new Error(
        `Cannot make the hard link to ${quotePath(first)}: it does not hold this file's ` +
          "version (it failed or was left as it was)",
      );
    }
    // In a directory this run created there is nothing to look at.
    const old = this.#fresh.has(splitPath(entry.path)[0])
      ? { facts: null, inode: "" }
      : identify(to.dir, to.name);
    if (old.inode !== "" && old.inode === origin.inode) return true; // already a second name
    if (old.facts?.kind === "dir" && !this.#replace(to.dir, to.name, entry.path, "dir", false)) {
      return false;
    }
    if (from.dir.linkInto === undefined) {
      throw new Deno.errors.NotSupported("Cannot make a hard link: this destination cannot link");
    }
    const restore = this.#backup === null || old.facts === null || old.facts.kind === "dir"
      ? null
      : this.#backUpReplaced(to.dir, to.name, entry.path);
    try {
      from.dir.linkInto(from.name, to.dir, to.name);
    } catch (error) {
      putBack(restore);
      throw error;
    }
    return this.#linked(entry, old.facts !== null);
  }

  /** Counts and reports a hard link made (or, in a dry run, to be made). */
  #linked(entry: Entry, replaced: boolean): true {
    this.#o.stats.transferred++;
    this.#emit({
      action: "link",
      path: entry.path,
      itemize: itemizeHardLink(replaced),
      linkTo: entry.hardLink as string,
    });
    return true;
  }

  /**
   * Skips a group under a directory that could not be created: its entries are counted under
   * that directory's one failure, not failed one by one (its subdirectories stay announced, so
   * their groups are skipped the same way).
   */
  #skipUnderFailedDir(group: ManifestGroup): boolean {
    if (this.#failedDirs.size === 0) return false;
    let failed: string | null = null;
    for (
      let dir = group.dir;
      failed === null;
      dir = dir.slice(0, Math.max(0, dir.lastIndexOf("/")))
    ) {
      if (this.#failedDirs.has(dir)) failed = dir;
      else if (dir === "") return false;
    }
    this.#failedDirs.set(failed, (this.#failedDirs.get(failed) ?? 0) + group.entries.length);
    for (const entry of group.entries) {
      if (entry.kind === "dir") this.#announced.add(entry.path);
    }
    return true;
  }

  /** Adds to each failed directory's failure how many entries under it were skipped. */
  #noteSkipped(): void {
    for (const [dir, skipped] of this.#failedDirs) {
      if (skipped === 0) continue;
      const failure = this.#o.stats.failures.find((f) => f.path === dir);
      if (failure) {
        failure.message += `; ${skipped} entr${skipped === 1 ? "y" : "ies"} under it skipped`;
      }
    }
    this.#failedDirs.clear();
  }

  /** Whether files and directories get the source's owners (`SessionTerms.keepOwner`). */
  get keepsOwners(): boolean {
    return this.#o.keepOwner ?? false;
  }

  /**
   * Gives `name` in `dir` the source entry's owner and group, when the session keeps owners (set
   * it before the mode: a change of owner clears setuid and setgid bits).
   */
  #giveOwner(dir: TreeDir, name: string, entry: Entry): void {
    if (!this.#o.keepOwner || (entry.uid === undefined && entry.gid === undefined)) return;
    const owner: EntryOwner = {};
    if (entry.uid !== undefined) owner.uid = entry.uid;
    if (entry.gid !== undefined) owner.gid = entry.gid;
    dir.setOwner?.(name, owner);
  }

  /**
   * Renames a temporary over `name`; with backups (`-b`) the old version is kept first (see
   * `#backUpReplaced`), and one renamed aside is put back when the rename fails.
   */
  #renameIntoPlace(dir: TreeDir, temp: string, name: string, rel: string): void {
    const restore = this.#backup === null ? null : this.#backUpReplaced(dir, name, rel);
    try {
      dir.rename(temp, name);
    } catch (error) {
      putBack(restore);
      throw error;
    }
  }

  /** Whether a source file's size is inside `--min-size`/`--max-size`. */
  #inSizeRange(size: number): boolean {
    const range = this.#o.sizeRange;
    if (range === undefined) return true;
    return (range.min === null || size >= range.min) && (range.max === null || size <= range.max);
  }

  /**
   * Creates a directory of the manifest (it is then fresh: nothing to list in it), private until
   * `finishDirectories` gives it its mode.
   */
  #mkdir(
    holder: { dir: TreeDir; name: string } | null | undefined,
    rel: string,
    mode = 0o700,
  ): void {
    this.#fresh.add(rel);
    this.#o.gate.apply(() => {
      const { dir, name } = holder ?? this.holder(rel);
      dir.mkdir(name, mode);
    });
    this.#emit({ action: "mkdir", path: rel, itemize: ITEMIZE_NEW_DIR });
  }

  /**
   * Removes a destination entry of the wrong kind so the source's entry can take its place. A
   * non-empty directory is removed only by mirror; copy reports a failure instead.
   */
  #replace(
    dir: TreeDir,
    name: string,
    rel: string,
    kind: StatKind,
    forDirectory: boolean,
  ): boolean {
    if (kind === "dir" && !forDirectory) {
      if (this.#o.mirror) {
        this.#o.gate.apply(() => this.#discard(dir, name, rel, true));
      } else {
        try {
          this.#o.gate.apply(() => dir.remove(name));
        } catch {
          this.#o.stats.fail(
            rel,
            "Cannot replace a non-empty directory with a file: use mirror to replace it",
          );
          return false;
        }
      }
    } else if (kind !== "dir" || !forDirectory) {
      this.#o.gate.apply(() => this.#discard(dir, name, rel, false));
    }
    this.#emit({
      action: "delete",
      path: rel,
      itemize: ITEMIZE_DELETING,
      ...(kind === "dir" ? { dir: true } : {}),
    });
    return true;
  }

  /**
   * Removes an entry the run replaces or deletes, or, with backups, keeps it: a file or link is
   * moved to its backup place; with a backup directory a directory's entries are (its
   * directories followed) and the emptied directory is then removed; beside the files, a
   * directory is renamed as a whole (`NAME + suffix`).
   */
  #discard(dir: TreeDir, name: string, rel: string, isDir: boolean): void {
    const terms = this.#backup;
    if (terms === null) return dir.remove(name, { recursive: isDir });
    if (!isDir || terms.dir === "") return this.#moveToBackup(dir, name, rel);
    const inner = this.#o.tree.dir(this.at(rel));
    for (const item of inner.list()) {
      if (isTemporaryName(item.name)) continue;
      this.#discard(inner, item.name, joinPath(rel, item.name), item.isDirectory);
    }
    dir.remove(name, { recursive: true });
  }

  /** Moves an entry to its backup place (replacing an older backup of that name). */
  #moveToBackup(dir: TreeDir, name: string, rel: string): void {
    if (dir.moveInto === undefined) {
      throw new Deno.errors.NotSupported(
        "Cannot keep a backup: this destination cannot move entries; run without -b",
      );
    }
    const place = this.#backupPlace(dir, name, rel);
    dir.moveInto(name, place.dir, place.name);
  }

  /**
   * Keeps the old version of a file or link about to be replaced, right before the rename that
   * replaces it: it gets a second name in its backup place (a hard link) and keeps its own, so
   * that a failure leaves it where it was (the file then fails, and the new version is not put
   * in place). Where hard links cannot be made (a filesystem without them), it is renamed to its
   * backup place instead.
   * @returns How to put a renamed old version back should the new one not take its place, or
   * `null` when nothing needs putting back.
   */
  #backUpReplaced(dir: TreeDir, name: string, rel: string): (() => void) | null {
    try {
      const old = dir.stat(name);
      if (old === null || old.kind === "dir") return null;
      const place = this.#backupPlace(dir, name, rel);
      try {
        if (dir.linkInto === undefined) {
          throw new Deno.errors.NotSupported("this destination cannot link files");
        }
        dir.linkInto(name, place.dir, place.name);
        return null;
      } catch (error) {
        // A refusal of the tree stands; a link the filesystem cannot make falls back to a move.
        if (error instanceof PathEscapeError || error instanceof PathInvalidError) throw error;
        if (dir.moveInto === undefined) throw error;
      }
      dir.moveInto(name, place.dir, place.name);
      return () => place.dir.moveInto?.(place.name, dir, name);
    } catch (error) {
      throw new Error(
        `Cannot keep a backup of the old version, so it stays in place: ${describeError(error)}`,
      );
    }
  }

  /** Where the backup of the entry `name` of `dir` (manifest path `rel`) goes. */
  #backupPlace(dir: TreeDir, name: string, rel: string): { dir: TreeDir; name: string } {
    const terms = this.#backup as BackupTerms;
    if (terms.dir === "") return { dir, name: name + terms.suffix };
    const [parent, last] = splitPath(backupPath(terms, this.at(rel)));
    return { dir: this.#backupDir(parent), name: last };
  }

  /**
   * Opens a directory of the backup directory (a tree path), creating it and its missing
   * parents one component at a time through the tree's own handles (in a contained tree a link
   * on the way is refused, never followed).
   */
  #backupDir(path: string): TreeDir {
    const tree = this.#o.tree;
    if (path === "" || this.#backupDirs.has(path)) return tree.dir(path);
    let dir: TreeDir | null = null;
    try {
      dir = tree.dir(path);
      if (dir.stat("") === null) dir = null; // a plain tree opens without looking
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (dir === null) {
      const [parent, name] = splitPath(path);
      try {
        this.#backupDir(parent).mkdir(name, 0o777);
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      }
      dir = tree.dir(path);
    }
    this.#backupDirs.add(path);
    return dir;
  }

  /** Creates or replaces a symlink; `settled` when the destination now holds it. */
  #planLink(
    dir: TreeDir | null,
    name: string,
    entry: Entry,
    facts: ListedFacts | null,
    id: number,
  ): FilePlan | null {
    const target = entry.linkTarget ?? "";
    if (facts?.kind === "symlink" && dir && dir.readLink(name) === target) {
      return { id, entry, decision: "settled" };
    }
    if (facts?.kind === "dir" && dir && !this.#replace(dir, name, entry.path, "dir", false)) {
      return null;
    }
    if (!this.#o.tree.caps.symlinks) {
      this.#o.stats.fail(
        entry.path,
        "Cannot create a symlink on this daemon: its sandbox has no unscoped write permission, which Deno requires for links; skipped",
      );
      return null;
    }
    this.#o.stats.transferred++;
    this.#o.gate.apply(() => {
      const holder = dir ?? this.holder(entry.path).dir;
      const temp = `${TEMP_PREFIX}${crypto.randomUUID()}`;
      holder.symlink(target, temp);
      try {
        this.#renameIntoPlace(holder, temp, name, entry.path);
      } catch (error) {
        try {
          holder.remove(temp);
        } catch { /* already gone */ }
        throw error;
      }
    });
    this.#emit({
      action: "link",
      path: entry.path,
      itemize: itemizeLink(facts?.kind === "symlink"),
    });
    return { id, entry, decision: "settled" };
  }

  /**
   * Counts a file as planned; a dry run reports it as it would be sent.
   * @param entry The file.
   * @param itemize Its itemize string (see {@linkcode FilePlan.itemize}).
   */
  announceSend(entry: Entry, itemize?: string): void {
    this.#o.stats.planned++;
    this.#o.stats.plannedBytes += entry.size;
    if (this.#o.gate.dryRun) this.reportWritten(entry, itemize);
  }

  /**
   * Reports a file written in place (for `--verbose` and `--itemize-changes`).
   * @param entry The file.
   * @param itemize Its itemize string (see {@linkcode FilePlan.itemize}).
   */
  reportWritten(entry: Entry, itemize?: string): void {
    this.#emit({
      action: "send",
      path: entry.path,
      size: entry.size,
      ...(itemize === undefined ? {} : { itemize }),
    });
  }

  /**
   * Counts a file as written (or as would-be-written, in a dry run).
   * @param entry The file.
   */
  countWritten(entry: Entry): void {
    this.#o.stats.transferred++;
    this.#o.stats.bytes += entry.size;
  }

  /**
   * Writes one file through a temporary sibling: creates it with the entry's mode (as
   * {@linkcode DestinationPlanner.modeOf} gives it), lets `fill` write the payload, checks the
   * size against the manifest, stamps the mtime on the open file, sets the mode when the umask
   * took bits (or it has special bits), and renames it into place. Any failure removes the
   * temporary and is counted; the final name never holds a partial file.
   *
   * A file of {@linkcode RESUME_MIN_BYTES} or more is written under a partial name: when its
   * payload stops coming ({@linkcode TransferInterruptedError}), what was written stays for the
   * next run to resume; once it is in place, the partial it continued (`resumeFrom`) goes.
   *
   * With `releaseOld` (the file replaces a large old version), the old version is renamed to a
   * temporary name right before the rename, and removed asynchronously after it: its blocks are
   * freed on an I/O thread, and the rename into a free name does not make ext4 start writing
   * the new version back (`RELEASE_ASIDE_MIN_BYTES` in plan.ts).
   *
   * @param entry The file.
   * @param fill Writes exactly `entry.size` bytes into the open temporary.
   * @param options The partial file this write continues, if any (see {@linkcode FilePlan}), and
   * whether it replaces a large old version.
   * @returns `true` when the file is in place.
   */
  async writeFile(
    entry: Entry,
    fill: (file: Deno.FsFile) => Promise<void>,
    options: WriteFileOptions = {},
  ): Promise<boolean> {
    const { stats, gate } = this.#o;
    if (gate.dryRun) {
      this.countWritten(entry);
      return true;
    }
    const mode = this.modeOf(entry);
    const partial = this.resumable(entry) ? { size: entry.size, mtimeMs: entry.mtimeMs } : null;
    let holder;
    let temp;
    try {
      holder = this.holder(entry.path);
      temp = holder.dir.createTemp(holder.name, mode & 0o777, partial ? { partial } : {});
    } catch (error) {
      stats.fail(entry.path, describeError(error));
      return false;
    }
    // An ordinary temporary is removed if the command is stopped (Ctrl-C) while it is written.
    const { dir: tempDir } = holder;
    const { name: tempName, partial: keptForResume } = temp;
    const untrack = keptForResume ? null : trackTemporary(() => tempDir.remove(tempName));
    try {
      // The temporary stays open (and locked) until it is renamed: no other run takes it for
      // stale, even once its mtime is the source's.
      try {
        // A single file's root entry has no path: it is known by its final name.
        const unfollow = stats.followHandle(entry.path || holder.name, entry.size, temp.file);
        try {
          await fill(temp.file);
        } finally {
          unfollow();
        }
        const size = temp.file.statSync().size;
        if (size !== entry.size) {
          throw new Error(
            `Cannot verify copy: the source changed during the transfer (${size} bytes, expected ${entry.size})`,
          );
        }
        const mtime = new Date(entry.mtimeMs);
        temp.file.utimeSync(mtime, mtime);
        this.#giveOwner(holder.dir, temp.name, entry);
        // After the write (and the owner): the umask may have taken bits, and a write or a chown
        // clears setuid and setgid bits (without CAP_FSETID).
        if ((mode & ~currentUmaskBits()) !== mode || (mode & 0o6000) !== 0) {
          holder.dir.setMode(temp.name, mode);
        }
        const old = renameSettingAside(
          // A backup keeps the old version's blocks: nothing to release.
          () =>
            options.releaseOld && this.#backup === null ? setAside(holder.dir, holder.name) : null,
          () => this.#renameIntoPlace(holder.dir, temp.name, holder.name, entry.path),
        );
        // After the rename, on an I/O thread; awaited only before the directories' times are
        // set (`settleReleases`), since the removal changes its directory's mtime.
        if (old) this.#track(old.release());
      } finally {
        untrack?.();
        temp.file.close();
      }
      this.countWritten(entry);
      if (options.resumeFrom !== undefined) this.#removeTemporary(holder.dir, options.resumeFrom);
      return true;
    } catch (error) {
      // An interrupted partial file keeps the source's bytes it got: the next run resumes it.
      if (!(temp.partial && error instanceof TransferInterruptedError)) {
        try {
          holder.dir.remove(temp.name);
        } catch { /* never created or already gone */ }
      }
      stats.fail(entry.path, describeError(error));
      return false;
    }
  }

  /**
   * Whether a file is written under a partial name (large enough, and resuming is on).
   * @param entry The file.
   * @returns `true` for a file an interrupted run may leave for the next one to resume.
   */
  resumable(entry: Entry): boolean {
    return (this.#o.resume ?? true) && entry.size >= RESUME_MIN_BYTES;
  }

  /**
   * A writer thread's job for one received file (see {@linkcode TreeDir.writeTarget}): the
   * paths, the directory to check, the mode, mtime and bytes. `null`: this tree (or a dry run)
   * writes through {@linkcode DestinationPlanner.writeFile} instead; `"failed"`: the file cannot
   * be placed (counted as failed).
   * @param entry The file.
   * @param data Its bytes, exactly `entry.size` of them.
   * @returns The job without its id, `null`, or `"failed"`.
   */
  writeJob(entry: Entry, data: Uint8Array): Omit<CopyJob, "id"> | null | "failed" {
    // A backup is made right before the rename into place, on this thread (see `writeFile`).
    if (this.#o.gate.dryRun || this.#backup !== null) return null;
    try {
      const path = this.at(entry.path);
      if (path === "") return null;
      const [parent, name] = splitPath(path);
      // Consecutive files of one directory share its handle: the writer checks the directory and
      // its parent before every create, so opening (and checking) it again here adds nothing.
      let dir = this.#writeDir?.parent === parent ? this.#writeDir.dir : null;
      if (dir === null) {
        dir = this.#o.tree.dir(parent);
        this.#writeDir = { parent, dir };
      }
      const target = dir.writeTarget?.(name) ?? null;
      if (target === null) return null;
      this.#landing.set(entry, { dir, name });
      return {
        src: "",
        ...target,
        size: entry.size,
        mtimeMs: entry.mtimeMs,
        mode: this.modeOf(entry),
        umask: currentUmaskBits(),
        // Always both slots (one shape for every job); undefined unless owners are kept.
        uid: this.#o.keepOwner ? entry.uid : undefined,
        gid: this.#o.keepOwner ? entry.gid : undefined,
        data,
      };
    } catch (error) {
      this.#o.stats.fail(entry.path, describeError(error));
      return "failed";
    }
  }

  /**
   * Records the outcome of a writer thread's job made by {@linkcode DestinationPlanner.writeJob}.
   * @param entry The file.
   * @param error `null` when it is in place, else the one-line reason.
   * @returns Whether it is in place.
   */
  wrote(entry: Entry, error: string | null): boolean {
    const landing = this.#landing.get(entry);
    this.#landing.delete(entry);
    if (error !== null) {
      this.#o.stats.fail(entry.path, error);
      return false;
    }
    landing?.dir.landed?.(landing.name);
    this.countWritten(entry);
    return true;
  }

  /**
   * Hashes the destination's copy of an entry.
   * @param entry The entry.
   * @returns Its digest.
   */
  async hashLocal(entry: Entry): Promise<string> {
    const { dir, name } = this.holder(entry.path);
    using file = dir.openRead(name);
    return await this.#o.hasher(file);
  }

  /**
   * Checks what the destination holds for `entry` and says so in a {@linkcode FileDone}: a file
   * of the same size and mtime (and its digest in checksum mode), or a link with the same target.
   * In a dry run nothing is checked: the entry would be there.
   *
   * @param entry The entry as the source announced it.
   * @param id Its manifest id.
   * @returns The verdict.
   */
  async verify(entry: Entry, id: number): Promise<FileDone> {
    const done: FileDone = { id, ok: false, size: 0, mtimeMs: 0, digest: "", message: "" };
    if (this.#o.gate.dryRun) {
      return { ...done, ok: true, size: entry.size, mtimeMs: entry.mtimeMs };
    }
    try {
      const { dir, name } = this.holder(entry.path);
      const landed = dir.stat(name);
      if (!copyVerified(entry, landed) || landed === null) {
        return { ...done, message: "Cannot verify the copy: source kept" };
      }
      const digest = this.#o.compare === "checksum" && entry.kind === "file"
        ? await this.hashLocal(entry)
        : "";
      return { ...done, ok: true, size: landed.size, mtimeMs: landed.mtimeMs, digest };
    } catch (error) {
      return { ...done, message: `Cannot verify the copy: ${describeError(error)}` };
    }
  }

  /**
   * Deletes what the mirror collected: files first, then directories, deepest first.
   * @returns The number of entries deleted.
   */
  applyDeletions(): number {
    const ordered = [...this.#deletions].sort((a, b) =>
      a.isDir === b.isDir ? b.path.length - a.path.length : a.isDir ? 1 : -1
    );
    let deleted = 0;
    for (const item of ordered) {
      try {
        this.#o.gate.apply(() => {
          const { dir, name } = this.holder(item.path);
          this.#discard(dir, name, item.path, item.isDir);
        });
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          this.#o.stats.fail(item.path, `Cannot delete: ${describeError(error)}`);
          continue;
        }
      }
      this.#emit({
        action: "delete",
        path: item.path,
        itemize: ITEMIZE_DELETING,
        ...(item.isDir ? { dir: true } : {}),
      });
      deleted++;
    }
    this.#o.stats.deleted += deleted;
    return deleted;
  }

  /**
   * Waits for the removals of old versions set aside by {@linkcode DestinationPlanner.writeFile}
   * that are still running: each changes its directory's mtime, so they end before
   * {@linkcode DestinationPlanner.finishDirectories} sets the directories' times.
   */
  async settleReleases(): Promise<void> {
    while (this.#releasing.size > 0) await Promise.all(this.#releasing);
  }

  #track(release: Promise<void>): void {
    this.#releasing.add(release);
    void release.finally(() => this.#releasing.delete(release));
  }

  /** Whether a destination directory has the mode, time and (when kept) owner of `entry`. */
  #hasAttributes(have: EntryInfo | null, entry: Entry, mode: number): boolean {
    if (have === null || have.kind !== "dir" || have.mode !== mode) return false;
    if (!sameMtime(have.mtimeMs, entry.mtimeMs)) return false;
    if (!this.#o.keepOwner) return true;
    return (entry.uid === undefined || entry.uid === have.uid) &&
      (entry.gid === undefined || entry.gid === have.gid);
  }

  /** Restores directory modes and mtimes, deepest first, after their contents are written. */
  finishDirectories(): void {
    this.#noteSkipped();
    if (this.#o.gate.dryRun) return;
    const dirs = this.#dirs.sort((a, b) => b.path.length - a.path.length);
    for (const entry of dirs) {
      try {
        const { dir, name } = this.holder(entry.path);
        const mode = this.modeOf(entry);
        // A directory that has them already is left alone (as rsync does): a no-op mirror
        // changes nothing, not even a directory's ctime, and costs one `lstat` a directory.
        if (this.#hasAttributes(dir.stat(name), entry, mode)) continue;
        this.#giveOwner(dir, name, entry);
        dir.setMode(name, mode);
        dir.setTimes(name, entry.mtimeMs);
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

let umaskBits: number | null = null;

/**
 * The process umask, read once. When the runtime does not expose it (`Deno.umask` needs
 * unscoped `--allow-sys`, which the daemon's server lacks) and nobody called
 * {@linkcode rememberUmaskBits}, it is taken as 0o777: every mode is then set explicitly after a
 * write, which is right whatever the real umask is.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { currentUmaskBits } from "./planner.ts";
 * ok(currentUmaskBits() >= 0 && currentUmaskBits() <= 0o777);
 * ```
 *
 * @returns The umask bits.
 */
export function currentUmaskBits(): number {
  if (umaskBits !== null) return umaskBits;
  try {
    const mask = Deno.umask(0o022);
    Deno.umask(mask);
    umaskBits = mask;
  } catch {
    umaskBits = 0o777;
  }
  return umaskBits;
}

/**
 * Records the process umask for a process that cannot read it itself (the daemon's server,
 * told by its launcher through the handoff).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { currentUmaskBits, rememberUmaskBits } from "./planner.ts";
 * const before = currentUmaskBits();
 * rememberUmaskBits(0o027);
 * strictEqual(currentUmaskBits(), 0o027);
 * rememberUmaskBits(before);
 * ```
 *
 * @param bits The umask.
 */
export function rememberUmaskBits(bits: number): void {
  umaskBits = bits & 0o777;
}

/**
 * What is at `name` (`facts` `null`: nothing), with its `device:inode` when it is a regular file
 * with several names (else `""`), from one `lstat`.
 */
function identify(dir: TreeDir, name: string): { facts: EntryInfo | null; inode: string } {
  const devices: number[] = [];
  const inodes: number[] = [];
  const found = dir.statMany
    ? dir.statMany([name], { devices, inodes })[0] ?? null
    : dir.stat(name);
  if (found instanceof Error) throw found;
  const inode = inodes[0];
  const shared = found?.kind === "file" && inode !== undefined && !Number.isNaN(inode);
  return { facts: found, inode: shared ? `${devices[0]}:${inode}` : "" };
}
