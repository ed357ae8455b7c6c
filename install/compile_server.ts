/**
 * `blitd compile-server [-o PATH] [--dry-run] [blitd flags]`: compiles the daemon server for
 * one configuration (install/server_binary.ts). The configuration is loaded exactly as blitd
 * loads it (`--config FILE` and the same override flags), so give it the flags blitd will run
 * with.
 *
 * @module
 */

import { posix } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "../core/errors.ts";
import { formatCommandLine, parseBlitdArgs } from "../daemon/args.ts";
import type { BlitdArgs } from "../daemon/args.ts";
import type { DaemonConfig } from "../core/config.ts";
import { computeCompiledServerPermissions } from "../daemon/permissions.ts";
import { SERVER_BINARY_NAME, SERVER_BINARY_VAR } from "./command_lines.ts";
import { runDeno } from "./run_deno.ts";
import { compileServerCommand } from "./server_binary.ts";

/** The verb's name after `blitd`. */
export const COMPILE_SERVER_COMMAND = "compile-server";

/** Help of `blitd compile-server`. */
export const COMPILE_SERVER_HELP =
  `Usage: blitd compile-server --config FILE [-o PATH] [--dry-run] [blitd flags]

Compiles the daemon server (deno compile) with the permissions this configuration needs:
read for the exports, write for the writable ones, its listeners. A compiled blitd runs it
when ${SERVER_BINARY_VAR} names it (a path, or a name on PATH); it refuses to start when the
configuration has changed since (recompile then). Runs from a checkout, where deno compile
can fetch its runtime once.

  -o, --output PATH  the binary to write (default: ./dist/${SERVER_BINARY_NAME})
      --dry-run      print the deno compile command, run nothing
  --config FILE and blitd's override flags (--root, --port, --no-mdns, …) as for blitd`;

/** What `blitd compile-server` borrows from the launcher (which imports this module lazily). */
export interface CompileServerContext {
  /** Loads the configuration exactly as blitd does (`loadBlitdConfig` of daemon/main.ts). */
  loadConfig: (args: BlitdArgs) => Promise<{ config: DaemonConfig }>;
}

/**
 * Runs `blitd compile-server` and returns its exit code.
 *
 * @example Usage
 * ```ts ignore
 * Deno.exitCode = await runCompileServer(["--config", "/etc/blit/config.toml", "--dry-run"], {
 *   loadConfig: loadBlitdConfig,
 * });
 * ```
 *
 * @param argv The arguments after `compile-server`.
 * @param context How to load the configuration.
 * @throws {UsageError} For a bad flag.
 * @throws {Error} If the configuration cannot be loaded or deno compile fails (one line).
 * @returns 0 when done.
 */
export async function runCompileServer(
  argv: readonly string[],
  context: CompileServerContext,
): Promise<number> {
  let output = `dist/${SERVER_BINARY_NAME}`;
  let dryRun = false;
  const blitdArgs: string[] = [];
  for (let at = 0; at < argv.length; at++) {
    const word = argv[at] ?? "";
    if (word === "--help" || word === "-h") {
      console.log(COMPILE_SERVER_HELP);
      return 0;
    } else if (word === "--dry-run" || word === "-n") dryRun = true;
    else if (word === "-o" || word === "--output") {
      const value = argv[++at];
      if (value === undefined || value === "") {
        throw new UsageError(`Cannot use ${word} without a path: give the binary to write`);
      }
      output = value;
    } else if (word.startsWith("--output=")) output = word.slice("--output=".length);
    else blitdArgs.push(word);
  }
  const args = parseBlitdArgs(blitdArgs);
  if (args.printPermissions || args.printFingerprint || args.help) {
    throw new UsageError(
      `Cannot combine ${COMPILE_SERVER_COMMAND} with --print-permissions, ` +
        "--print-fingerprint or --help: run them alone",
    );
  }
  if (Deno.build.standalone) {
    throw new UsageError(
      `Cannot compile the server from a compiled blitd: run "deno task blitd ` +
        `${COMPILE_SERVER_COMMAND} …" in the blit checkout`,
    );
  }
  const { config } = await context.loadConfig(args);
  const flags = computeCompiledServerPermissions(config, { mdns: !config.noMdns });
  const checkout = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
  const command = compileServerCommand(flags, { checkout, output: posix.resolve(output) });
  if (dryRun) {
    console.log(formatCommandLine(command));
    return 0;
  }
  await Deno.mkdir(posix.dirname(posix.resolve(output)), { recursive: true });
  await runDeno(command, "compile the server", {
    fix: "deno compile downloads its runtime (denort) once: run it where dl.deno.land is " +
      "reachable, or point DENORT_BIN at a denort of this Deno version",
  });
  console.log(`compiled the server: ${posix.resolve(output)}`);
  return 0;
}
