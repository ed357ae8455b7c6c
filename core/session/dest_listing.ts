/**
 * Listings of destination directories with the facts the compare rule needs, made in one pass
 * (`readDir` plus an `lstat` per regular file). The local session has a worker make them ahead
 * of the walk (see {@linkcode DestinationScanner}).
 *
 * @module
 */

/** Kind codes of {@linkcode DirListing.kinds}. */
export const LISTED_FILE = 0;
/** A directory. */
export const LISTED_DIR = 1;
/** A symlink. */
export const LISTED_LINK = 2;
/** Anything else (socket, fifo, device). */
export const LISTED_OTHER = 3;

/** One destination directory's entries, in columns (cheap to pass between threads). */
export interface DirListing {
  /** Entry names, in directory order. */
  names: string[];
  /** A `LISTED_*` code per entry. */
  kinds: number[];
  /** Size of each regular file (-1 when not read: directories, links, or `lstat` failed). */
  sizes: number[];
  /** Modification time of each regular file in milliseconds (0 when not read). */
  mtimes: number[];
}

/**
 * Lists a directory and reads the size and mtime of each regular file in it.
 *
 * @example Usage
 * ```ts ignore
 * import { listDirectory } from "./dest_listing.ts";
 * const listing = listDirectory("/backup/photos");
 * console.log(listing.names.length);
 * ```
 *
 * @param abs Absolute directory path.
 * @returns The listing.
 * @throws {Deno.errors.NotFound} When the directory does not exist (other errors likewise).
 */
export function listDirectory(abs: string): DirListing {
  const names: string[] = [];
  const kinds: number[] = [];
  const sizes: number[] = [];
  const mtimes: number[] = [];
  for (const item of Deno.readDirSync(abs)) {
    names.push(item.name);
    if (item.isFile) {
      kinds.push(LISTED_FILE);
      try {
        const info = Deno.lstatSync(`${abs}/${item.name}`);
        sizes.push(info.size);
        mtimes.push(info.mtime?.getTime() ?? 0);
      } catch {
        sizes.push(-1); // Gone or unreadable: the planner looks again itself.
        mtimes.push(0);
      }
      continue;
    }
    kinds.push(item.isDirectory ? LISTED_DIR : item.isSymlink ? LISTED_LINK : LISTED_OTHER);
    sizes.push(-1);
    mtimes.push(0);
  }
  return { names, kinds, sizes, mtimes };
}
