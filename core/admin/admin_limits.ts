/**
 * The caps and deadlines of the admin operations.
 *
 * @module
 */

/** Caps and deadlines of the admin operations. */
export const ADMIN_LIMITS = {
  /** Entries returned by one listing (the listing is then marked truncated). */
  listEntries: 10_000,
  /** Results of one find when the request asks for more, or for no limit. */
  findResults: 10_000,
  /** Directories reported by one disk usage besides the requested one (always sent last). */
  usageEntries: 10_000,
  /** Candidates of one completion. */
  completions: 1_000,
  /** Names read from one directory before giving up on it (they are sorted in memory). */
  namesPerDirectory: 1_000_000,
  /** Longest accepted find pattern, in characters. */
  patternChars: 1_024,
  /** Entries a walk handles between two yields to the event loop (and budget checks). */
  entriesPerTick: 256,
  /** Deadline of a listing, a filesystem measure and a completion, in milliseconds. */
  unaryMs: 15_000,
  /** Deadline of the walking operations, find, disk usage and remove, in milliseconds. */
  walkMs: 120_000,
} as const;
