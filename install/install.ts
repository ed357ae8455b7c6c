/**
 * `deno task install`, `deno task uninstall` and `deno task compile`: put `blit`, `blitd` and
 * `blit-utils` on the PATH with `deno install -g` (each with exactly its deno.json task's
 * permissions, this checkout's deno.json and lock, nothing fetched), remove them again, or
 * build them with `deno compile` into `dist/`.
 *
 * ```
 * deno run --allow-read --allow-write --allow-env --allow-run=deno install/install.ts \
 *   install|uninstall|compile [--dry-run] [--root DIR] [--out DIR]
 * ```
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import { formatCommandLine } from "../daemon/args.ts";
import { enterInvocationDir } from "../cmdline/invocation_dir.ts";
import {
  compileCommand,
  installCommand,
  installedLockPath,
  stagedLockPath,
  uninstallCommand,
} from "./command_lines.ts";
import { readToolTasks, type ToolTask } from "./tool_tasks.ts";
import { runDeno } from "./run_deno.ts";

/** Help of the installer. */
export const INSTALL_HELP =
  `Usage: deno task install|uninstall|compile [--dry-run] [--root DIR] [--out DIR]

  install     put blit, blitd and blit-utils in ROOT/bin (deno install -g --force)
  uninstall   remove them from ROOT/bin (deno uninstall -g)
  compile     build the three into DIR (default: dist/ of the checkout; deno compile)

  --root DIR  installation root; default $BLIT_INSTALL_ROOT, else $DENO_INSTALL_ROOT,
              else ~/.deno
  --out DIR   where compile writes the programs
  --dry-run   print the commands, run nothing

Run "deno install" in the checkout once first: the installed programs use the packages it
cached and fetch nothing.`;

/** What the installer was asked to do. */
export interface InstallRequest {
  /** The verb. */
  verb: "install" | "uninstall" | "compile";
  /** Print the commands only. */
  dryRun: boolean;
  /** Absolute installation root. */
  root: string;
  /** Absolute output directory of `compile`. */
  outDir: string;
}

/** Where the checkout is: the parent of this file's directory. */
export const CHECKOUT: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * Parses the installer's arguments. Relative `--root` and `--out` are resolved against `cwd`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { parseInstallArgs } from "./install.ts";
 * const request = parseInstallArgs(["install", "--root", "tools"], {
 *   cwd: "/home/ann",
 *   env: () => undefined,
 *   checkout: "/src/blit",
 * });
 * strictEqual(typeof request === "string" ? request : request.root, "/home/ann/tools");
 * ```
 *
 * @param argv The arguments.
 * @param context The working directory, the environment and the checkout.
 * @returns The request, or "help", or one line starting "Cannot".
 */
export function parseInstallArgs(
  argv: readonly string[],
  context: { cwd: string; env: (name: string) => string | undefined; checkout: string },
): InstallRequest | "help" | string {
  const [verb, ...rest] = argv;
  if (verb === "--help" || verb === "-h" || verb === "help") return "help";
  if (verb !== "install" && verb !== "uninstall" && verb !== "compile") {
    return `Cannot run ${verb === undefined ? "without a verb" : `"${verb}"`}: use install, ` +
      "uninstall or compile (--help for more)";
  }
  const absolute = (path: string): string =>
    path.startsWith("/") ? path : `${context.cwd}/${path}`.replace(/\/+$/, "");
  const home = context.env("HOME") ?? "";
  let root = context.env("BLIT_INSTALL_ROOT") || context.env("DENO_INSTALL_ROOT") ||
    `${home}/.deno`;
  let outDir = `${context.checkout}/dist`;
  let dryRun = false;
  for (let at = 0; at < rest.length; at++) {
    const word = rest[at] ?? "";
    if (word === "--dry-run" || word === "-n") dryRun = true;
    else if (word === "--help" || word === "-h") return "help";
    else if (word === "--root" || word === "--out") {
      const value = rest[++at];
      if (value === undefined || value === "") return `Cannot use ${word} without a directory`;
      if (word === "--root") root = value;
      else outDir = value;
    } else return `Cannot use "${word}": run with --help for the options`;
  }
  if (root === "/.deno") return "Cannot find an installation root: set HOME or give --root DIR";
  return { verb, dryRun, root: absolute(root), outDir: absolute(outDir) };
}

/**
 * Runs the installer and returns its exit code; never throws. Each program's result is one
 * line; a failure is one line starting "Cannot".
 *
 * @example Usage
 * ```ts ignore
 * Deno.exitCode = await runInstaller(["install", "--dry-run"]);
 * ```
 *
 * @param argv The arguments.
 * @returns 0 when done, 1 on a failure.
 */
export async function runInstaller(argv: readonly string[]): Promise<number> {
  const request = parseInstallArgs(argv, {
    cwd: Deno.cwd(),
    env: (name) => Deno.env.get(name),
    checkout: CHECKOUT,
  });
  if (request === "help") {
    console.log(INSTALL_HELP);
    return 0;
  }
  if (typeof request === "string") {
    console.error(`install: ${request}`);
    return 1;
  }
  try {
    const tasks = readToolTasks(await Deno.readTextFile(`${CHECKOUT}/deno.json`));
    for (const task of tasks) {
      if (request.verb === "install") await install(task, request);
      else if (request.verb === "uninstall") await uninstall(task, request);
      else await compile(task, request);
    }
  } catch (error) {
    console.error(`install: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  if (request.verb === "install" && !request.dryRun) pathHint(`${request.root}/bin`);
  return 0;
}

