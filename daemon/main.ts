/**
 * The `blitd` command: reads the daemon configuration, computes the narrow Deno permissions of
 * the server process, and starts `daemon/server.ts` under a {@linkcode Supervisor}.
 *
 * The launcher itself needs `--allow-read` (config, exports, code), `--allow-run` (the server),
 * `--allow-env` (the `BLITD_*` variables, and `XDG_STATE_HOME`/`HOME` for the default state
 * directory), and `--allow-write` for the state directory when it does not exist yet (the
 * launcher creates it with mode 0700, so that the sandboxed server may write there).
 *
 * Exit codes: 0 after a clean stop, 1 for bad flags, {@linkcode EXIT_NO_RESTART} (78) when the
 * configuration can never work (a malformed file, a missing export, a state directory that
 * cannot be created), so that systemd's `RestartPreventExitStatus=78` does not retry.
 *
 * @module
 */

import { posix } from "node:path";
import { fileURLToPath } from "node:url";
import {
  applyDaemonOverrides,
  configWarnings,
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
import { EXIT_NO_RESTART, Supervisor } from "./supervisor.ts";

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
 * const config = parseDaemonConfig(
 *   "[daemon]\nbind = '127.0.0.1'\nroot = '/srv'\nroot_anonymous_write = true\n" +
 *     "state_dir = '/var/lib/blit'\n",
 * );
 * const { command, args } = serverCommand(config, {
 *   repoRoot: "/opt/blit",
 *   serverEntry: "/opt/blit/daemon/server.ts",
 *   deno: "/usr/bin/deno",
 * });
 * strictEqual(command, "/usr/bin/deno");
 * strictEqual(args.includes("--allow-write=/srv,/var/lib/blit"), true);
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
 * @throws {UsageError} If a flag value is invalid (`--bind nas`, `--port 70000`, …).
 * @throws {Deno.errors.NotFound} If the config file, a module path, the root, a TLS file or the
 * audit log's directory is missing.
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
  try {
    config = applyDaemonOverrides(config, args.overrides);
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  config = await resolveDaemonPaths(config);
  validateExports(config);
  return { config, configPath };
}

/**
 * Creates the state directory with mode 0700 when it does not exist yet (the sandboxed server
 * may write there but cannot create it outside its permissions), and returns the configuration
 * with the directory's real path.
 *
 * Requires `--allow-read` for the directory and, when it is missing, `--allow-write` for it.
 *
 * @example Usage
 * ```ts ignore
 * import { prepareStateDir } from "./main.ts";
 * const ready = await prepareStateDir(config);
 * ```
 *
 * @param config The final configuration.
 * @throws {Error} If the directory cannot be created or is not a directory (one line naming
 *   the path and the fix).
 * @returns A copy of `config` whose `stateDir` is a real path.
 */
export async function prepareStateDir(config: DaemonConfig): Promise<DaemonConfig> {
  const dir = config.stateDir;
  const quoted = JSON.stringify(dir);
  try {
    if (!(await exists(dir))) {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      await Deno.chmod(dir, 0o700); // the umask may have removed bits
    }
    const real = await Deno.realPath(dir);
    if (!(await Deno.stat(real)).isDirectory) {
      throw new Deno.errors.NotADirectory(
        `Cannot use state directory ${quoted}: it is not a directory; set state_dir or ` +
          "--state-dir to a directory",
      );
    }
    return { ...config, stateDir: real };
  } catch (error) {
    if (error instanceof Deno.errors.NotADirectory) throw error;
    throw new Error(
      `Cannot create state directory ${quoted}: ${describeError(error)}; create it with ` +
        `mkdir -m 700 ${quoted}, or set state_dir (or --state-dir) to a directory blitd may write`,
      { cause: error },
    );
  }
}

/**
 * Runs `blitd` and returns its exit code; never throws. Bad flags print one line on stderr and
 * give 1; a configuration that cannot work prints one line and gives
 * {@linkcode EXIT_NO_RESTART} (78). Before the server starts, each of
 * {@linkcode configWarnings} is printed as `blitd: warning: …`.
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
    let config: DaemonConfig;
    let configPath: string | undefined;
    try {
      ({ config, configPath } = await loadBlitdConfig(args));
    } catch (error) {
      if (error instanceof UsageError) throw error;
      console.error(`blitd: ${describeError(error)}`);
      return EXIT_NO_RESTART;
    }
    const location = locateServer((name) => Deno.env.get(name));
    if (args.printPermissions) {
      const server = serverCommand(config, {
        ...location,
        ...(configPath === undefined ? {} : { configPath }),
      });
      console.log(formatPermissions(server.flags));
      console.log(formatCommandLine([server.command, ...server.args]));
      return 0;
    }
    if (args.printFingerprint) return await printFingerprint(config);
    if (!(await exists(location.serverEntry))) {
      throw new UsageError(
        `Cannot start server: "${location.serverEntry}" does not exist, check BLITD_HOME`,
      );
    }
    try {
      config = await prepareStateDir(config);
    } catch (error) {
      console.error(`blitd: ${describeError(error)}`);
      return EXIT_NO_RESTART;
    }
    const server = serverCommand(config, {
      ...location,
      ...(configPath === undefined ? {} : { configPath }),
    });
    for (const line of configWarnings(config)) console.error(`blitd: warning: ${line}`);
    return await new Supervisor({ command: server.command, args: server.args }).run();
  } catch (error) {
    console.error(`blitd: ${describeError(error)}`);
    return 1;
  }
}

/**
 * Prints the SHA-256 fingerprint of the daemon's certificate (generating it in the state
 * directory on first use, as the server would), for clients to compare with what they pin.
 */
async function printFingerprint(config: DaemonConfig): Promise<number> {
  if (!config.tls) {
    console.error("blitd: Cannot print a fingerprint: tls = false, the daemon has no certificate");
    return 1;
  }
  try {
    const prepared = await prepareStateDir(config);
    const { loadOrCreateServerCertificate } = await import("../core/tls_cert.ts");
    const { fingerprint } = await loadOrCreateServerCertificate(prepared.stateDir, {
      certPath: prepared.tlsCert,
      keyPath: prepared.tlsKey,
    });
    console.log(fingerprint);
    return 0;
  } catch (error) {
    console.error(`blitd: ${describeError(error)}`);
    return EXIT_NO_RESTART;
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
