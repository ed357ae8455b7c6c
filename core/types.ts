/**
 * Shared shapes of the transfer engine: manifest entries, compare modes, options and summaries.
 *
 * @module
 */

/** What a manifest entry is. Symlinks are carried as links and never followed. */
export type EntryKind = "file" | "dir" | "symlink";

/** What `lstat` can find: a manifest kind, or `other` (socket, FIFO, device). */
export type StatKind = EntryKind | "other";

/** The facts of one entry of a tree, as `lstat` reports them. */
export interface EntryInfo {
  /** Kind of the entry. */
  kind: StatKind;
  /** Size in bytes (0 for directories and the length of the target text for symlinks). */
  size: number;
  /** Modification time in milliseconds since the epoch. */
  mtimeMs: number;
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  /** Target text of a symlink; absent for other kinds. */
  linkTarget?: string;
  /** Numeric owner (`lstat`'s), when read. */
  uid?: number | undefined;
  /** Numeric group, when read. */
  gid?: number | undefined;
}

/**
 * One entry of a source manifest, as the SOURCE role announces it to the DESTINATION role.
 *
 * `path` is relative to the transfer root, POSIX-separated, with no leading `/` and no `.` or
 * `..` segments; the root itself is `""`.
 */
export interface Entry {
  /** Relative POSIX path of the entry under the transfer root (`""` for the root itself). */
  path: string;
  /** Kind of the entry. */
  kind: EntryKind;
  /** Size in bytes (0 for directories and the length of the target text for symlinks). */
  size: number;
  /** Modification time in milliseconds since the epoch (fractional milliseconds allowed). */
  mtimeMs: number;
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  /** Target text of a symlink; absent for other kinds. */
  linkTarget?: string;
  /** Numeric owner, sent when the session keeps owners (`SessionTerms.keepOwner`). */
  uid?: number | undefined;
  /** Numeric group, sent when the session keeps owners. */
  gid?: number | undefined;
  /**
   * With hard links kept (`-H`, `SessionTerms.hardLinks`): the path of an earlier file of the
   * manifest that is the same file (same device and inode) at the source; this one is then made
   * a hard link to it rather than sent. Absent otherwise.
   */
  hardLink?: string;
}

/** How the destination decides whether a file that exists on both sides must be sent again. */
export type CompareMode =
  /** Transfer when the size or the modification time differs (the default). */
  | "size-mtime"
  /** Transfer when the size differs, or when sizes match but the xxHash3-64 digests differ. */
  | "checksum"
  /** Transfer only when the size differs. */
  | "size-only"
  /** Always transfer. */
  | "ignore-times";

/** The three verbs of the engine. */
export type TransferOperation = "copy" | "mirror" | "move";

/** One per-file failure, reported in the summary and counted once. */
export interface TransferFailure {
  /** Path relative to the transfer root (or an absolute path for root-level problems). */
  path: string;
  /** One-line description of what went wrong. */
  message: string;
}

/**
 * Final outcome of a run, as printed by `--json`: `transferred` (something changed, nothing
 * failed), `up_to_date` (nothing needed changing), `source_empty` (nothing in the source),
 * `partial` (some files failed, others were transferred), `failed` (files failed and nothing
 * was changed).
 */
export type TransferOutcome = "transferred" | "up_to_date" | "source_empty" | "partial" | "failed";

/** Summary of one transfer run; field names match the CLI's `--json` output. */
export interface TransferSummary {
  /** The verb that ran. */
  operation: TransferOperation;
  /** Source as given. */
  source: string;
  /** Resolved destination root. */
  destination: string;
  /** Source entries examined (files, directories and links). */
  files_examined: number;
  /** Files and links written (or, in a dry run, that would be written). */
  files_transferred: number;
  /** Payload bytes written (or that would be written). */
  bytes_transferred: number;
  /**
   * Bytes written and read on the sockets of both planes, TLS records included (estimated, see
   * `core/transport/wire_meter.ts`), TCP/IP headers not; 0 for a local run.
   */
  bytes_on_wire: number;
  /** Destination entries deleted by mirror (or that would be deleted). */
  entries_deleted: number;
  /** Source entries removed by move after their copy was verified. */
  sources_removed: number;
  /** Per-file failures counted. */
  files_failed: number;
  /** The first failures, capped (see `failures_truncated`). */
  failures: TransferFailure[];
  /** True when more failures happened than `failures` lists. */
  failures_truncated: boolean;
  /** Whether mirror deletions were skipped, and why. */
  deletions_skipped_reason: string | null;
  /** Wall time of the run in milliseconds. */
  duration_ms: number;
  /** True when nothing was changed on purpose. */
  dry_run: boolean;
  /** What happened, distinguishing "nothing to do" from "nothing there" from "done". */
  outcome: TransferOutcome;
}
