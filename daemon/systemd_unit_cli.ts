/**
 * `blitd systemd-unit`: reads the configuration and the host's layout and prints the service
 * unit that {@linkcode renderSystemdUnit} computes from them.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { posix } from "node:path";
import { fileURLToPath } from "node:url";
import { explainArgs } from "../cmdline/explain_args.ts";
import { loadDaemonConfig, validateExports } from "../core/config.ts";
import { describeError, UsageError } from "../core/errors.ts";
import { readNamespaceLayout } from "./confinement.ts";
import {
  DEFAULT_SERVICE_DENO_DIR,
  DEFAULT_SERVICE_USER,
  isServiceUser,
  renderSystemdUnit,
  SERVICE_STATE_HOME,
} from "./systemd_unit.ts";
import type { TopLevelEntry } from "./systemd_view.ts";

/** Subcommand word of `blitd` that prints the unit. */
export const SYSTEMD_UNIT_COMMAND = "systemd-unit";

/** Help text of `blitd systemd-unit`. */
export const SYSTEMD_UNIT_HELP =
  `blitd systemd-unit: print a systemd service unit for a configuration

Usage:
  blitd systemd-unit --config FILE [--user NAME] [--deno PATH] [--blit-home DIR]
                     [--deno-dir DIR] > /etc/systemd/system/blitd.service

Options:
  --config FILE     The daemon's config file (required)
  --user NAME       User the service runs as (default ${DEFAULT_SERVICE_USER}; root keeps the
                    few capabilities a file server needs)
  --deno PATH       Deno that runs blitd (default: the running one; required by a
                    compiled blitd)
  --blit-home DIR   The blit checkout (default: BLITD_HOME, else the checkout this blitd
                    runs from)
  --deno-dir DIR    Deno's cache for the service, prepared before the first start
                    (default ${DEFAULT_SERVICE_DENO_DIR})
  -h, --help        Show this help

The unit gives the service the view of blitd's own mount namespace: the system, the runtime
and the code read-only, the config file and TLS files read-only, the state directory and the
audit log's directory writable, writable exports read-write, read-only exports read-only, and
nothing else. blitd then runs with --confinement systemd. Generate the unit again after every
change to the configuration.
`;

/** The parsed arguments of `blitd systemd-unit`. */
export interface SystemdUnitArgs {
  /** `--config FILE`, as given. */
  config: string;
  /** `--user NAME`. */
  user: string;
  /** `--deno PATH`, or `undefined` for the running Deno. */
  deno: string | undefined;
  /** `--blit-home DIR`, or `undefined` for this checkout. */
  blitHome: string | undefined;
  /** `--deno-dir DIR`. */
  denoDir: string;
  /** `--help`. */
  help: boolean;
}

const OPTIONS = {
  config: { type: "string" },
  user: { type: "string" },
  deno: { type: "string" },
  "blit-home": { type: "string" },
  "deno-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Parses the arguments after `blitd systemd-unit`.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual, throws } from "node:assert/strict";
 * import { parseSystemdUnitArgs } from "./systemd_unit_cli.ts";
 * deepStrictEqual(parseSystemdUnitArgs(["--config", "/etc/blit/config.toml"]), {
 *   config: "/etc/blit/config.toml",
 *   user: "blit",
 *   deno: undefined,
 *   blitHome: undefined,
 *   denoDir: "/var/cache/blit/deno",
 *   help: false,
 * });
 * throws(() => parseSystemdUnitArgs([]), /^UsageError: Cannot write a systemd unit without --config/);
 * throws(() => parseSystemdUnitArgs(["--config", "c", "--user", "a b"]), /Cannot use --user "a b"/);
 * ```
 *
 * @param args The arguments after the subcommand word.
 * @throws {UsageError} For an unknown flag, a missing `--config`, a user name systemd does not
 * accept, or an empty path.
 * @returns The arguments.
 */
export function parseSystemdUnitArgs(args: string[]): SystemdUnitArgs {
  const { values } = explainArgs(
    `blitd ${SYSTEMD_UNIT_COMMAND}`,
    () => parseArgs({ args, options: OPTIONS }),
  );
  const help = values.help ?? false;
  for (const flag of ["config", "deno", "blit-home", "deno-dir"] as const) {
    const value = values[flag];
    if (value !== undefined && (value === "" || value.includes("\0"))) {
      throw new UsageError(`Cannot use --${flag} ${JSON.stringify(value)}: give a path`);
    }
  }
  if (values.config === undefined && !help) {
    throw new UsageError(
      `Cannot write a systemd unit without --config: give the daemon's config file ` +
        `(blitd ${SYSTEMD_UNIT_COMMAND} --config /etc/blit/config.toml)`,
    );
  }
  const user = values.user ?? DEFAULT_SERVICE_USER;
  if (!isServiceUser(user)) {
    throw new UsageError(
      `Cannot use --user ${JSON.stringify(user)}: give a user name such as blit or root ` +
        "(letters, digits, _ and -, starting with a letter or _, at most 31 characters)",
    );
  }
  return {
    config: values.config ?? "",
    user,
    deno: values.deno,
    blitHome: values["blit-home"],
    denoDir: values["deno-dir"] ?? DEFAULT_SERVICE_DENO_DIR,
    help,
  };
}

