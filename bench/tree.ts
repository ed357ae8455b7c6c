/**
 * Tree helpers for the bench: list a tree with sizes and compare two listings to verify a
 * tool's result.
 *
 * @module
 */

/** Relative path (POSIX, no leading slash) → size in bytes, for regular files only. */
export type Manifest = Map<string, number>;

/** Totals of a tree. */
export interface TreeTotals {
  /** Number of regular files. */
  files: number;
  /** Sum of the file sizes in bytes. */
  bytes: number;
}

/**
 * Lists every regular file under `root` with its size, sorted by path.
 * Requires `--allow-read`.
 * @param root Directory to list.
 * @returns The manifest.
 */
export async function listTree(root: string): Promise<Manifest> {
  const out: Array<[string, number]> = [];
  const stack: string[] = [""];
  while (stack.length > 0) {
    const rel = stack.pop() ?? "";
    const dir = rel === "" ? root : `${root}/${rel}`;
    const stats: Array<Promise<void>> = [];
    for await (const entry of Deno.readDir(dir)) {
      const child = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory) {
        stack.push(child);
      } else if (entry.isFile) {
        stats.push(
          Deno.lstat(`${root}/${child}`).then((info) => {
            out.push([child, info.size]);
          }),
        );
      }
    }
    await Promise.all(stats);
  }
  out.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return new Map(out);
}

/**
 * Sums a manifest.
 * @param manifest Listing from {@linkcode listTree}.
 * @returns File count and total bytes.
 */
export function totals(manifest: Manifest): TreeTotals {
  let bytes = 0;
  for (const size of manifest.values()) bytes += size;
  return { files: manifest.size, bytes };
}

/**
 * Describes how `actual` differs from `expected`, or returns `undefined` when they match
 * (same paths, same sizes).
 * @param expected Listing of the source.
 * @param actual Listing of the destination.
 * @returns A short description of the first differences, or `undefined`.
 */
export function diffManifests(expected: Manifest, actual: Manifest): string | undefined {
  const problems: string[] = [];
  let missing = 0;
  let wrongSize = 0;
  let extra = 0;
  for (const [path, size] of expected) {
    const got = actual.get(path);
    if (got === undefined) {
      missing++;
      if (problems.length < 3) problems.push(`missing "${path}"`);
    } else if (got !== size) {
      wrongSize++;
      if (problems.length < 3) problems.push(`"${path}" has ${got} bytes, expected ${size}`);
    }
  }
  for (const path of actual.keys()) {
    if (!expected.has(path)) {
      extra++;
      if (problems.length < 3) problems.push(`unexpected "${path}"`);
    }
  }
  if (missing + wrongSize + extra === 0) return undefined;
  return `${missing} missing, ${wrongSize} wrong size, ${extra} extra (${problems.join("; ")})`;
}
