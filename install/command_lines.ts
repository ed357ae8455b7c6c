/**
 * The `deno install`, `deno uninstall` and `deno compile` command lines of the three programs,
 * derived from their deno.json tasks (install/tool_tasks.ts): the same permission flags, this
 * checkout's deno.json and lock, and nothing fetched (`--cached-only`).
 *
 * @module
 */

import type { ToolName, ToolTask } from "./tool_tasks.ts";

/**
 * Modules started as workers (`new Worker(new URL(...))`), which `deno compile` does not find
 * in the static module graph and must `--include`, relative to the checkout.
 */
export const WORKER_MODULES: readonly string[] = [
  "core/copy_worker.ts",
  "core/session/dest_scan_worker.ts",
];

/** The worker modules each compiled program needs (those its module graph starts). */
export const COMPILE_INCLUDES: Readonly<Record<ToolName, readonly string[]>> = {
  "blit": WORKER_MODULES,
  "blitd": [],
  "blit-utils": [],
};

/**
 * The name a compiled daemon server has on `PATH`. A compiled `blitd` may run only this
 * program (and `deno`, `bwrap`): Deno fixes `--allow-run` when it compiles the launcher.
 */
export const SERVER_BINARY_NAME = "blitd-server";

/** The variable naming the compiled server a compiled `blitd` runs. */
export const SERVER_BINARY_VAR = "BLITD_SERVER_BINARY";

/** Where the checkout is and where programs go. */
export interface InstallPaths {
  /** Absolute path of the checkout (holds deno.json and deno.lock). */
  checkout: string;
  /** Absolute installation root: programs go to `ROOT/bin`. */
  root: string;
}

/**
 * The lock `deno install -g` checks the packages against: a copy of the checkout's lock,
 * staged beside the installation (`deno install -g` adds a `links` entry for the checkout's own
 * package to the lock it is given, so the checkout's file is never handed over).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { stagedLockPath } from "./command_lines.ts";
 * strictEqual(stagedLockPath("blit", "/r"), "/r/bin/.blit.deno.lock");
 * ```
 *
 * @param name The program.
 * @param root The installation root.
 * @returns The path.
 */
export function stagedLockPath(name: ToolName, root: string): string {
  return `${root}/bin/.${name}.deno.lock`;
}

/**
 * Where the installed program's lock goes after the install: beside the copy of deno.json that
 * `deno install -g` keeps in `ROOT/bin/.NAME/`, where the installed program's `deno run` finds
 * it (without it Deno resolves the npm packages again, which fails offline).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { installedLockPath } from "./command_lines.ts";
 * strictEqual(installedLockPath("blitd", "/r"), "/r/bin/.blitd/deno.lock");
 * ```
 *
 * @param name The program.
 * @param root The installation root.
 * @returns The path.
 */
export function installedLockPath(name: ToolName, root: string): string {
  return `${root}/bin/.${name}/deno.lock`;
}

/**
 * `deno install -g --force` of one program with its task's flags.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { installCommand } from "./command_lines.ts";
 * deepStrictEqual(
 *   installCommand({ name: "blit", entry: "cli/main.ts", flags: ["--allow-read"] }, {
 *     checkout: "/src/blit",
 *     root: "/r",
 *   }).join(" "),
 *   "deno install -g --force --root /r --name blit --config /src/blit/deno.json " +
 *     "--lock /r/bin/.blit.deno.lock --cached-only --allow-read /src/blit/cli/main.ts",
 * );
 * ```
 *
 * @param task The program's task.
 * @param paths The checkout and the installation root.
 * @returns The program and its arguments.
 */
export function installCommand(task: ToolTask, paths: InstallPaths): string[] {
  return [
    "deno",
    "install",
    "-g",
    "--force",
    "--root",
    paths.root,
    "--name",
    task.name,
    "--config",
    `${paths.checkout}/deno.json`,
    "--lock",
    stagedLockPath(task.name, paths.root),
    "--cached-only",
    ...task.flags,
    `${paths.checkout}/${task.entry}`,
  ];
}

/**
 * `deno uninstall -g` of one program.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { uninstallCommand } from "./command_lines.ts";
 * deepStrictEqual(uninstallCommand("blitd", "/r"), ["deno", "uninstall", "-g", "--root", "/r", "blitd"]);
 * ```
 *
 * @param name The program.
 * @param root The installation root.
 * @returns The program and its arguments.
 */
export function uninstallCommand(name: ToolName, root: string): string[] {
  return ["deno", "uninstall", "-g", "--root", root, name];
}

/**
 * The permission flags a compiled program gets: its task's, and for `blitd` also the right to
 * read {@linkcode SERVER_BINARY_VAR} and to run {@linkcode SERVER_BINARY_NAME}.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { compiledFlags } from "./command_lines.ts";
 * deepStrictEqual(
 *   compiledFlags({ name: "blitd", entry: "daemon/main.ts", flags: ["--allow-run=deno,bwrap", "--allow-env=HOME"] }),
 *   ["--allow-run=deno,bwrap,blitd-server", "--allow-env=HOME,BLITD_SERVER_BINARY"],
 * );
 * ```
 *
 * @param task The program's task.
 * @returns The flags.
 */
export function compiledFlags(task: ToolTask): string[] {
  if (task.name !== "blitd") return [...task.flags];
  return task.flags.map((flag) => {
    if (flag.startsWith("--allow-run=")) return `${flag},${SERVER_BINARY_NAME}`;
    if (flag.startsWith("--allow-env=")) return `${flag},${SERVER_BINARY_VAR}`;
    return flag;
  });
}

/**
 * The options every `deno compile` of blit gets: this checkout's deno.json and lock, the lock
 * frozen, nothing fetched but Deno's runtime.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { compileOptions } from "./command_lines.ts";
 * deepStrictEqual(compileOptions("/b"), [
 *   "--config", "/b/deno.json", "--lock", "/b/deno.lock", "--frozen", "--cached-only",
 * ]);
 * ```
 *
 * @param checkout Absolute path of the checkout.
 * @returns The options.
 */
export function compileOptions(checkout: string): string[] {
  return [
    "--config",
    `${checkout}/deno.json`,
    "--lock",
    `${checkout}/deno.lock`,
    "--frozen",
    "--cached-only",
  ];
}

/**
 * `deno compile` of one program into `outDir/NAME`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { compileCommand } from "./command_lines.ts";
 * strictEqual(
 *   compileCommand({ name: "blit-utils", entry: "utils/main.ts", flags: ["--allow-net"] }, {
 *     checkout: "/b",
 *     outDir: "/b/dist",
 *   }).join(" "),
 *   "deno compile --config /b/deno.json --lock /b/deno.lock --frozen --cached-only " +
 *     "--allow-net -o /b/dist/blit-utils /b/utils/main.ts",
 * );
 * ```
 *
 * @param task The program's task.
 * @param paths The checkout and the output directory (both absolute).
 * @returns The program and its arguments.
 */
export function compileCommand(
  task: ToolTask,
  paths: { checkout: string; outDir: string },
): string[] {
  return [
    "deno",
    "compile",
    ...compileOptions(paths.checkout),
    ...compiledFlags(task),
    ...COMPILE_INCLUDES[task.name].flatMap((
      module,
    ) => ["--include", `${paths.checkout}/${module}`]),
    "-o",
    `${paths.outDir}/${task.name}`,
    `${paths.checkout}/${task.entry}`,
  ];
}
