/**
 * The policies of a session, each in one place and without I/O: when mirror may delete, how a
 * refused consent is worded, when move may remove a source, when a copy counts as verified, and
 * what a run's outcome is. Both roles call these on every route (local, push, pull).
 *
 * @module
 */

import { sameMtime } from "../compare.ts";
import { describeError } from "../errors.ts";
import { validateWirePath } from "../paths.ts";
import { blockSizeFor } from "../delta/signature.ts";
import { MAX_LISTED_FAILURES } from "../stats.ts";
import type { CompareMode, Entry, EntryInfo, TransferOutcome } from "../types.ts";
import type { BackupTerms, ConsentRefusal, FileDone, SideSummary } from "./frames.ts";

/** Longest a destination waits for a person to answer the deletion prompt. */
export const CONSENT_TIMEOUT_MS = 10 * 60_000;

/** How often the side that asks a person sends a keepalive while waiting for the answer. */
export const CONSENT_KEEPALIVE_MS = 15_000;

/** Most paths a consent request carries (the total is always sent). */
export const CONSENT_PATHS_MAX = 1_000;

/**
 * The one dry-run gate of a session: every change either role makes to a tree goes through
 * {@linkcode ChangeGate.apply}, which does nothing in a dry run (rclone's `SkipDestructive`).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { ChangeGate } from "./plan.ts";
 * let changed = false;
 * new ChangeGate(true).apply(() => changed = true);
 * strictEqual(changed, false);
 * ```
 */
export class ChangeGate {
  /** Whether this is a dry run. */
  readonly dryRun: boolean;

  /**
   * Creates the gate.
   * @param dryRun Whether this is a dry run.
   */
  constructor(dryRun: boolean) {
    this.dryRun = dryRun;
  }

  /**
   * Makes a change, unless this is a dry run.
   * @param change The change.
   */
  apply(change: () => void): void {
    if (!this.dryRun) change();
  }
}

/**
 * A temporary nobody holds (no lock) is taken for stale once it has not been written for this
 * long: a writer locks its temporary right after creating it (the next call), so only that
 * instant is open; a run that died a moment ago is cleaned by the next run a moment later.
 */
export const TEMP_QUIET_MS = 100;

/** A partial file not resumed for this long is removed. */
export const PARTIAL_MAX_AGE_MS = 7 * 24 * 60 * 60_000;

/**
 * Smallest old version set aside when a new version replaces it: every file that travels whole
 * (larger than a shard member, 64 KiB). A rename that drops a file's last name frees its blocks
 * on the spot, on the thread that renames (with `discard`, as on this project's machine, the
 * kernel discards them there too), and ext4 starts writing back a file renamed over another, so
 * the writer first renames the old version to a temporary name, renames the new one into the
 * free name, and removes the old one asynchronously (see `DestinationPlanner.writeFile`).
 * Measured here (`ext4`, `discard`, the old version on disk for a while): a rename over an old
 * version of 16–256 KiB took 0.27–0.45 ms, of 1 MiB 1.0–1.1 ms, of 4 MiB 4.0–4.7 ms; setting it
 * aside and renaming 36–104 µs. Shard members are written by writer threads, which rename over.
 */
export const RELEASE_ASIDE_MIN_BYTES = 64 * 1024;

/** Smallest file written under a partial name, so that an interrupted run can be resumed. */
export const RESUME_MIN_BYTES = 8 * 1024 * 1024;

/** What the destination does with a temporary it finds. */
export type TemporaryVerdict =
  /** In flight (another run holds it), or a partial kept for a later run. */
  | "keep"
  /** Stale: left by a run that is gone, or a partial whose source changed or that is too old. */
  | "remove"
  /** A partial of this very source version: the run continues from it. */
  | "resume";

/** What {@linkcode temporaryVerdict} looks at. */
export interface TemporaryInput {
  /** The source version a partial name records; `null` for an ordinary temporary. */
  partial: { size: number; mtimeMs: number } | null;
  /** The temporary itself (see `TreeDir.inspectTemporary`). */
  facts: { isFile: boolean; mtimeMs: number; locked: boolean };
  /** Now, in milliseconds since the epoch. */
  now: number;
  /**
   * The source file of this run with the partial's final name, and whether the run writes it;
   * `null` when the run has no file of that name.
   */
  entry: { size: number; mtimeMs: number; wanted: boolean } | null;
  /** Resuming is on (no `--no-resume`). */
  resume: boolean;
}

