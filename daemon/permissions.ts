/**
 * Computes the Deno permission flags the daemon's server process runs with, from its
 * configuration: read access to the code and every export; write access to the exports someone
 * may write; and network access to its own listeners. Never `--allow-run`, `--allow-ffi` or
 * `-A`. The configuration, the TLS key and the audit log are the launcher's: it reads or opens
 * them and hands them over (daemon/handoff.ts), so the server needs no access to them.
 *
 * @module
 */

import { anyoneMayWrite, moduleRules, rootRules } from "../core/access.ts";
import { type DaemonConfig, keepsOwners } from "../core/config.ts";

/**
 * Environment variables `npm:@grpc/grpc-js` reads when it is imported (found by running a
 * grpc-js server under `deno run --no-prompt` with no `--allow-env`: each one is a hard
 * `NotCapable` error otherwise). The client-only proxy variables (`grpc_proxy`, `https_proxy`,
 * `http_proxy`, `no_grpc_proxy`, `no_proxy`) are not needed by a server.
 */
export const GRPC_ENV_VARS: readonly string[] = [
  "GRPC_NODE_VERBOSITY",
  "GRPC_VERBOSITY",
  "GRPC_NODE_TRACE",
  "GRPC_TRACE",
  "GRPC_SSL_CIPHER_SUITES",
  "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
  "GRPC_NODE_USE_ALTERNATIVE_RESOLVER",
  "GRPC_NODE_DEBUG_SEND_ERROR_DETAILS",
  "GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION",
];

/** UDP endpoints `npm:multicast-dns` binds and sends to. */
export const MDNS_NET: readonly string[] = ["0.0.0.0:5353", "224.0.0.251:5353"];

/** Options for {@linkcode computeDaemonPermissions}. */
export interface DaemonPermissionOptions {
  /** Absolute path of `daemon/server.ts`; readable even if it lies outside `repoRoot`. */
  serverEntry: string;
  /** Absolute path of the checkout: the code and its `node_modules` directory. */
  repoRoot: string;
  /** True to add the mDNS UDP endpoints and `--allow-sys=hostname,networkInterfaces`. */
  mdns: boolean;
  /** More absolute paths to make readable (for tests: the directory of a probe script). */
  extraRead?: string[];
}

/**
 * Computes the permission flags for the daemon's server process.
 *
 * - `--no-prompt`: a missing permission fails instead of asking on a terminal.
 * - `--allow-read`: `repoRoot`, `serverEntry`, `extraRead`, every module path and the root
 *   (paths inside another listed path are left out).
 * - `--allow-write`: the exports someone may write (see `anyoneMayWrite` in core/access.ts: an
 *   anonymous export only with `anonymous_write`, an export with users when one of them may
 *   write, never a `read_only` one); left out when there is none. A read-only module nested
 *   inside a writable one is writable as far as Deno is concerned: the mount namespace
 *   (daemon/confinement.ts) mounts it read-only, and the daemon's own checks protect it too.
 * - `--allow-net`: `bind:port` for the control service and `bind:0` for the data-plane listener
 *   on an ephemeral port (Deno 2 checks `Deno.listen({port: 0})` against `host:0`; the
 *   host-only form would also allow every port). `bind:0` is left out with `forceGrpcData`.
 *   For `localhost` the host-only `localhost` (grpc-js resolves the name with `dns.lookup`,
 *   which needs it) and the `127.0.0.1` and `[::1]` forms are added. With `mdns`, also
 *   {@linkcode MDNS_NET}.
 * - `--allow-env`: exactly {@linkcode GRPC_ENV_VARS}.
 * - `--allow-sys=statfs` (disk usage of a module's filesystem), plus `hostname,networkInterfaces`
 *   with `mdns` (the instance name and addresses), and `gid,uid` when an export keeps owners
 *   (`keep_owner`: the server applies them only as root, and a writer compares them with its own).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "../core/config.ts";
 * import { computeDaemonPermissions, GRPC_ENV_VARS } from "./permissions.ts";
 * const config = parseDaemonConfig(
 *   "[daemon]\nbind = '127.0.0.1'\nstate_dir = '/var/lib/blit'\n" +
 *     "[[module]]\nname = 'pub'\npath = '/srv/pub'\n",
 * );
 * deepStrictEqual(
 *   computeDaemonPermissions(config, {
 *     serverEntry: "/opt/blit/daemon/server.ts",
 *     repoRoot: "/opt/blit",
 *     mdns: false,
 *   }),
 *   [
 *     "--no-prompt",
 *     "--allow-read=/opt/blit,/srv/pub",
 *     "--allow-net=127.0.0.1:9031,127.0.0.1:0",
 *     `--allow-env=${GRPC_ENV_VARS.join(",")}`,
 *     "--allow-sys=statfs",
 *   ],
 * );
 * ```
 *
 * @example An export that keeps owners
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "../core/config.ts";
 * import { computeDaemonPermissions } from "./permissions.ts";
 * const config = parseDaemonConfig("[[module]]\nname = 'm'\npath = '/srv/m'\nkeep_owner = true\n");
 * const flags = computeDaemonPermissions(config, {
 *   serverEntry: "/opt/blit/daemon/server.ts",
 *   repoRoot: "/opt/blit",
 *   mdns: false,
 * });
 * strictEqual(flags.at(-1), "--allow-sys=statfs,gid,uid");
 * ```
 *
 * @param config The final daemon configuration (paths already resolved).
 * @param options Where the code lives, whether mDNS runs, and extra readable paths.
 * @throws {TypeError} If a path is not absolute or contains a comma (Deno's list syntax
 * cannot express it), or `bind` is not an IP literal or `localhost`.
 * @returns The flags, in the order read, write, net, env, sys.
 */
