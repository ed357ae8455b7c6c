/**
 * rsync's `--itemize-changes` strings (`YXcstpoguax`, 11 characters) for what the destination
 * planner does, so that `blit -i` reads like `rsync -i`.
 *
 * @module
 */

import { sameMtime } from "../compare.ts";
import type { Entry } from "../types.ts";

/** A file or link that is new on the destination: every attribute column is `+`. */
const NEW_COLUMNS = "+++++++++";

/** What the destination held at an entry's path before the run, as far as planning read it. */
export interface ItemizeFacts {
  /** The kind of the old entry. */
  kind: "file" | "dir" | "symlink" | "other";
  /** A file's size, or -1 when not read. */
  size: number;
  /** A file's modification time in milliseconds, or -1 when not read. */
  mtimeMs: number;
}

/**
 * The itemize string of a file the destination receives: `>f+++++++++` when it is new, else
 * `>f` and the columns that differ (`c` when the checksum compare found other contents, `s`
 * size, `t` modification time).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { itemizeFile } from "./itemize.ts";
 * const entry = { path: "a", kind: "file", size: 5, mtimeMs: 2000, mode: 0o644 } as const;
 * strictEqual(itemizeFile(entry, null, false), ">f+++++++++");
 * strictEqual(itemizeFile(entry, { kind: "file", size: 4, mtimeMs: 1000 }, false), ">f.st......");
 * strictEqual(itemizeFile(entry, { kind: "file", size: 5, mtimeMs: 2000 }, true), ">fc........");
 * ```
 *
 * @param entry The source file.
 * @param old What the destination held there, or `null` when nothing.
 * @param contentsDiffer The checksum compare found other contents.
 * @returns The 11 characters.
 */
export function itemizeFile(
  entry: Entry,
  old: ItemizeFacts | null,
  contentsDiffer: boolean,
): string {
  if (old === null || old.kind !== "file") return ITEMIZE_NEW_FILE;
  const size = old.size >= 0 && old.size !== entry.size ? "s" : ".";
  const time = old.mtimeMs >= 0 && !sameMtime(old.mtimeMs, entry.mtimeMs) ? "t" : ".";
  return `>f${contentsDiffer ? "c" : "."}${size}${time}......`;
}

/**
 * The itemize string of a link the destination creates: `cL+++++++++` when new, `cLc........`
 * when it replaces a link with another target.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { itemizeLink } from "./itemize.ts";
 * strictEqual(itemizeLink(false), "cL+++++++++");
 * strictEqual(itemizeLink(true), "cLc........");
 * ```
 *
 * @param replacesLink A link was there before.
 * @returns The 11 characters.
 */
export function itemizeLink(replacesLink: boolean): string {
  return replacesLink ? "cLc........" : `cL${NEW_COLUMNS}`;
}

/**
 * A hard link the destination makes (`-H`): rsync's `hf` with `+` columns for a new name, dots
 * for a name that held something else.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { itemizeHardLink } from "./itemize.ts";
 * strictEqual(itemizeHardLink(false), "hf+++++++++");
 * strictEqual(itemizeHardLink(true), "hf.........");
 * ```
 *
 * @param replaces Something was there before.
 * @returns The 11 characters.
 */
export function itemizeHardLink(replaces: boolean): string {
  return replaces ? "hf........." : `hf${NEW_COLUMNS}`;
}

/** A file the destination creates (one string for all: this is made per file). */
const ITEMIZE_NEW_FILE = `>f${NEW_COLUMNS}`;

/** A directory the destination creates. */
export const ITEMIZE_NEW_DIR = `cd${NEW_COLUMNS}`;

/** An entry the destination deletes (rsync prints the word in the itemize column). */
export const ITEMIZE_DELETING = "*deleting  ";

/**
 * Marks a file's itemize string with `c` (the checksum compare found other contents).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { contentsDiffer } from "./itemize.ts";
 * strictEqual(contentsDiffer(">f.........."), ">fc.........");
 * strictEqual(contentsDiffer(undefined), undefined);
 * ```
 *
 * @param itemize The string, or `undefined`.
 * @returns The marked string (a new file's `+` columns stay).
 */
export function contentsDiffer(itemize: string | undefined): string | undefined {
  if (itemize === undefined || itemize[2] === "+") return itemize;
  return `${itemize.slice(0, 2)}c${itemize.slice(3)}`;
}