async function install(task: ToolTask, request: InstallRequest): Promise<void> {
  const { root, dryRun } = request;
  const staged = stagedLockPath(task.name, root);
  const installed = installedLockPath(task.name, root);
  const command = installCommand(task, { checkout: CHECKOUT, root });
  if (dryRun) {
    console.log(formatCommandLine(["cp", `${CHECKOUT}/deno.lock`, staged]));
    console.log(formatCommandLine(command));
    console.log(formatCommandLine(["mv", staged, installed]));
    return;
  }
  await Deno.mkdir(`${root}/bin`, { recursive: true });
  const lockText = await Deno.readTextFile(`${CHECKOUT}/deno.lock`);
  await Deno.writeTextFile(staged, lockText);
  try {
    await runDeno(command, `install ${task.name}`, {
      fix: `run "deno install" in ${CHECKOUT} first (it caches the packages), then try again`,
    });
    // The lock deno install was given may only have gained the checkout's own package link.
    const after = JSON.parse(await Deno.readTextFile(staged)) as {
      workspace?: Record<string, unknown>;
    };
    delete after.workspace?.links;
    if (!isDeepStrictEqual(after, JSON.parse(lockText))) {
      throw new Error(
        `Cannot install ${task.name}: deno install resolved packages other than deno.lock ` +
          `names; run "deno install" in ${CHECKOUT} and try again`,
      );
    }
    await Deno.rename(staged, installed);
  } finally {
    await Deno.remove(staged).catch(() => {});
  }
  console.log(`installed ${task.name}: ${root}/bin/${task.name}`);
}

async function uninstall(task: ToolTask, request: InstallRequest): Promise<void> {
  const { root, dryRun } = request;
  const command = uninstallCommand(task.name, root);
  if (dryRun) {
    console.log(formatCommandLine(command));
    return;
  }
  if (!(await Deno.lstat(`${root}/bin/${task.name}`).then(() => true, () => false))) {
    console.log(`not installed: ${root}/bin/${task.name}`);
    return;
  }
  await runDeno(command, `uninstall ${task.name}`, { fix: `remove ${root}/bin/${task.name}` });
  console.log(`removed ${task.name}: ${root}/bin/${task.name}`);
}

async function compile(task: ToolTask, request: InstallRequest): Promise<void> {
  const command = compileCommand(task, { checkout: CHECKOUT, outDir: request.outDir });
  if (request.dryRun) {
    console.log(formatCommandLine(command));
    return;
  }
  await Deno.mkdir(request.outDir, { recursive: true });
  await runDeno(command, `compile ${task.name}`, {
    fix: "deno compile downloads its runtime (denort) once: run it where dl.deno.land is " +
      "reachable, or point DENORT_BIN at a denort of this Deno version",
  });
  console.log(`compiled ${task.name}: ${request.outDir}/${task.name}`);
}

/** Says how to put the directory on PATH when it is not there. */
function pathHint(bin: string): void {
  const path = (Deno.env.get("PATH") ?? "").split(":");
  if (!path.includes(bin)) console.log(`add ${bin} to PATH: export PATH="${bin}:$PATH"`);
}

if (import.meta.main) {
  const cannotEnter = enterInvocationDir();
  if (cannotEnter !== null) {
    console.error(`install: ${cannotEnter}`);
    Deno.exit(1);
  }
  Deno.exitCode = await runInstaller(Deno.args);
}