/**
 * Runs `blitd systemd-unit`: prints the unit on standard output and returns 0, or prints one
 * line on standard error and returns 1. A warning (`blitd: warning: …`) goes to standard error
 * when Deno's cache for the service does not exist yet.
 *
 * Requires `--allow-read` (the configuration, the exports, `/`, the checkout and Deno).
 *
 * @example Usage
 * ```ts ignore
 * Deno.exitCode = await runSystemdUnit(parseSystemdUnitArgs(["--config", "blitd.toml"]));
 * ```
 *
 * @param args The parsed arguments.
 * @returns The exit code.
 */
export async function runSystemdUnit(args: SystemdUnitArgs): Promise<number> {
  if (args.help) {
    console.log(SYSTEMD_UNIT_HELP);
    return 0;
  }
  try {
    const configFile = posix.resolve(args.config);
    const config = await loadDaemonConfig(configFile, {
      env: { XDG_STATE_HOME: SERVICE_STATE_HOME },
    });
    validateExports(config);
    const configPath = await Deno.realPath(configFile);
    const repoRoot = await checkout(args.blitHome);
    const denoDir = posix.resolve(args.denoDir);
    const layout = await readNamespaceLayout({
      repoRoot,
      serverEntry: `${repoRoot}/daemon/server.ts`,
      deno: await program(args.deno ?? runningDeno()),
      denoDir,
    });
    const unit = renderSystemdUnit(config, {
      configPath,
      user: args.user,
      layout,
      topLevel: await topLevelEntries(),
      launcherFlags: await launcherFlags(repoRoot),
      denoDir: layout.denoDir ?? denoDir,
    });
    if (layout.denoDir === null) {
      console.error(
        `blitd: warning: Deno's cache ${denoDir} does not exist yet: prepare it before the ` +
          `first start (cd ${repoRoot} && DENO_DIR=${denoDir} deno cache daemon/main.ts ` +
          "daemon/server.ts)",
      );
    }
    await Deno.stdout.write(new TextEncoder().encode(unit));
    return 0;
  } catch (error) {
    console.error(`blitd: ${describeError(error)}`);
    return 1;
  }
}

/**
 * The real path of the blit checkout (`--blit-home`, else `BLITD_HOME`, else the checkout this
 * blitd runs from), checked to hold the launcher, the server and deno.json.
 */
async function checkout(blitHome: string | undefined): Promise<string> {
  const home = blitHome ?? (Deno.env.get("BLITD_HOME") || undefined);
  if (home === undefined && Deno.build.standalone) {
    throw new UsageError(
      "Cannot locate blit's checkout: this blitd is a compiled binary, give --blit-home DIR",
    );
  }
  const given = home ?? fileURLToPath(new URL("..", import.meta.url));
  let root: string;
  try {
    root = await Deno.realPath(given);
  } catch (error) {
    throw new Error(
      `Cannot use --blit-home ${JSON.stringify(given)}: ${describeError(error)}; give the blit ` +
        "checkout",
      { cause: error },
    );
  }
  for (const file of ["daemon/main.ts", "daemon/server.ts", "deno.json"]) {
    if (!(await Deno.stat(`${root}/${file}`).then((info) => info.isFile, () => false))) {
      throw new Error(
        `Cannot use ${JSON.stringify(root)} as blit's checkout: it has no ${file}; give the ` +
          "checkout with --blit-home",
      );
    }
  }
  return root;
}

/** The running Deno, which a compiled blitd is not. */
function runningDeno(): string {
  if (Deno.build.standalone) {
    throw new UsageError(
      "Cannot tell which Deno runs blitd: this blitd is a compiled binary, give --deno PATH",
    );
  }
  return Deno.execPath();
}

/** The real path of the Deno executable. */
async function program(path: string): Promise<string> {
  try {
    const real = await Deno.realPath(path);
    if ((await Deno.stat(real)).isFile) return real;
  } catch { /* said below */ }
  throw new Error(
    `Cannot use --deno ${JSON.stringify(path)}: it is not an executable file; give the path of ` +
      "the Deno that runs blitd",
  );
}

/** The `deno run` flags of the `blitd` task in the checkout's deno.json. */
async function launcherFlags(repoRoot: string): Promise<string[]> {
  const file = `${repoRoot}/deno.json`;
  let task: unknown;
  try {
    const json = JSON.parse(await Deno.readTextFile(file)) as { tasks?: Record<string, unknown> };
    task = json.tasks?.blitd;
  } catch (error) {
    throw new Error(`Cannot read ${file}: ${describeError(error)}; repair the checkout`, {
      cause: error,
    });
  }
  // Skip the task's leading variable assignments (BLIT_CWD="$INIT_CWD").
  const all = typeof task === "string" ? task.trim().split(/\s+/) : [];
  const words = all.slice(Math.max(0, all.findIndex((w) => !/^[A-Za-z_]\w*=/.test(w))));
  const entry = words.indexOf("daemon/main.ts");
  if (words[0] !== "deno" || words[1] !== "run" || entry < 0) {
    throw new Error(
      `Cannot read the blitd task of ${file}: it is not "deno run FLAGS daemon/main.ts"; ` +
        "repair the checkout",
    );
  }
  return words.slice(2, entry);
}

/** The entries of `/`, sorted. */
async function topLevelEntries(): Promise<TopLevelEntry[]> {
  const entries: TopLevelEntry[] = [];
  for await (const entry of Deno.readDir("/")) {
    entries.push({
      path: `/${entry.name}`,
      kind: entry.isSymlink ? "symlink" : entry.isDirectory ? "directory" : "file",
    });
  }
  return entries.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}
