/**
 * A `deno compile`d daemon server. A compiled program's permissions are fixed when it is
 * built, while blitd computes the server's sandbox from its configuration at every start. So
 * the server is compiled for one configuration (`blitd compile-server --config FILE`), with the
 * flags `computeCompiledServerPermissions` (daemon/permissions.ts) gives for it, and those flags are baked
 * into the binary as its first argument (`--compiled-permissions=[…]`). blitd, given the binary
 * in `BLITD_SERVER_BINARY`, computes the flags the current configuration needs and passes them
 * (`--expected-permissions=[…]`); the binary refuses to start, with one line and exit 78, when
 * the two differ in any flag — too few would fail transfers, too many would widen the sandbox.
 *
 * @module
 */

import { posix } from "node:path";
import {
  compileOptions,
  SERVER_BINARY_NAME,
  SERVER_BINARY_VAR,
  WORKER_MODULES,
} from "./command_lines.ts";

/** The baked first argument of a compiled server: its permission flags as JSON. */
export const COMPILED_PERMISSIONS_ARG = "--compiled-permissions=";

/** The argument blitd passes a compiled server: the flags the configuration needs, as JSON. */
export const EXPECTED_PERMISSIONS_ARG = "--expected-permissions=";

/** The compiled server's entry module, relative to the checkout. */
export const COMPILED_SERVER_ENTRY = "install/compiled_server.ts";

/**
 * `deno compile` of the daemon server with the permission flags of one configuration.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { compileServerCommand } from "./server_binary.ts";
 * const words = compileServerCommand(["--no-prompt", "--allow-read=/srv"], {
 *   checkout: "/b",
 *   output: "/b/dist/blitd-server",
 * });
 * strictEqual(words.at(-1), '--compiled-permissions=["--no-prompt","--allow-read=/srv"]');
 * strictEqual(words.at(-2), "/b/install/compiled_server.ts");
 * ```
 *
 * @param flags The flags from `computeCompiledServerPermissions` (daemon/permissions.ts).
 * @param paths The checkout and the binary to write (both absolute).
 * @returns The program and its arguments.
 */
export function compileServerCommand(
  flags: readonly string[],
  paths: { checkout: string; output: string },
): string[] {
  return [
    "deno",
    "compile",
    ...compileOptions(paths.checkout),
    ...flags,
    ...WORKER_MODULES.flatMap((module) => ["--include", `${paths.checkout}/${module}`]),
    "-o",
    paths.output,
    `${paths.checkout}/${COMPILED_SERVER_ENTRY}`,
    `${COMPILED_PERMISSIONS_ARG}${JSON.stringify(flags)}`,
  ];
}

/**
 * The arguments blitd starts a compiled server with.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { serverBinaryArgs } from "./server_binary.ts";
 * deepStrictEqual(serverBinaryArgs(["--no-prompt"]), ['--expected-permissions=["--no-prompt"]']);
 * ```
 *
 * @param flags The flags the current configuration needs.
 * @returns The arguments.
 */
export function serverBinaryArgs(flags: readonly string[]): string[] {
  return [`${EXPECTED_PERMISSIONS_ARG}${JSON.stringify(flags)}`];
}

/**
 * Compares the flags a server was compiled with and the flags the configuration needs.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { permissionMismatch } from "./server_binary.ts";
 * strictEqual(permissionMismatch(["--allow-read=/a"], ["--allow-read=/a"]), null);
 * strictEqual(
 *   permissionMismatch(["--allow-read=/a"], ["--allow-read=/a", "--allow-write=/a"]),
 *   "it lacks --allow-write=/a",
 * );
 * ```
 *
 * @param compiled The flags baked into the binary.
 * @param expected The flags the configuration needs.
 * @returns `null` when they are the same set, else what differs ("it lacks …; it also has …").
 */
