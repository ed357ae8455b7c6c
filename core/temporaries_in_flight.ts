/**
 * The ordinary temporaries this process is writing, so that a command stopped by Ctrl-C removes
 * them before it ends its process, as rsync removes its temporary file without `--partial`.
 * Partial files (large files written while resuming is on) are never tracked: an interrupted run
 * keeps them for the next one to resume. What a killed process leaves, the next run removes once
 * it is stale (see `temporaryVerdict`).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { removeTemporariesInFlight, trackTemporary } from "./temporaries_in_flight.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/.blit-tmp-1`, "half");
 * const untrack = trackTemporary(() => Deno.removeSync(`${dir}/.blit-tmp-1`));
 * strictEqual(removeTemporariesInFlight(), 1);
 * untrack();
 * strictEqual(Deno.readDirSync(dir).next().done, true);
 * Deno.removeSync(dir);
 * ```
 *
 * @module
 */

const removals = new Set<() => void>();

/**
 * Records how to remove a temporary (or a group of them) while it is in flight.
 * @param remove Removes it, synchronously; may throw (it is best effort).
 * @returns Forgets it (call once it is renamed into place or removed).
 */
export function trackTemporary(remove: () => void): () => void {
  const entry = (): void => remove();
  removals.add(entry);
  return () => {
    removals.delete(entry);
  };
}

/**
 * Removes every tracked temporary, best effort (errors are ignored: a temporary not created yet,
 * or renamed into place meanwhile), and forgets them.
 * @returns How many removals succeeded.
 */
export function removeTemporariesInFlight(): number {
  let removed = 0;
  for (const remove of [...removals]) {
    removals.delete(remove);
    try {
      remove();
      removed++;
    } catch { /* not there (yet, or any more) */ }
  }
  return removed;
}
