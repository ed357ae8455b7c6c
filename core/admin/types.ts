/**
 * The plain result shapes of the admin operations (`ls`, `find`, `du`, `df`, module lists),
 * shared by the operations in `core/admin/`, the admin client and the `blit-utils` verbs. Keys
 * are snake_case where they reach JSON output unchanged.
 *
 * @module
 */

/** An exported module. */
export interface ModuleSummary {
  /** Name (the first remote path segment). */
  name: string;
  /** Pushes, moves from it and removals are refused. */
  read_only: boolean;
  /** Free text from the daemon's configuration. */
  comment: string;
}

/** Kind of an entry as shown to users. */
export type EntryType = "file" | "dir" | "symlink" | "other";

/** One entry of a listed directory. */
export interface ListedEntry {
  /** Entry name. */
  name: string;
  /** Kind. */
  type: EntryType;
  /** Size in bytes (0 for directories). */
  size: number;
  /** Modification time, ISO 8601. */
  mtime: string;
  /** Permission bits. */
  mode: number;
  /** Target of a symlink; absent for other kinds. */
  link_target?: string;
}

/** A directory listing. */
export interface Listing {
  /** The entries, sorted by name. */
  entries: ListedEntry[];
  /** The listing was cut at its limit. */
  truncated: boolean;
}

/** One match of a find. */
export interface FoundEntry {
  /** Path relative to the module root. */
  path: string;
  /** Kind. */
  type: EntryType;
  /** Size in bytes (0 for directories). */
  size: number;
  /** Modification time, ISO 8601. */
  mtime: string;
}

/** Totals of one directory. */
export interface UsageEntry {
  /** Path relative to the module root. */
  path: string;
  /** Depth below the requested path (0 = the path itself, reported last). */
  depth: number;
  /** Sum of file sizes. */
  bytes: number;
  /** Files and links counted. */
  files: number;
  /** Directories counted below it. */
  dirs: number;
  /** Entries that could not be read. */
  errors: number;
}

/** Capacity of a filesystem. */
export interface SpaceReport {
  /** Total size in bytes. */
  total_bytes: number;
  /** Bytes in use. */
  used_bytes: number;
  /** Bytes available to an unprivileged process. */
  free_bytes: number;
}

/** How a streamed operation (find, du) ended. */
export interface StreamEnd {
  /** The walk stopped at its limit or the requested one. */
  truncated: boolean;
  /** Directories or entries that could not be read (the answer is then incomplete). */
  errors: number;
}

/** Which kinds of entries a find reports. */
export type FindScope = "all" | "files" | "dirs";

/** A find request. */
export interface FindQuery {
  /** Module name (`""` for the default root). */
  module: string;
  /** Path of the subtree inside the module (`""` for its root). */
  path: string;
  /** Glob matched against entry names; `""` or absent matches everything. */
  pattern?: string;
  /** Which kinds to report. */
  kind?: FindScope;
  /** Match case-insensitively. */
  caseInsensitive?: boolean;
  /** Most results (0 or absent: the daemon's limit). */
  limit?: number;
}
