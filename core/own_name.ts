/**
 * Entries under a name of this session's own (a temporary, an entry set aside before deletion):
 * created exclusively, so nothing else can be reached by that name, but a directory on its way
 * may be exchanged back and forth meanwhile. Removing or putting one back is therefore tried
 * again for a short while, wherever its name leads. Shared by the contained tree and the writer
 * threads.
 *
 * @module
 */

/**
 * How long an entry under a name of this session's own is tried to be removed (or put back).
 * Only a race makes this take more than one try.
 */
export const OWN_NAME_TRIES_MS = 50;

/**
 * Runs `attempt` until it returns `true`, for at most {@linkcode OWN_NAME_TRIES_MS}.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { retried } from "./own_name.ts";
 * let tries = 0;
 * strictEqual(retried(() => ++tries === 3), true);
 * strictEqual(tries, 3);
 * ```
 *
 * @param attempt One try; `true` when done.
 * @returns Whether an attempt succeeded in time.
 */
export function retried(attempt: () => boolean): boolean {
  const until = performance.now() + OWN_NAME_TRIES_MS;
  do {
    if (attempt()) return true;
  } while (performance.now() < until);
  return false;
}

/**
 * Removes an entry under a name of this session's own, trying again while the name leads
 * nowhere (see the module documentation).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { removeOwnName } from "./own_name.ts";
 * const path = await Deno.makeTempFile();
 * strictEqual(removeOwnName(path), true);
 * strictEqual(removeOwnName(path), false);
 * ```
 *
 * @param path The entry's local path.
 * @param recursive Remove a directory with its contents.
 * @throws Any error of the removal other than "not found" (a directory not empty, no permission).
 * @returns Whether it was removed (`false`: it was not found in time).
 */
export function removeOwnName(path: string, recursive = false): boolean {
  return retried(() => {
    try {
      Deno.removeSync(path, { recursive });
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  });
}