/**
 * The one rule for blit's temporaries found in a destination directory: a locked one is in
 * flight (never touched); an unlocked ordinary temporary is stale once quiet for
 * {@linkcode TEMP_QUIET_MS}; an unlocked partial file is resumed when it belongs to the very
 * source version this run writes, removed when that source changed, when the file is already in
 * place, or when it is older than {@linkcode PARTIAL_MAX_AGE_MS}, and otherwise kept for the run
 * it belongs to.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { temporaryVerdict } from "./plan.ts";
 * const now = Date.now();
 * const facts = { isFile: true, mtimeMs: now - 60_000, locked: false };
 * const partial = { size: 10, mtimeMs: 5 };
 * const entry = { size: 10, mtimeMs: 5, wanted: true };
 * strictEqual(temporaryVerdict({ partial, facts, now, entry, resume: true }), "resume");
 * strictEqual(temporaryVerdict({ partial, facts, now, entry: { ...entry, size: 11 }, resume: true }), "remove");
 * strictEqual(temporaryVerdict({ partial, facts: { ...facts, locked: true }, now, entry, resume: true }), "keep");
 * strictEqual(temporaryVerdict({ partial: null, facts, now, entry: null, resume: true }), "remove");
 * ```
 *
 * @param input The temporary and the run.
 * @returns What to do with it.
 */
export function temporaryVerdict(input: TemporaryInput): TemporaryVerdict {
  const { partial, facts, now, entry, resume } = input;
  if (facts.locked) return "keep";
  const quiet = now - facts.mtimeMs > TEMP_QUIET_MS;
  if (partial === null || !facts.isFile) return quiet ? "remove" : "keep";
  if (now - facts.mtimeMs > PARTIAL_MAX_AGE_MS) return "remove";
  if (entry === null) return "keep";
  const same = entry.size === partial.size && Math.floor(entry.mtimeMs) === partial.mtimeMs;
  if (same && entry.wanted) return resume ? "resume" : "keep";
  return quiet ? "remove" : "keep";
}

/** Smallest file sent as a delta against the destination's old copy (smaller ones go whole). */
export const DELTA_MIN_BYTES = 1024 * 1024;

/** What decides whether a file travels as a delta. */
export interface DeltaChoice {
  /** The payload crosses a network (a data plane): locally, reading both copies costs more than copying one. */
  remote: boolean;
  /** `--whole-file` was given. */
  wholeFile: boolean;
  /** Size of the new file. */
  size: number;
  /** Size of the destination's old copy, `null` when it has none (or it is not a file). */
  basisSize: number | null;
}

/**
 * The one rule for deltas (rsync's, with its `--whole-file` default for local copies): a file
 * travels as a delta against the destination's old copy when the payload crosses a network, the
 * user did not ask for whole files, the file is at least {@linkcode DELTA_MIN_BYTES}, and the old
 * copy is a non-empty file small enough to sign.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { deltaWanted } from "./plan.ts";
 * const choice = { remote: true, wholeFile: false, size: 8 << 20, basisSize: 8 << 20 };
 * strictEqual(deltaWanted(choice), true);
 * strictEqual(deltaWanted({ ...choice, remote: false }), false);
 * strictEqual(deltaWanted({ ...choice, basisSize: null }), false);
 * strictEqual(deltaWanted({ ...choice, size: 1000 }), false);
 * ```
 *
 * @param choice The facts.
 * @returns Whether to send the destination's signature and take a delta.
 */
export function deltaWanted(choice: DeltaChoice): boolean {
  const { remote, wholeFile, size, basisSize } = choice;
  return remote && !wholeFile && size >= DELTA_MIN_BYTES && basisSize !== null && basisSize > 0 &&
    blockSizeFor(basisSize) !== null;
}

/** What the deletion gate looks at, once every file of the run has been settled. */
export interface DeletionGateInput {
  /** The source listed every directory and entry. */
  scanComplete: boolean;
  /** Per-file failures counted in the run so far (both sides). */
  filesFailed: number;
  /** Deletions the mirror would make. */
  pending: number;
  /** Most deletions allowed (`--max-delete`), `null` for no limit. */
  maxDelete: number | null;
}

