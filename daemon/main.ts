/**
 * The `blitd` command: reads the daemon configuration, computes the narrow Deno permissions of
 * the server process, and starts `daemon/server.ts` under a {@linkcode Supervisor}.
 *
 * The launcher itself needs `--allow-read` (config, exports, code, the TLS key), `--allow-run`
 * for `deno` and `bwrap` only, `--allow-env` (the `BLITD_*` variables, `XDG_STATE_HOME`/`HOME`
 * for the default state directory, `DENO_DIR`/`XDG_CACHE_HOME` for Deno's cache, `PATH` to find
 * the two programs, `INVOCATION_ID` to tell that systemd started it), and `--allow-write` for
 * the state directory (the generated certificate) and the audit log. It reads the TLS key,
 * opens the audit log and, with `confinement` other than `"none"`, starts the server in a
 * private mount namespace (daemon/confinement.ts) that holds none of them.
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
  logFormatOf,
  parseDaemonConfig,
  resolveDaemonPaths,
  shutdownGraceOf,
  validateExports,
} from "../core/config.ts";
import { describeError, UsageError } from "../core/errors.ts";
import {
  BLITD_HELP,
  type BlitdArgs,
  DEFAULT_CONFIG_PATH,
  formatCommandLine,
  parseBlitdArgs,
} from "./args.ts";
import {
  computeCompiledServerPermissions,
  computeDaemonPermissions,
  formatPermissions,
} from "./permissions.ts";
import {
  readServerBinaryVar,
  resolveServerBinary,
  serverBinaryArgs,
} from "../install/server_binary.ts";
import { enterInvocationDir } from "../cmdline/invocation_dir.ts";
import { EXIT_NO_RESTART, STOP_MARGIN_MS, Supervisor } from "./supervisor.ts";
import {
  bwrapArgs,
  computeMounts,
  denoCacheDir,
  formatMounts,
  type Mount,
  needsUserNamespace,
  readNamespaceLayout,
} from "./confinement.ts";
import {
  AUDIT_LINE_PREFIX,
  boundPortOf,
  encodeHandoff,
  type HandoffTls,
  probeUmask,
} from "./handoff.ts";
import { eventLine, openAuditFile } from "./audit_log.ts";

/** Where the server's code lives and which Deno runs it. */
export interface ServerLocation {
  /** Absolute path of the checkout (the code and its `node_modules`). */
  repoRoot: string;
  /** Absolute path of the server script. */
  serverEntry: string;
  /** Deno executable: `deno` (found on `PATH`) unless `BLITD_DENO` names another. */
  deno: string;
  /**
   * A compiled server (`BLITD_SERVER_BINARY`, built by `blitd compile-server`), run instead of
   * `deno run`; then `deno` and `serverEntry` are this path too.
   */
  serverBinary?: string;
}

/** How the server is confined, as decided at start (see {@linkcode planConfinement}). */
export interface ConfinementPlan {
  /** `namespace`: through bubblewrap; `systemd`: the unit's namespace; `none`: none. */
  mode: "namespace" | "systemd" | "none";
  /**
   * For `namespace`: the bubblewrap program, Deno's real path inside, the mounts, whether the
   * launcher runs as root, and whether the server gets a user namespace (not when root keeps
   * owners, see {@linkcode needsUserNamespace}).
   */
  namespace: {
    bwrap: string;
    deno: string;
    mounts: Mount[];
    root: boolean;
    userNamespace: boolean;
  } | null;
  /** What to tell the operator at start (one line), or `null`. */
  notice: string | null;
}

/** A plan without a namespace (`confinement = "none"`). */
export const NO_CONFINEMENT: ConfinementPlan = { mode: "none", namespace: null, notice: null };

/** The server process blitd starts. */
export interface ServerCommand {
  /** Program: Deno, or bubblewrap with Deno after its arguments. */
  command: string;
  /** Its arguments: `run`, the permission flags and the entry (after bubblewrap's). */
  args: string[];
  /** The permission flags alone, as {@linkcode computeDaemonPermissions} returned them. */
  flags: string[];
  /** The namespace's mounts (empty without one). */
  mounts: Mount[];
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
  const binary = readServerBinaryVar(env);
  if (binary !== undefined) {
    const serverBinary = resolveServerBinary(binary, env);
    const repoRoot = posix.dirname(serverBinary);
    return { repoRoot, serverEntry: serverBinary, deno: serverBinary, serverBinary };
  }
  const standalone = Deno.build.standalone;
  const home = env("BLITD_HOME");
  if (standalone && (home === undefined || home === "")) {
    throw new UsageError(
      "Cannot locate daemon/server.ts: this blitd is a compiled binary, set " +
        'BLITD_SERVER_BINARY to a server built by "blitd compile-server", or BLITD_HOME to ' +
        "the blit checkout",
    );
  }
  const repoRoot = home !== undefined && home !== ""
    ? posix.resolve(home)
    : fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
  const entry = env("BLITD_SERVER_ENTRY");
  const serverEntry = entry !== undefined && entry !== ""
    ? posix.resolve(entry)
    : `${repoRoot}/daemon/server.ts`;
  const deno = env("BLITD_DENO") || "deno";
  return { repoRoot, serverEntry, deno };
}