export function computeDaemonPermissions(
  config: DaemonConfig,
  options: DaemonPermissionOptions,
): string[] {
  const { serverEntry, repoRoot, mdns, extraRead = [] } = options;
  const code: [string, string][] = [[repoRoot, "repoRoot"], [serverEntry, "serverEntry"]];
  for (const path of extraRead) code.push([path, "extraRead"]);
  return permissionFlags(config, code, mdns);
}

/** Options for {@linkcode computeCompiledServerPermissions}. */
export interface CompiledServerPermissionOptions {
  /** True to add the mDNS UDP endpoints and `--allow-sys=hostname,networkInterfaces`. */
  mdns: boolean;
}

/**
 * Computes the permission flags a `deno compile`d server is built with: those of
 * {@linkcode computeDaemonPermissions} without the code's paths (a compiled program carries its
 * code and packages inside and needs no permission to read them), so that they depend on the
 * configuration alone and not on where the binary is put.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "../core/config.ts";
 * import { computeCompiledServerPermissions } from "./permissions.ts";
 * const config = parseDaemonConfig(
 *   "[daemon]\nbind = '127.0.0.1'\nstate_dir = '/var/lib/blit'\n" +
 *     "[[module]]\nname = 'pub'\npath = '/srv/pub'\n",
 * );
 * deepStrictEqual(computeCompiledServerPermissions(config, { mdns: false }).slice(0, 3), [
 *   "--no-prompt",
 *   "--allow-read=/srv/pub",
 *   "--allow-net=127.0.0.1:9031,127.0.0.1:0",
 * ]);
 * ```
 *
 * @param config The final daemon configuration (paths already resolved).
 * @param options Whether mDNS runs.
 * @throws {TypeError} As {@linkcode computeDaemonPermissions}.
 * @returns The flags, in the order read, write, net, env, sys.
 */
export function computeCompiledServerPermissions(
  config: DaemonConfig,
  options: CompiledServerPermissionOptions,
): string[] {
  return permissionFlags(config, [], options.mdns);
}