/**
 * The deletion gate, as the careful tools have it (rclone's rule plus a hard limit): mirror
 * deletes nothing when the source scan was incomplete, when any file failed, or when more
 * entries would go than `--max-delete` allows. Consent is asked only after this gate passed.
 * An incomplete scan is reported even when no deletion was found (the unlisted part may hold
 * some); failures and the limit only when something would have been deleted.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { deletionBlock } from "./plan.ts";
 * const clean = { scanComplete: true, filesFailed: 0, pending: 3, maxDelete: null };
 * strictEqual(deletionBlock(clean), null);
 * strictEqual(
 *   deletionBlock({ ...clean, maxDelete: 2 }),
 *   "3 deletions exceed --max-delete 2, so nothing was deleted",
 * );
 * ```
 *
 * @param input The state of the run.
 * @returns Why nothing may be deleted, or `null` when deletions may go ahead (with consent).
 */
export function deletionBlock(input: DeletionGateInput): string | null {
  const { scanComplete, filesFailed, pending, maxDelete } = input;
  // An incomplete scan may hide deletions (a group not listed collects none): always say so.
  if (!scanComplete) return "the source scan did not complete, so nothing was deleted";
  if (pending === 0) return null;
  if (filesFailed > 0) {
    return `${filesFailed} file(s) failed, so nothing was deleted (mirror deletes only after a clean run)`;
  }
  if (maxDelete !== null && pending > maxDelete) {
    return `${pending} deletion${pending === 1 ? "" : "s"} exceed${
      pending === 1 ? "s" : ""
    } --max-delete ${maxDelete}, so nothing was deleted`;
  }
  return null;
}

/**
 * Words a refused consent for the summary's `deletions_skipped_reason`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { consentSkipReason } from "./plan.ts";
 * strictEqual(consentSkipReason("declined", 2), "2 deletion(s) were not confirmed");
 * ```
 *
 * @param refusal Why consent was not given.
 * @param pending Deletions that were waiting for it.
 * @returns One line.
 */
export function consentSkipReason(refusal: ConsentRefusal, pending: number): string {
  const base = `${pending} deletion(s) were not confirmed`;
  switch (refusal) {
    case "declined":
      return base;
    case "no-terminal":
      return `${base}: not a terminal; pass --yes to delete without asking`;
    case "not-given":
      return `${base}: no consent was given (pass --yes, or confirmDeletions in the library)`;
    case "timeout":
      return `${base}: nobody answered before the consent deadline`;
  }
}

/** What is wrong with backup terms (see {@linkcode backupTermsProblem}). */
export interface BackupTermsProblem {
  /** Which term: the directory or the suffix. */
  field: "dir" | "suffix";
  /** What is wrong with it. */
  detail: string;
}

/**
 * The one check of backup terms, on the client and again on the daemon: the directory is a path
 * inside the destination (a wire path: relative, no `..`), the suffix at most 255 characters
 * without `/` or NUL, and an empty suffix needs a directory (the backup would be the file).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { backupTermsProblem } from "./plan.ts";
 * deepStrictEqual(backupTermsProblem({ dir: "old", suffix: "" }), null);
 * deepStrictEqual(backupTermsProblem({ dir: "", suffix: "a/b" })?.field, "suffix");
 * deepStrictEqual(backupTermsProblem({ dir: "../x", suffix: "" })?.field, "dir");
 * ```
 *
 * @param terms The terms.
 * @returns The problem, or `null` when they are sound.
 */
export function backupTermsProblem(terms: BackupTerms): BackupTermsProblem | null {
  try {
    validateWirePath(terms.dir);
  } catch (error) {
    return { field: "dir", detail: describeError(error) };
  }
  if (terms.suffix.length > 255 || /[/\0]/.test(terms.suffix)) {
    return { field: "suffix", detail: "at most 255 characters, without / or NUL" };
  }
  if (terms.dir === "" && terms.suffix === "") {
    return { field: "suffix", detail: "an empty suffix needs a backup directory" };
  }
  return null;
}