/**
 * Builds the server's command line: `deno run --cached-only <flags> <entry>`, behind
 * `bwrap <namespace>` when the plan has one. The configuration travels on standard input
 * (daemon/handoff.ts), never on the command line.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "../core/config.ts";
 * import { NO_CONFINEMENT, serverCommand } from "./main.ts";
 * const config = parseDaemonConfig(
 *   "[daemon]\nbind = '127.0.0.1'\nroot = '/srv'\nroot_anonymous_write = true\n" +
 *     "state_dir = '/var/lib/blit'\n",
 * );
 * const { command, args } = serverCommand(config, {
 *   repoRoot: "/opt/blit",
 *   serverEntry: "/opt/blit/daemon/server.ts",
 *   deno: "/usr/bin/deno",
 * }, NO_CONFINEMENT);
 * strictEqual(command, "/usr/bin/deno");
 * strictEqual(args.includes("--allow-write=/srv"), true);
 * strictEqual(args.at(-1), "/opt/blit/daemon/server.ts");
 * ```
 *
 * @param config The final configuration.
 * @param location Where the code is.
 * @param plan The confinement decided by {@linkcode planConfinement}.
 * @throws {TypeError} If a path cannot be expressed as a permission (see
 * {@linkcode computeDaemonPermissions}).
 * @returns The program, its arguments, the permission flags and the mounts.
 */
export function serverCommand(
  config: DaemonConfig,
  location: ServerLocation,
  plan: ConfinementPlan,
): ServerCommand {
  const { repoRoot, serverEntry, deno } = location;
  const flags = location.serverBinary !== undefined
    ? computeCompiledServerPermissions(config, { mdns: !config.noMdns })
    : computeDaemonPermissions(config, { serverEntry, repoRoot, mdns: !config.noMdns });
  // A compiled server checks that it was built with exactly these flags.
  const denoArgs = location.serverBinary !== undefined
    ? serverBinaryArgs(flags)
    : ["run", "--cached-only", ...flags, serverEntry];
  if (plan.namespace === null) return { command: deno, args: denoArgs, flags, mounts: [] };
  const { bwrap, mounts, root, userNamespace } = plan.namespace;
  return {
    command: bwrap,
    args: [
      ...bwrapArgs(mounts, { chdir: repoRoot, root, userNamespace }),
      plan.namespace.deno,
      ...denoArgs,
    ],
    flags,
    mounts,
  };
}

/**
 * Decides how the server is confined, from `confinement`:
 *
 * - `none`: no namespace, nothing said.
 * - `systemd`: the service unit provides the namespace; blitd must have been started by
 *   systemd (`INVOCATION_ID` is set), else it refuses.
 * - `namespace`: bubblewrap must be installed and able to create the namespace here (it is
 *   tried once, running `deno --version` inside), else blitd refuses to start.
 * - `auto`: a namespace when that works, else none, with a notice saying why and how to fix.
 *
 * Requires `--allow-env=PATH,INVOCATION_ID,DENO_DIR,XDG_CACHE_HOME,HOME`, `--allow-read` and
 * `--allow-run=bwrap`.
 *
 * @example Usage
 * ```ts ignore
 * const plan = await planConfinement(config, locateServer(Deno.env.get), Deno.env.get);
 * ```
 *
 * @param config The final configuration.
 * @param location Where the code and Deno are.
 * @param env Reads one environment variable.
 * @throws {Error} If `namespace` or `systemd` is asked for and cannot be had (one line).
 * @returns The plan.
 */