/** The flags for the exports and listeners of `config`, plus reading the `code` paths. */
function permissionFlags(
  config: DaemonConfig,
  code: readonly [path: string, what: string][],
  mdns: boolean,
): string[] {
  const read: string[] = [];
  const write: string[] = [];
  const add = (list: string[], path: string, what: string): void => {
    list.push(checkPath(path, what));
  };

  for (const [path, what] of code) add(read, path, what);
  for (const module of config.modules) {
    add(read, module.path, `module "${module.name}"`);
    if (anyoneMayWrite(moduleRules(module))) add(write, module.path, `module "${module.name}"`);
  }
  if (config.root !== null) {
    add(read, config.root, "the root");
    if (anyoneMayWrite(rootRules(config))) add(write, config.root, "the root");
  }

  const flags = ["--no-prompt", `--allow-read=${prune(read).join(",")}`];
  if (write.length > 0) flags.push(`--allow-write=${prune(write).join(",")}`);
  const net = netEntries(config);
  if (mdns) net.push(...MDNS_NET);
  flags.push(`--allow-net=${[...new Set(net)].join(",")}`);
  flags.push(`--allow-env=${GRPC_ENV_VARS.join(",")}`);
  // statfs: DiskFree (`blit-utils df`); hostname and interfaces: the mDNS advertisement;
  // gid and uid: keep_owner (is the server root; does a new file have the ids already).
  const sys = [...(mdns ? ["hostname", "networkInterfaces"] : []), "statfs"];
  if (keepsOwners(config)) sys.push("gid", "uid");
  flags.push(`--allow-sys=${sys.join(",")}`);
  return flags;
}

/**
 * Formats flags for `blitd --print-permissions`: one flag per line, shell-quoted where needed.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatPermissions } from "./permissions.ts";
 * strictEqual(
 *   formatPermissions(["--allow-read=/srv/a b", "--allow-net=[::1]:9031"]),
 *   "'--allow-read=/srv/a b'\n'--allow-net=[::1]:9031'\n",
 * );
 * ```
 *
 * @param flags Flags from {@linkcode computeDaemonPermissions}.
 * @returns The text, ending with a newline.
 */
export function formatPermissions(flags: readonly string[]): string {
  return flags.map(shellQuote).join("\n") + (flags.length > 0 ? "\n" : "");
}

const IPV4_REGEXP = /^\d{1,3}(\.\d{1,3}){3}$/;
const SHELL_SAFE_REGEXP = /^[A-Za-z0-9_/.,:=@%+-]+$/;

function checkPath(path: string, what: string): string {
  if (!path.startsWith("/")) {
    throw new TypeError(
      `Cannot compute daemon permissions: path "${path}" of ${what} is not absolute, ` +
        "resolve it first",
    );
  }
  if (path.includes(",")) {
    throw new TypeError(
      `Cannot compute daemon permissions: path "${path}" of ${what} contains a comma, ` +
        "which Deno's permission lists cannot express; rename the directory or export another",
    );
  }
  return path.length > 1 && path.endsWith("/") ? path.replace(/\/+$/, "") : path;
}

/** Removes duplicates and paths inside another listed path, keeping the first order. */
function prune(paths: string[]): string[] {
  const unique = [...new Set(paths)];
  const inside = (path: string, parent: string): boolean =>
    path !== parent && (parent === "/" || path.startsWith(`${parent}/`));
  return unique.filter((path) => !unique.some((other) => inside(path, other)));
}

function netEntries(config: DaemonConfig): string[] {
  const { bind, port, forceGrpcData } = config;
  const ports = port === 0 || forceGrpcData ? [port] : [port, 0];
  if (bind === "localhost") {
    return ["localhost", ...ports.flatMap((p) => [`127.0.0.1:${p}`, `[::1]:${p}`])];
  }
  let host: string;
  if (IPV4_REGEXP.test(bind)) host = bind;
  else if (bind.includes(":") && /^[0-9A-Fa-f:.]+$/.test(bind)) host = `[${bind}]`;
  else {
    throw new TypeError(
      `Cannot compute daemon permissions: bind "${bind}" is not an IP address, ` +
        `use an IPv4 or IPv6 address or "localhost"`,
    );
  }
  return ports.map((p) => `${host}:${p}`);
}

function shellQuote(text: string): string {
  return SHELL_SAFE_REGEXP.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}