/**
 * The backup rule's place: where the backup of the entry at `path` (a path in the destination's
 * tree) goes. Beside it as `NAME + suffix` without a backup directory (`-b`), else under the
 * directory with the same relative path (`--backup-dir DIR/PATH + suffix`), as rsync does.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { backupPath } from "./plan.ts";
 * strictEqual(backupPath({ dir: "", suffix: "~" }, "docs/a.txt"), "docs/a.txt~");
 * strictEqual(backupPath({ dir: "old", suffix: "" }, "docs/a.txt"), "old/docs/a.txt");
 * strictEqual(backupPath({ dir: "old", suffix: ".bak" }, "a.txt"), "old/a.txt.bak");
 * ```
 *
 * @param terms The session's backup terms.
 * @param path The entry's path in the destination's tree (not `""`).
 * @returns The backup's path in the same tree.
 */
export function backupPath(terms: BackupTerms, path: string): string {
  return (terms.dir === "" ? path : `${terms.dir}/${path}`) + terms.suffix;
}

/**
 * Whether mirror must leave a destination entry alone because it holds backups: the backup
 * directory, anything in it and the directories on its way; without a backup directory, a name
 * that ends with the suffix (rsync's implicit `P *~` rule).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { keptForBackups } from "./plan.ts";
 * strictEqual(keptForBackups({ dir: "old", suffix: "" }, "old"), true);
 * strictEqual(keptForBackups({ dir: "old", suffix: "" }, "old/a.txt"), true);
 * strictEqual(keptForBackups({ dir: "b/old", suffix: "" }, "b"), true);
 * strictEqual(keptForBackups({ dir: "old", suffix: "" }, "older"), false);
 * strictEqual(keptForBackups({ dir: "", suffix: "~" }, "docs/a.txt~"), true);
 * strictEqual(keptForBackups(null, "a.txt~"), false);
 * ```
 *
 * @param terms The session's backup terms (`null`: no backups).
 * @param path The entry's path in the destination's tree.
 * @returns `true` when it must not be deleted.
 */
export function keptForBackups(terms: BackupTerms | null, path: string): boolean {
  if (terms === null) return false;
  const { dir, suffix } = terms;
  if (dir === "") return suffix !== "" && path.endsWith(suffix);
  return path === dir || path.startsWith(`${dir}/`) || dir.startsWith(`${path}/`);
}

/**
 * The mode rule: the permission bits a destination gives what it receives. The sender's bits,
 * without setuid, setgid and sticky unless the receiver keeps them (a local run does, as
 * `rsync -a`; a daemon's module only with `keep_special_bits = true`; a pull only with
 * `--keep-special-bits`), so that a peer cannot plant a setuid file where it writes.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { receivedMode } from "./plan.ts";
 * strictEqual(receivedMode(0o6777, false), 0o777);
 * strictEqual(receivedMode(0o6777, true), 0o6777);
 * strictEqual(receivedMode(0o1777, false), 0o777);
 * ```
 *
 * @param mode The mode the source announced.
 * @param keepSpecialBits Whether this destination keeps setuid, setgid and sticky bits.
 * @returns The bits to apply.
 */
export function receivedMode(mode: number, keepSpecialBits: boolean): number {
  return mode & (keepSpecialBits ? 0o7777 : 0o777);
}

/**
 * Whether the destination holds a verified copy of `entry`: a regular file of the same size and
 * modification time (to the millisecond), or a link with the same target. (In checksum mode the
 * source also compares digests, see {@linkcode sourceRemovalBlock}.)
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { copyVerified } from "./plan.ts";
 * const entry = { path: "a", kind: "file" as const, size: 3, mtimeMs: 1000, mode: 0o644 };
 * strictEqual(copyVerified(entry, { ...entry }), true);
 * strictEqual(copyVerified(entry, { ...entry, size: 4 }), false);
 * ```
 *
 * @param entry The source entry.
 * @param landed What the destination holds at its path, `null` when nothing.
 * @returns `true` when verified.
 */
export function copyVerified(entry: Entry, landed: EntryInfo | null): boolean {
  if (landed === null || landed.kind !== entry.kind) return false;
  if (entry.kind === "symlink") return landed.linkTarget === entry.linkTarget;
  if (entry.kind === "dir") return true;
  return landed.size === entry.size && sameMtime(landed.mtimeMs, entry.mtimeMs);
}

