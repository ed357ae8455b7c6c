/**
 * One local file copy through a temporary sibling, done with synchronous calls (cheapest per
 * file in Deno); shared by the in-thread path and the copy workers.
 *
 * @module
 */

/** What a copy worker is asked to do for one file. */
export interface CopyJob {
  /** Caller's index of the job. */
  id: number;
  /** Absolute source path. */
  src: string;
  /** Absolute temporary sibling of the final path. */
  tmp: string;
  /** Absolute final path. */
  dst: string;
  /** Size announced in the manifest; the copy must have exactly this size. */
  size: number;
  /** Modification time to stamp, in milliseconds. */
  mtimeMs: number;
}

/** The outcome of one {@linkcode CopyJob}: `null` on success, else a one-line error. */
export type CopyResult = string | null;

/**
 * Copies `job.src` to `job.tmp` (the kernel's copy path), checks the size, stamps the mtime and
 * renames the result into place. The permission bits come from the source. On any failure the
 * temporary file is removed.
 *
 * @param job The copy to do.
 * @returns `null` on success, or a one-line error message.
 */
export function runCopyJob(job: CopyJob): CopyResult {
  try {
    Deno.copyFileSync(job.src, job.tmp);
    const size = Deno.lstatSync(job.tmp).size;
    if (size !== job.size) {
      throw new Error(
        `Cannot verify copy: the source changed during the transfer (${size} bytes, expected ${job.size})`,
      );
    }
    const mtime = new Date(job.mtimeMs);
    Deno.utimeSync(job.tmp, mtime, mtime);
    Deno.renameSync(job.tmp, job.dst);
    return null;
  } catch (error) {
    try {
      Deno.removeSync(job.tmp);
    } catch { /* never created */ }
    const text = error instanceof Error ? error.message : String(error);
    return text.split("\n", 1)[0] ?? text;
  }
}