export async function planConfinement(
  config: DaemonConfig,
  location: ServerLocation,
  env: (name: string) => string | undefined,
): Promise<ConfinementPlan> {
  const mode = config.confinement;
  if (mode === "none") return NO_CONFINEMENT;
  if (mode === "systemd") {
    if (!env("INVOCATION_ID")) {
      throw new Error(
        `Cannot use confinement = "systemd": blitd was not started by systemd (INVOCATION_ID ` +
          `is not set); start it from the unit "blitd systemd-unit" prints, or set ` +
          `confinement = "auto"`,
      );
    }
    return { mode, namespace: null, notice: null };
  }
  let namespace: ConfinementPlan["namespace"];
  try {
    namespace = await tryNamespace(config, location, env);
  } catch (error) {
    const why = describeError(error);
    if (mode === "namespace") {
      throw new Error(
        `Cannot start the server in a mount namespace (confinement = "namespace"): ${why}; ` +
          `install bubblewrap (apt-get install bubblewrap), or set confinement = "none"`,
      );
    }
    return {
      mode: "none",
      namespace: null,
      notice: `running WITHOUT a mount namespace (confinement = "auto"): ${why}; install ` +
        `bubblewrap (apt-get install bubblewrap) for one, or set confinement = "none"`,
    };
  }
  const exports = config.modules.length + (config.root === null ? 0 : 1);
  return {
    mode: "namespace",
    namespace,
    notice: `confinement: private mount namespace (bubblewrap) holding the code and ` +
      `${exports} export${exports === 1 ? "" : "s"}` +
      (namespace.userNamespace ? "" : ", without a user namespace (keep_owner: ids must be real)"),
  };
}