/**
 * The move rule: a source is removed only when the destination verified its copy and the source
 * did not change since it was announced (and, in checksum mode, its digest equals the copy's).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { sourceRemovalBlock } from "./plan.ts";
 * const entry = { path: "a", kind: "file" as const, size: 3, mtimeMs: 1000, mode: 0o644 };
 * const done = { id: 1, ok: true, size: 3, mtimeMs: 1000, digest: "", message: "" };
 * strictEqual(sourceRemovalBlock(entry, { ...entry }, done, "size-mtime", null), null);
 * strictEqual(
 *   sourceRemovalBlock(entry, { ...entry, size: 9 }, done, "size-mtime", null),
 *   "Cannot move: the source changed during the transfer; source kept",
 * );
 * ```
 *
 * @param entry The entry as the source announced it.
 * @param now The source entry as it is now (`null`: gone).
 * @param done What the destination verified.
 * @param compare The compare mode.
 * @param digestNow The source's digest now (checksum mode, files), else `null`.
 * @returns Why the source stays, or `null` to remove it.
 */
export function sourceRemovalBlock(
  entry: Entry,
  now: EntryInfo | null,
  done: FileDone,
  compare: CompareMode,
  digestNow: string | null,
): string | null {
  if (!done.ok) return null;
  if (now === null || !copyVerified(entry, now)) {
    return "Cannot move: the source changed during the transfer; source kept";
  }
  if (entry.kind === "file") {
    if (done.size !== entry.size || !sameMtime(done.mtimeMs, entry.mtimeMs)) {
      return "Cannot verify the copy: it differs from the source; source kept";
    }
    if (compare === "checksum" && digestNow !== done.digest) {
      return "Cannot verify the copy: its digest differs from the source's; source kept";
    }
  }
  return null;
}

/** The counters an outcome is judged by. */
export interface OutcomeCounts {
  /** Entries examined. */
  examined: number;
  /** Files and links written. */
  transferred: number;
  /** Entries deleted. */
  deleted: number;
  /** Sources removed. */
  sourcesRemoved: number;
  /** Failures. */
  failed: number;
}

/**
 * The outcome of a run: `failed` when files failed and nothing changed, `partial` when some
 * failed and others changed, else `transferred`, `up_to_date` or `source_empty`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { outcomeOf } from "./plan.ts";
 * const none = { examined: 4, transferred: 0, deleted: 0, sourcesRemoved: 0, failed: 0 };
 * strictEqual(outcomeOf(none), "up_to_date");
 * strictEqual(outcomeOf({ ...none, transferred: 2, failed: 1 }), "partial");
 * strictEqual(outcomeOf({ ...none, failed: 1 }), "failed");
 * ```
 *
 * @param counts The run's counters.
 * @returns The outcome.
 */
export function outcomeOf(counts: OutcomeCounts): TransferOutcome {
  const changed = counts.transferred + counts.deleted + counts.sourcesRemoved;
  if (counts.failed > 0) return changed > 0 ? "partial" : "failed";
  if (changed > 0) return "transferred";
  return counts.examined === 0 ? "source_empty" : "up_to_date";
}

/**
 * Adds the source's and the destination's counters into the run's: the source counts examined
 * entries and removed sources, the destination what it wrote and deleted; each failure was
 * counted by the side that saw it, once.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { mergeSides } from "./plan.ts";
 * const side = {
 *   examined: 0, transferred: 0, bytes: 0, deleted: 0, sourcesRemoved: 0,
 *   failed: 0, failures: [], deletionsSkipped: null,
 * };
 * const merged = mergeSides({ ...side, examined: 5, sourcesRemoved: 2 }, { ...side, transferred: 2 });
 * strictEqual(merged.examined, 5);
 * strictEqual(merged.transferred, 2);
 * ```
 *
 * @param source The source's summary.
 * @param destination The destination's summary.
 * @returns The run's counters.
 */
export function mergeSides(source: SideSummary, destination: SideSummary): SideSummary {
  const failures = [...destination.failures, ...source.failures].slice(0, MAX_LISTED_FAILURES);
  return {
    examined: source.examined,
    transferred: destination.transferred,
    bytes: destination.bytes,
    deleted: destination.deleted,
    sourcesRemoved: source.sourcesRemoved,
    failed: source.failed + destination.failed,
    failures,
    deletionsSkipped: destination.deletionsSkipped,
  };
}
