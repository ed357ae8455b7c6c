/**
 * The one source of the three programs' permissions: the `blit`, `blitd` and `blit-utils` tasks
 * of deno.json. The installer and the compile step read the flags from there, so a permission
 * added to a task reaches the installed and the compiled program too.
 *
 * @module
 */

/** The programs blit installs and compiles. */
export type ToolName = "blit" | "blitd" | "blit-utils";

/** The programs, in the order they are installed and compiled. */
export const TOOL_NAMES: readonly ToolName[] = ["blit", "blitd", "blit-utils"];

/** A program as its deno.json task runs it. */
export interface ToolTask {
  /** The task's name, which is also the program's. */
  name: ToolName;
  /** The entry module, relative to the checkout (`cli/main.ts`). */
  entry: string;
  /** The `deno run` permission flags, in the task's order. */
  flags: string[];
}

const ASSIGNMENT_REGEXP = /^[A-Za-z_][A-Za-z0-9_]*=/;

/**
 * Reads the three programs' tasks from the text of deno.json. A task is
 * `[NAME=VALUE ...] deno run FLAGS ENTRY` (the assignments, such as `BLIT_CWD="$INIT_CWD"`, are
 * for `deno task` only and are skipped).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { readToolTasks } from "./tool_tasks.ts";
 * const tasks = readToolTasks(JSON.stringify({
 *   tasks: {
 *     "blit": 'BLIT_CWD="$INIT_CWD" deno run --allow-read cli/main.ts',
 *     "blitd": "deno run --allow-run=deno daemon/main.ts",
 *     "blit-utils": "deno run --allow-net utils/main.ts",
 *   },
 * }));
 * deepStrictEqual(tasks[0], { name: "blit", entry: "cli/main.ts", flags: ["--allow-read"] });
 * ```
 *
 * @param denoJson The text of deno.json.
 * @throws {Error} If the file is not JSON or a task is missing or of another form (one line
 * starting "Cannot").
 * @returns The tasks of {@linkcode TOOL_NAMES}, in that order.
 */
export function readToolTasks(denoJson: string): ToolTask[] {
  let tasks: Record<string, unknown> | undefined;
  try {
    tasks = (JSON.parse(denoJson) as { tasks?: Record<string, unknown> }).tasks;
  } catch (error) {
    throw new Error(
      `Cannot read deno.json: ${error instanceof Error ? error.message : String(error)}; ` +
        "repair the checkout",
    );
  }
  return TOOL_NAMES.map((name) => parseTask(name, tasks?.[name]));
}

function parseTask(name: ToolName, task: unknown): ToolTask {
  const words = typeof task === "string" ? task.trim().split(/\s+/) : [];
  let at = 0;
  while (at < words.length && ASSIGNMENT_REGEXP.test(words[at] ?? "")) at++;
  const rest = words.slice(at);
  const entryAt = rest.findIndex((word, index) => index >= 2 && !word.startsWith("-"));
  const entry = rest[entryAt];
  const flags = rest.slice(2, entryAt);
  if (
    rest[0] !== "deno" || rest[1] !== "run" || entry === undefined || !entry.endsWith(".ts") ||
    entryAt !== rest.length - 1 || flags.some((flag) => !flag.startsWith("--allow-"))
  ) {
    throw new Error(
      `Cannot read the "${name}" task of deno.json: it is not "deno run --allow-… ENTRY.ts"; ` +
        "repair deno.json",
    );
  }
  return { name, entry, flags };
}