/** Finds bubblewrap and Deno, computes the mounts, and runs `deno --version` inside once. */
async function tryNamespace(
  config: DaemonConfig,
  location: ServerLocation,
  env: (name: string) => string | undefined,
): Promise<NonNullable<ConfinementPlan["namespace"]>> {
  if (Deno.build.os !== "linux") throw new Error(`mount namespaces need Linux`);
  const bwrap = await findProgram("bwrap", env);
  if (bwrap === null) throw new Error("bubblewrap (bwrap) is not installed");
  const deno = await findProgram(location.deno, env);
  if (deno === null) throw new Error(`"${location.deno}" is not found on PATH`);
  const layout = await readNamespaceLayout({
    repoRoot: location.repoRoot,
    serverEntry: location.serverEntry,
    deno,
    denoDir: denoCacheDir(env),
  });
  const mounts = computeMounts(config, layout);
  const root = Deno.uid?.() === 0;
  const userNamespace = needsUserNamespace(config, { root });
  const options = { chdir: location.repoRoot, root, userNamespace };
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("bwrap", {
      args: [...bwrapArgs(mounts, options), layout.deno, "--version"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new Error(`bwrap cannot be run (${describeError(error)})`);
  }
  if (!output.success) {
    const detail = new TextDecoder().decode(output.stderr).trim().split("\n")[0] ?? "";
    throw new Error(`bwrap cannot create the namespace here (${detail || `exit ${output.code}`})`);
  }
  return { bwrap, deno: layout.deno, mounts, root, userNamespace };
}

/** The absolute path of a program: itself when it has a slash, else the first on `PATH`. */
async function findProgram(
  name: string,
  env: (name: string) => string | undefined,
): Promise<string | null> {
  const candidates = name.includes("/")
    ? [posix.resolve(name)]
    : (env("PATH") ?? "/usr/local/bin:/usr/bin:/bin").split(":").filter((d) => d !== "")
      .map((dir) => `${dir}/${name}`);
  for (const candidate of candidates) {
    const info = await Deno.stat(candidate).catch(() => null);
    if (info?.isFile && ((info.mode ?? 0) & 0o111) !== 0) return candidate;
  }
  return null;
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
    const cannotEnter = enterInvocationDir();
    if (cannotEnter !== null) throw new UsageError(cannotEnter);
    if (argv[0] === "compile-server") {
      const { runCompileServer } = await import("../install/compile_server.ts");
      return await runCompileServer(argv.slice(1), { loadConfig: loadBlitdConfig });
    }
    const args = parseBlitdArgs(argv);
    if (args.systemdUnit !== undefined) {
      const { runSystemdUnit } = await import("./systemd_unit_cli.ts");
      return await runSystemdUnit(args.systemdUnit);
    }
    if (args.help) {
      console.log(BLITD_HELP);
      return 0;
    }
    let config: DaemonConfig;
    try {
      ({ config } = await loadBlitdConfig(args));
    } catch (error) {
      if (error instanceof UsageError) throw error;
      console.error(`blitd: ${describeError(error)}`);
      return EXIT_NO_RESTART;
    }
    const env = (name: string): string | undefined => Deno.env.get(name);
    const location = locateServer(env);
    if (args.printFingerprint) return await printFingerprint(config);
    let plan: ConfinementPlan;
    try {
      plan = await planConfinement(config, location, env);
    } catch (error) {
      console.error(`blitd: ${describeError(error)}`);
      return EXIT_NO_RESTART;
    }
    if (args.printPermissions) {
      const server = serverCommand(config, location, plan);
      console.log(formatPermissions(server.flags));
      const realIds = plan.namespace?.userNamespace === false
        ? ", without a user namespace: keep_owner needs real ids"
        : "";
      console.log(
        server.mounts.length > 0
          ? `mount namespace (bubblewrap${realIds}):\n${formatMounts(server.mounts)}`
          : `no mount namespace: ${
            plan.mode === "systemd"
              ? "the systemd unit provides it"
              : plan.notice ?? `confinement = "none"`
          }\n`,
      );
      console.log(formatCommandLine([server.command, ...server.args]));
      return 0;
    }
    if (!(await exists(location.serverEntry))) {
      throw new UsageError(
        `Cannot start server: "${location.serverEntry}" does not exist, check BLITD_HOME`,
      );
    }
    let handoffTls: HandoffTls | null;
    let audit: Awaited<ReturnType<typeof openAuditFile>> | null;
    try {
      config = await prepareStateDir(config);
      handoffTls = await loadTls(config);
      audit = config.auditLog === null ? null : await openAuditFile(config.auditLog);
    } catch (error) {
      console.error(`blitd: ${describeError(error)}`);
      return EXIT_NO_RESTART;
    }
    const server = serverCommand(config, location, plan);
    const runsAsRoot = Deno.uid() === 0;
    for (const line of configWarnings(config, { runsAsRoot })) {
      console.error(`blitd: warning: ${line}`);
    }
    if (plan.notice !== null) {
      console.error(`blitd: ${plan.namespace === null ? "warning: " : ""}${plan.notice}`);
    }
    try {
      const umask = await probeUmask(config.stateDir);
      // A restarted server binds the port the first one got (with port = 0, an ephemeral one).
      let port = config.port;
      const serving = config;
      return await new Supervisor({
        command: server.command,
        args: () => serverCommand({ ...serving, port }, location, plan).args,
        stdin: () => encodeHandoff({ config: { ...serving, port }, tls: handoffTls, umask }),
        forwardSignals: plan.namespace === null,
        env: serverEnvironment(env),
        stopTimeoutMs: shutdownGraceOf(config) + STOP_MARGIN_MS,
        log: (line) => console.error(eventLine(line, new Date(), logFormatOf(config))),
        onStdoutLine: (line) => {
          port = boundPortOf(line) ?? port;
          if (!line.startsWith(AUDIT_LINE_PREFIX)) console.log(line);
          else audit?.append(line.slice(AUDIT_LINE_PREFIX.length));
        },
      }).run();
    } finally {
      audit?.close();
    }
  } catch (error) {
    console.error(`blitd: ${describeError(error)}`);
    return 1;
  }
}

/**
 * The server's whole environment: Deno's cache directory (so that it finds its compiled code
 * without `HOME`), `NO_COLOR`, and `DENO_NO_UPDATE_CHECK=1` (the server never asks Deno's
 * update server anything); nothing else of the launcher's (no proxy, certificate or credential
 * variables reach the sandbox).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { serverEnvironment } from "./main.ts";
 * const env: Record<string, string> = { HOME: "/root", AWS_SECRET: "x", NO_COLOR: "1" };
 * deepStrictEqual(serverEnvironment((name) => env[name]), {
 *   DENO_DIR: "/root/.cache/deno",
 *   DENO_NO_UPDATE_CHECK: "1",
 *   NO_COLOR: "1",
 * });
 * ```
 *
 * @param env Reads one of the launcher's environment variables.
 * @returns The variables.
 */
export function serverEnvironment(
  env: (name: string) => string | undefined,
): Record<string, string> {
  const result: Record<string, string> = {};
  const cache = denoCacheDir(env);
  if (cache !== null) result.DENO_DIR = cache;
  result.DENO_NO_UPDATE_CHECK = "1";
  const noColor = env("NO_COLOR");
  if (noColor !== undefined) result.NO_COLOR = noColor;
  return result;
}

/**
 * Reads (or, the first time, generates in the state directory) the server's TLS certificate
 * and key, for the handoff; `null` without TLS.
 */
async function loadTls(config: DaemonConfig): Promise<HandoffTls | null> {
  if (!config.tls) return null;
  const { loadOrCreateServerCertificate } = await import("../core/tls_cert.ts");
  const tls = await loadOrCreateServerCertificate(config.stateDir, {
    certPath: config.tlsCert,
    keyPath: config.tlsKey,
  });
  if (tls.generated) console.error(`blitd: generated a TLS certificate in ${config.stateDir}/tls`);
  return { certPem: tls.certPem, keyPem: tls.keyPem, fingerprint: tls.fingerprint };
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