export function permissionMismatch(
  compiled: readonly string[],
  expected: readonly string[],
): string | null {
  const lacks = expected.filter((flag) => !compiled.includes(flag));
  const extra = compiled.filter((flag) => !expected.includes(flag));
  const parts: string[] = [];
  if (lacks.length > 0) parts.push(`it lacks ${lacks.join(" ")}`);
  if (extra.length > 0) parts.push(`it also has ${extra.join(" ")}, which this one does not grant`);
  return parts.length === 0 ? null : parts.join("; ");
}

/**
 * Reads the flag list of a `--compiled-permissions=` or `--expected-permissions=` argument.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { readFlagList } from "./server_binary.ts";
 * deepStrictEqual(readFlagList('--x=["--no-prompt"]', "--x="), ["--no-prompt"]);
 * deepStrictEqual(readFlagList("--y=1", "--x="), null);
 * ```
 *
 * @param arg The argument.
 * @param prefix The argument's name with its `=`.
 * @returns The flags, or `null` when the argument is not that one or not a list of strings.
 */
export function readFlagList(arg: string | undefined, prefix: string): string[] | null {
  if (arg === undefined || !arg.startsWith(prefix)) return null;
  try {
    const list: unknown = JSON.parse(arg.slice(prefix.length));
    if (Array.isArray(list) && list.every((flag) => typeof flag === "string")) return list;
  } catch { /* said by the caller */ }
  return null;
}

/**
 * Finds the compiled server named by `BLITD_SERVER_BINARY`: a path (relative to the working
 * directory), or a name looked up on `PATH`; this process must be allowed to run it.
 * Requires `--allow-read` and `--allow-env=PATH`.
 *
 * @example Usage
 * ```ts ignore
 * const binary = resolveServerBinary("blitd-server", (name) => Deno.env.get(name));
 * ```
 *
 * @param value The variable's value.
 * @param env Reads one environment variable (`PATH`).
 * @throws {Error} If no executable file is found there, or this process may not run it (one
 * line starting "Cannot").
 * @returns Its absolute path.
 */
export function resolveServerBinary(
  value: string,
  env: (name: string) => string | undefined,
): string {
  const candidates = value.includes("/")
    ? [posix.resolve(value)]
    : (env("PATH") ?? "").split(":").filter((dir) => dir !== "").map((dir) => `${dir}/${value}`);
  for (const candidate of candidates) {
    try {
      const info = Deno.statSync(candidate);
      if (!info.isFile || ((info.mode ?? 0) & 0o111) === 0) continue;
    } catch {
      continue;
    }
    if (Deno.permissions.querySync({ name: "run", command: candidate }).state !== "granted") {
      throw new Error(
        `Cannot run the compiled server ${JSON.stringify(candidate)} (${SERVER_BINARY_VAR}): ` +
          `a compiled blitd may run only "${SERVER_BINARY_NAME}" as found on PATH at its start; ` +
          `install the server as ${SERVER_BINARY_NAME} in a directory on PATH`,
      );
    }
    return candidate;
  }
  throw new Error(
    `Cannot find the compiled server ${JSON.stringify(value)} (${SERVER_BINARY_VAR}): no ` +
      `executable file ${value.includes("/") ? "there" : "of that name on PATH"}; build it ` +
      `with "blitd compile-server --config FILE -o PATH", or unset ${SERVER_BINARY_VAR}`,
  );
}

/**
 * `BLITD_SERVER_BINARY` when this process may read it without a prompt (the compiled `blitd`
 * may; the `blitd` task does not need to), else `undefined`.
 *
 * @example Usage
 * ```ts ignore
 * const value = readServerBinaryVar((name) => Deno.env.get(name));
 * ```
 *
 * @param env Reads one environment variable.
 * @returns The value, or `undefined` when unset, empty or not readable.
 */
export function readServerBinaryVar(
  env: (name: string) => string | undefined,
): string | undefined {
  const status = Deno.permissions.querySync({ name: "env", variable: SERVER_BINARY_VAR });
  if (status.state !== "granted") return undefined;
  return env(SERVER_BINARY_VAR) || undefined;
}
