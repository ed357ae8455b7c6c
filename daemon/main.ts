/**
 * The `blitd` command: reads the daemon configuration, computes the narrow Deno permissions of
 * the server process, and starts `daemon/server.ts` under a {@linkcode Supervisor}.
 *
 * The launcher itself needs `--allow-read` (config, exports, code), `--allow-run` (the server),
 * and `--allow-env` (the `BLITD_*` variables).
 *
 * @module
 */

import { posix } from "node:path";
import { fileURLToPath } from "node:url";
import {
  applyDaemonOverrides,
  type DaemonConfig,
  loadDaemonConfig,
  parseDaemonConfig,
  resolveDaemonPaths,
  validateExports,
} from "../core/config.ts";
import { describeError, UsageError } from "../core/errors.ts";
import {
  BLITD_HELP,
  type BlitdArgs,
  CONFIG_JSON_FLAG,
  DEFAULT_CONFIG_PATH,
  formatCommandLine,
  parseBlitdArgs,
  serializeServerConfig,
} from "./args.ts";
import { computeDaemonPermissions, formatPermissions } from "./permissions.ts";
import { Supervisor } from "./supervisor.ts";

/** Where the server's code lives and which Deno runs it. */
export interface ServerLocation {
  /** Absolute path of the checkout (the code and its `node_modules`). */
  repoRoot: string;
  /** Absolute path of the server script. */
  serverEntry: string;
  /** Deno executable. */
  deno: string;
}

/** The server process blitd starts. */
export interface ServerCommand {
  /** Program (the Deno executable). */
  command: string;
  /** `run`, the permission flags, the entry and `--config-json JSON`. */
  args: string[];
  /** The permission flags alone, as {@linkcode computeDaemonPermissions} returned them. */
  flags: string[];
}

/**
 * Finds the server's code and the Deno executable from the environment: `BLITD_HOME` (the
 * checkout; required by a `deno compile`d blitd), `BLITD_DENO`, and the test-only
 * `BLITD_SERVER_ENTRY`.
 *
 * @param env Reads one environment variable.
 * @throws {UsageError} If blitd is a compiled binary and `BLITD_HOME` is not set.
 * @returns Absolute paths of the checkout and the entry, and the Deno program.
 */
export function locateServer(env: (name: string) => string | undefined): ServerLocation {
  const standalone = Deno.build.standalone;
  const home = env("BLITD_HOME");
  if (standalone && (home === undefined || home === "")) {
    throw new UsageError(
      "Cannot locate daemon/server.ts: this blitd is a compiled binary, set BLITD_HOME to the " +
        "blit checkout",
    );
  }
  const repoRoot = home !== undefined && home !== ""
    ? posix.resolve(home)
    : fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
  const entry = env("BLITD_SERVER_ENTRY");
  const serverEntry = entry !== undefined && entry !== ""
    ? posix.resolve(entry)
    : `${repoRoot}/daemon/server.ts`;
  const deno = env("BLITD_DENO") || (standalone ? "deno" : Deno.execPath());
  return { repoRoot, serverEntry, deno };
}

/**
 * Builds the server's command line: `deno run <flags> <entry> --config-json <JSON>`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "../core/config.ts";
 * import { serverCommand } from "./main.ts";
 * const config = parseDaemonConfig("[daemon]\nbind = '127.0.0.1'\nroot = '/srv'\n");
 * const { command, args } = serverCommand(config, {
 *   repoRoot: "/opt/blit",
 *   serverEntry: "/opt/blit/daemon/server.ts",
 *   deno: "/usr/bin/deno",
 * });
 * strictEqual(command, "/usr/bin/deno");
 * strictEqual(args.includes("--allow-write=/srv"), true);
 * ```
 *
 * @param config The final configuration.
 * @param location Where the code is, and the config file (made readable) if one was used.
 * @throws {TypeError} If a path cannot be expressed as a permission (see
 * {@linkcode computeDaemonPermissions}).
 * @returns The program, its arguments and the permission flags.
 */
export function serverCommand(
  config: DaemonConfig,
  location: ServerLocation & { configPath?: string },
): ServerCommand {
  const { repoRoot, serverEntry, deno, configPath } = location;
  const flags = computeDaemonPermissions(config, {
    serverEntry,
    repoRoot,
    mdns: !config.noMdns,
    ...(configPath === undefined ? {} : { configPath }),
  });
  return {
    command: deno,
    args: ["run", ...flags, serverEntry, CONFIG_JSON_FLAG, serializeServerConfig(config)],
    flags,
  };
}

/**
 * Loads the configuration blitd runs with: the config file (the default one may be missing when
 * `--root` is given), then the command-line overrides; paths are resolved and the exports
 * checked.
 *
 * @param args The parsed command line.
 * @throws {Deno.errors.NotFound} If the config file, a module path or the root is missing.
 * @throws {SyntaxError} If the file is not valid TOML.
 * @throws {TypeError} If a value is invalid or nothing is exported.
 * @returns The configuration and the absolute path of the file used, if any.
 */
export async function loadBlitdConfig(
  args: BlitdArgs,
): Promise<{ config: DaemonConfig; configPath: string | undefined }> {
  let config: DaemonConfig;
  let configPath: string | undefined;
  if (args.config === undefined && !(await exists(DEFAULT_CONFIG_PATH))) {
    config = parseDaemonConfig("");
  } else {
    configPath = posix.resolve(args.config ?? DEFAULT_CONFIG_PATH);
    config = await loadDaemonConfig(configPath);
  }
  config = await resolveDaemonPaths(applyDaemonOverrides(config, args.overrides));
  validateExports(config);
  return { config, configPath };
}

/**
 * Runs `blitd` and returns its exit code; never throws. Bad flags or configuration print one
 * line on stderr and give 1.
 *
 * @param argv Command-line arguments.
 * @returns The exit code.
 */
export async function main(argv: string[]): Promise<number> {
  try {
    const args = parseBlitdArgs(argv);
    if (args.help) {
      console.log(BLITD_HELP);
      return 0;
    }
    const { config, configPath } = await loadBlitdConfig(args);
    const location = locateServer((name) => Deno.env.get(name));
    const server = serverCommand(config, {
      ...location,
      ...(configPath === undefined ? {} : { configPath }),
    });
    if (args.printPermissions) {
      console.log(formatPermissions(server.flags));
      console.log(formatCommandLine([server.command, ...server.args]));
      return 0;
    }
    if (!(await exists(location.serverEntry))) {
      throw new UsageError(
        `Cannot start server: "${location.serverEntry}" does not exist, check BLITD_HOME`,
      );
    }
    return await new Supervisor({ command: server.command, args: server.args }).run();
  } catch (error) {
    console.error(`blitd: ${describeError(error)}`);
    return 1;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    return true;
  }
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}
