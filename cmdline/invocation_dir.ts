/**
 * The directory a command was typed in. `deno task` runs every task in the checkout, so the
 * `blit` and `blit-utils` tasks pass the user's directory explicitly:
 * `BLIT_CWD="$INIT_CWD" deno run … cli/main.ts`. The entry points change into it first, before
 * any path is parsed, so `deno task blit copy ../x ./y` means what it says. Only `BLIT_CWD` is
 * read, never `INIT_CWD` itself: an installed `blit` started by some other project's task must
 * not take that task's directory.
 *
 * @module
 */

/** The variable the deno.json tasks set to the directory the command was typed in. */
export const INVOCATION_DIR_VAR = "BLIT_CWD";

/** Options of {@linkcode enterInvocationDir}. */
export interface EnterInvocationDirOptions {
  /**
   * Reads the variable; `undefined` when it is unset.
   * @default {Deno.env.get, when the process may read BLIT_CWD; else nothing is read}
   */
  read?: () => string | undefined;
  /**
   * Changes the working directory.
   * @default {Deno.chdir}
   */
  chdir?: (dir: string) => void;
}

/**
 * Changes into the directory named by `BLIT_CWD` when it is set (and not empty), then removes
 * the variable so that processes this one starts do not inherit it. A process that may not
 * read `BLIT_CWD` (a launcher with a scoped `--allow-env`) is left where it is.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { enterInvocationDir } from "./invocation_dir.ts";
 * const visited: string[] = [];
 * const error = enterInvocationDir({ read: () => "/home/ann", chdir: (d) => void visited.push(d) });
 * strictEqual(error, null);
 * strictEqual(visited[0], "/home/ann");
 * strictEqual(enterInvocationDir({ read: () => undefined }), null);
 * ```
 *
 * @param options How to read the variable and change directory (tests replace both).
 * @returns `null` when done (or nothing to do), else one line starting "Cannot" that names the
 * directory, the reason and the fix.
 */
export function enterInvocationDir(options: EnterInvocationDirOptions = {}): string | null {
  const read = options.read ?? readInvocationDirVar;
  const chdir = options.chdir ?? Deno.chdir;
  const dir = read();
  if (dir === undefined || dir === "") return null;
  try {
    chdir(dir);
  } catch (error) {
    const why = error instanceof Error ? error.message.split("\n")[0] : String(error);
    return `Cannot change into ${JSON.stringify(dir)}, the directory the command was typed in ` +
      `(${INVOCATION_DIR_VAR}): ${why}; run it from an existing directory, or unset ` +
      INVOCATION_DIR_VAR;
  }
  if (options.read === undefined) Deno.env.delete(INVOCATION_DIR_VAR);
  return null;
}

/** `BLIT_CWD` when this process may read it without a prompt, else `undefined`. */
function readInvocationDirVar(): string | undefined {
  const status = Deno.permissions.querySync({ name: "env", variable: INVOCATION_DIR_VAR });
  return status.state === "granted" ? Deno.env.get(INVOCATION_DIR_VAR) : undefined;
}
