/**
 * Daemon configuration: TOML parsing and validation, path resolution, and command-line
 * overrides (flag > file > default).
 *
 * ```toml
 * [daemon]
 * bind = "0.0.0.0"      # IPv4/IPv6 literal or "localhost"
 * port = 9031
 * motd = "welcome"
 * no_mdns = false
 * mdns_name = "nas"
 * root = "/srv/share"   # exported as host://path
 * root_read_only = true
 *
 * [[module]]
 * name = "photos"
 * path = "/srv/photos"  # relative paths are relative to the config file
 * read_only = false
 * comment = "family photos"
 * ```
 *
 * @module
 */

import { posix } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { DEFAULT_PORT } from "./endpoint.ts";

/** One exported directory of the daemon. */
export interface ModuleConfig {
  /** Name clients use in `host:/name/...`; matches `[A-Za-z0-9._-]+`. */
  name: string;
  /**
   * Absolute path of the directory; resolved with `Deno.realPath` by
   * {@linkcode loadDaemonConfig} and {@linkcode resolveDaemonPaths}.
   */
  path: string;
  /** True if clients may only read from the module. */
  readOnly: boolean;
  /** Free text shown in module listings (`""` when unset). */
  comment: string;
}

/** The validated daemon configuration. */
export interface DaemonConfig {
  /** Address the daemon listens on: an IPv4 or IPv6 literal (no brackets) or `localhost`. */
  bind: string;
  /** TCP port of the control service; `0` picks a free port. */
  port: number;
  /** Message of the day shown to clients (`""` when unset). */
  motd: string;
  /** True to skip mDNS advertisement. */
  noMdns: boolean;
  /** Instance name advertised over mDNS, or `null` for the daemon's default. */
  mdnsName: string | null;
  /** Absolute path exported as the default root (`host://path`), or `null` for none. */
  root: string | null;
  /** True if clients may only read from the default root. */
  rootReadOnly: boolean;
  /** Exported modules, in file order. */
  modules: ModuleConfig[];
  /** True to carry file data over the gRPC stream instead of the TCP data plane. */
  forceGrpcData: boolean;
  /** Path of the file the config came from, or `null` when it was built without a file. */
  source: string | null;
}

/** Options for {@linkcode parseDaemonConfig}. */
export interface ParseDaemonConfigOptions {
  /**
   * Directory that relative paths in the file are resolved against.
   * @default {Deno.cwd()}
   */
  baseDir?: string;
  /**
   * Name of the file, used in error messages and kept as {@linkcode DaemonConfig.source}.
   * @default {"(inline)"}
   */
  source?: string;
}

/** Command-line values that replace the ones from the file. */
export interface DaemonOverrides {
  /** `--bind ADDR`. */
  bind?: string;
  /** `--port N`. */
  port?: number;
  /** `--root PATH`: relative paths are resolved against the current directory. */
  root?: string;
  /** `--no-mdns`. */
  noMdns?: boolean;
  /** `--mdns-name NAME`. */
  mdnsName?: string;
  /** `--force-grpc-data`. */
  forceGrpcData?: boolean;
}

const NAME_REGEXP = /^[A-Za-z0-9._-]+$/;
const IPV4_REGEXP = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const DAEMON_KEYS = [
  "bind",
  "port",
  "motd",
  "no_mdns",
  "mdns_name",
  "root",
  "root_read_only",
] as const;
const MODULE_KEYS = ["name", "path", "read_only", "comment"] as const;
const TOP_KEYS = ["daemon", "module"] as const;

type Table = Record<string, unknown>;

/**
 * Tells whether `text` is an address the daemon can bind: an IPv4 literal, an IPv6 literal
 * (without brackets or zone) or `localhost`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { isBindAddress } from "./config.ts";
 * strictEqual(isBindAddress("0.0.0.0"), true);
 * strictEqual(isBindAddress("::"), true);
 * strictEqual(isBindAddress("nas.local"), false);
 * ```
 *
 * @param text Candidate address.
 * @returns True if the daemon accepts it as `bind`.
 */
export function isBindAddress(text: string): boolean {
  if (text === "localhost" || IPV4_REGEXP.test(text)) return true;
  if (!text.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(text)) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses and validates daemon configuration text. Pure: it does not touch the disk, so module
 * paths are only made absolute (see {@linkcode resolveDaemonPaths}). An empty text gives the
 * defaults.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual, strictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "./config.ts";
 * const config = parseDaemonConfig(
 *   '[daemon]\nport = 9100\n\n[[module]]\nname = "photos"\npath = "photos"\nread_only = true\n',
 *   { baseDir: "/etc/blit", source: "/etc/blit/blitd.toml" },
 * );
 * strictEqual(config.port, 9100);
 * strictEqual(config.bind, "0.0.0.0");
 * deepStrictEqual(config.modules, [
 *   { name: "photos", path: "/etc/blit/photos", readOnly: true, comment: "" },
 * ]);
 * ```
 *
 * @param text TOML text.
 * @param options Base directory for relative paths and the file name for messages.
 * @throws {SyntaxError} If the text is not valid TOML (one line, with line and column).
 * @throws {TypeError} If a key is unknown, a value has the wrong type or range, or a module name
 * is invalid or repeated.
 * @returns The configuration, with defaults filled in.
 */
export function parseDaemonConfig(text: string, options?: ParseDaemonConfigOptions): DaemonConfig {
  const { baseDir, source = "(inline)" } = options ?? {};
  const where = `Cannot load config "${source}"`;
  let doc: Table;
  try {
    doc = parseToml(text, { unsafeKeyBehaviour: "throw" }) as Table;
  } catch (error) {
    throw new SyntaxError(`${where}: ${describeTomlError(error)}, fix the TOML syntax`, {
      cause: error,
    });
  }
  const bad = (what: string, fix: string): TypeError => new TypeError(`${where}: ${what}, ${fix}`);
  const toAbsolute = (path: string): string => posix.resolve(baseDir ?? Deno.cwd(), path);

  checkKeys(doc, TOP_KEYS, "", bad);
  const daemon = doc.daemon ?? {};
  if (!isTable(daemon)) throw bad(`"daemon" must be a table`, "write it as [daemon]");
  checkKeys(daemon, DAEMON_KEYS, "daemon.", bad);

  const bind = optionalString(daemon, "bind", "daemon.", bad) ?? "0.0.0.0";
  if (!isBindAddress(bind)) {
    throw bad(
      `"daemon.bind" value "${bind}" is not an IP address`,
      `use an IPv4 or IPv6 address such as "0.0.0.0", "::" or "127.0.0.1", or "localhost"`,
    );
  }
  const port = optionalPort(daemon.port, bad) ?? DEFAULT_PORT;
  const mdnsName = optionalString(daemon, "mdns_name", "daemon.", bad) ?? null;
  if (mdnsName !== null) checkMdnsName(mdnsName, `"daemon.mdns_name"`, bad);
  const rootText = optionalString(daemon, "root", "daemon.", bad);
  const root = rootText === undefined
    ? null
    : toAbsolute(checkPath(rootText, `"daemon.root"`, bad));

  const moduleList = doc.module ?? [];
  if (!Array.isArray(moduleList) || !moduleList.every(isTable)) {
    throw bad(`"module" must be an array of tables`, "write each module as [[module]]");
  }
  const seen = new Set<string>();
  const modules = moduleList.map((entry, index): ModuleConfig => {
    const label = `module #${index + 1}`;
    checkKeys(entry, MODULE_KEYS, `${label} `, bad);
    const name = optionalString(entry, "name", `${label} `, bad);
    if (name === undefined || name === "") {
      throw bad(`${label} has no name`, `add name = "..." using letters, digits, '.', '_' or '-'`);
    }
    if (!NAME_REGEXP.test(name) || name === "." || name === "..") {
      throw bad(
        `${label} name "${name}" is invalid`,
        "use only letters, digits, '.', '_' and '-' (not \".\" or \"..\")",
      );
    }
    if (seen.has(name)) {
      throw bad(`module name "${name}" is used twice`, "give each module its own name");
    }
    seen.add(name);
    const path = optionalString(entry, "path", `module "${name}" `, bad);
    if (path === undefined) throw bad(`module "${name}" has no path`, `add path = "/dir"`);
    return {
      name,
      path: toAbsolute(checkPath(path, `module "${name}" path`, bad)),
      readOnly: optionalBool(entry, "read_only", `module "${name}" `, bad) ?? false,
      comment: optionalString(entry, "comment", `module "${name}" `, bad) ?? "",
    };
  });

  return {
    bind,
    port,
    motd: optionalString(daemon, "motd", "daemon.", bad) ?? "",
    noMdns: optionalBool(daemon, "no_mdns", "daemon.", bad) ?? false,
    mdnsName,
    root,
    rootReadOnly: optionalBool(daemon, "root_read_only", "daemon.", bad) ?? false,
    modules,
    forceGrpcData: false,
    source: options?.source ?? null,
  };
}

/**
 * Reads, parses and resolves a daemon config file. Relative paths in the file are relative to
 * the file's directory; every module path and the root must be existing directories and are
 * replaced by their real paths.
 *
 * Requires `--allow-read` for the file and the exported directories.
 *
 * @example Usage
 * ```ts ignore
 * import { loadDaemonConfig, validateExports } from "./config.ts";
 * const config = await loadDaemonConfig("/etc/blit/blitd.toml");
 * validateExports(config);
 * ```
 *
 * @param path Path of the TOML file.
 * @throws {Deno.errors.NotFound} If the file, a module path or the root does not exist.
 * @throws {Deno.errors.NotADirectory} If a module path or the root is not a directory.
 * @throws {SyntaxError} If the file is not valid TOML.
 * @throws {TypeError} If the content is invalid (see {@linkcode parseDaemonConfig}).
 * @returns The resolved configuration.
 */
export async function loadDaemonConfig(path: string): Promise<DaemonConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot load config "${path}": the file does not exist, create it or pass the right path`,
        { cause: error },
      );
    }
    throw new Error(
      `Cannot load config "${path}": ${firstLine(error)}, check that the file is readable`,
      { cause: error },
    );
  }
  const baseDir = posix.dirname(posix.resolve(path));
  return await resolveDaemonPaths(parseDaemonConfig(text, { baseDir, source: path }));
}

/**
 * Checks that every module path and the root exist and are directories, and replaces them with
 * their real paths (symlinks resolved). Call it again after {@linkcode applyDaemonOverrides} set
 * a new root.
 *
 * Requires `--allow-read` for the exported directories.
 *
 * @example Usage
 * ```ts ignore
 * import { applyDaemonOverrides, parseDaemonConfig, resolveDaemonPaths } from "./config.ts";
 * const config = await resolveDaemonPaths(
 *   applyDaemonOverrides(parseDaemonConfig(""), { root: "/srv/share" }),
 * );
 * ```
 *
 * @param config A parsed configuration.
 * @throws {Deno.errors.NotFound} If a module path or the root does not exist.
 * @throws {Deno.errors.NotADirectory} If a module path or the root is not a directory.
 * @returns A copy of `config` with real paths.
 */
export async function resolveDaemonPaths(config: DaemonConfig): Promise<DaemonConfig> {
  const where = config.source === null ? "Cannot start" : `Cannot load config "${config.source}"`;
  const modules: ModuleConfig[] = [];
  for (const module of config.modules) {
    modules.push({
      ...module,
      path: await resolveDirectory(module.path, `module "${module.name}" path`, where),
    });
  }
  const root = config.root === null ? null : await resolveDirectory(config.root, "root", where);
  return { ...config, modules, root };
}

/**
 * Applies command-line flags on top of a configuration (flag > file > default).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { applyDaemonOverrides, parseDaemonConfig } from "./config.ts";
 * const config = applyDaemonOverrides(parseDaemonConfig("[daemon]\nport = 9100\n"), {
 *   port: 9200,
 *   noMdns: true,
 * });
 * strictEqual(config.port, 9200);
 * strictEqual(config.noMdns, true);
 * ```
 *
 * @param config The configuration from the file (or {@linkcode parseDaemonConfig} of `""`).
 * @param overrides Values given on the command line; absent fields keep the file's values.
 * @throws {TypeError} If a flag value is invalid.
 * @returns A new configuration; `root` is made absolute but not resolved (see
 * {@linkcode resolveDaemonPaths}).
 */
export function applyDaemonOverrides(
  config: DaemonConfig,
  overrides: DaemonOverrides,
): DaemonConfig {
  const next: DaemonConfig = { ...config, modules: [...config.modules] };
  const bad = (flag: string, value: unknown, fix: string): TypeError =>
    new TypeError(`Cannot use ${flag} ${JSON.stringify(value)}: ${fix}`);
  if (overrides.bind !== undefined) {
    if (!isBindAddress(overrides.bind)) {
      throw bad("--bind", overrides.bind, "give an IPv4 or IPv6 address, or localhost");
    }
    next.bind = overrides.bind;
  }
  if (overrides.port !== undefined) {
    if (!isPort(overrides.port)) {
      throw bad("--port", overrides.port, "give a number from 0 to 65535");
    }
    next.port = overrides.port;
  }
  if (overrides.root !== undefined) {
    if (overrides.root === "" || overrides.root.includes("\0")) {
      throw bad("--root", overrides.root, "give the path of an existing directory");
    }
    next.root = posix.resolve(overrides.root);
  }
  if (overrides.noMdns !== undefined) next.noMdns = overrides.noMdns;
  if (overrides.mdnsName !== undefined) {
    checkMdnsName(
      overrides.mdnsName,
      "--mdns-name",
      (what, fix) => new TypeError(`Cannot use --mdns-name: ${what}, ${fix}`),
    );
    next.mdnsName = overrides.mdnsName;
  }
  if (overrides.forceGrpcData !== undefined) next.forceGrpcData = overrides.forceGrpcData;
  return next;
}

/**
 * Checks that the daemon exports something. Call it at start-up, after overrides.
 *
 * @example Usage
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { parseDaemonConfig, validateExports } from "./config.ts";
 * throws(() => validateExports(parseDaemonConfig("")), /no modules configured and no root/);
 * ```
 *
 * @param config The final configuration.
 * @throws {TypeError} If there are no modules and no root.
 */
export function validateExports(config: DaemonConfig): void {
  if (config.modules.length === 0 && config.root === null) {
    throw new TypeError(
      "Cannot start: no modules configured and no root; add a [[module]] or pass --root PATH",
    );
  }
}

type Bad = (what: string, fix: string) => TypeError;

function isTable(value: unknown): value is Table {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 65535;
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (isTable(value)) return "a table";
  if (value instanceof Date) return "a date";
  if (typeof value === "number" && !Number.isInteger(value)) return "a float";
  return typeof value === "number" ? "an integer" : `a ${typeof value}`;
}

function checkKeys(table: Table, known: readonly string[], prefix: string, bad: Bad): void {
  for (const key of Object.keys(table)) {
    if (!known.includes(key)) {
      const name = prefix.endsWith(" ") ? `"${key}" in ${prefix.trim()}` : `"${prefix}${key}"`;
      throw bad(`unknown key ${name}`, `remove it or use one of: ${known.join(", ")}`);
    }
  }
}

function optionalString(
  table: Table,
  key: string,
  prefix: string,
  bad: Bad,
): string | undefined {
  const value = table[key];
  if (value === undefined || typeof value === "string") return value;
  throw bad(`${label(prefix, key)} must be a string, not ${typeName(value)}`, `quote the value`);
}

function optionalBool(table: Table, key: string, prefix: string, bad: Bad): boolean | undefined {
  const value = table[key];
  if (value === undefined || typeof value === "boolean") return value;
  throw bad(
    `${label(prefix, key)} must be a boolean, not ${typeName(value)}`,
    "write true or false without quotes",
  );
}

function optionalPort(value: unknown, bad: Bad): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number" && isPort(value)) return value;
  throw bad(
    `"daemon.port" must be an integer from 0 to 65535, not ${
      typeof value === "number" ? value : typeName(value)
    }`,
    "write a port number without quotes",
  );
}

function label(prefix: string, key: string): string {
  return prefix.endsWith(" ") ? `${prefix}key "${key}"` : `"${prefix}${key}"`;
}

function checkPath(path: string, what: string, bad: Bad): string {
  if (path === "") throw bad(`${what} is empty`, "give the path of a directory");
  if (path.includes("\0")) throw bad(`${what} contains a NUL byte`, "remove it");
  if (path.startsWith("~")) {
    throw bad(`${what} "${path}" starts with "~"`, 'write the absolute path; "~" is not expanded');
  }
  return path;
}

function checkMdnsName(name: string, what: string, bad: Bad): void {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0 || bytes > 63) {
    throw bad(`${what} must be 1 to 63 bytes long (got ${bytes})`, "choose a shorter name");
  }
}

async function resolveDirectory(path: string, what: string, where: string): Promise<string> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `${where}: ${what} "${path}" does not exist, create the directory or fix the path`,
        { cause: error },
      );
    }
    throw new Error(`${where}: ${what} "${path}": ${firstLine(error)}, check its permissions`, {
      cause: error,
    });
  }
  const info = await Deno.stat(real);
  if (!info.isDirectory) {
    throw new Deno.errors.NotADirectory(
      `${where}: ${what} "${path}" is not a directory, point it at a directory`,
    );
  }
  return real;
}

/** Turns smol-toml's multi-line message (with a code frame) into one line with its position. */
function describeTomlError(error: unknown): string {
  if (error instanceof TomlError) {
    const message = firstLine(error).replace(/^Invalid TOML document:\s*/, "");
    return `invalid TOML at line ${error.line}, column ${error.column}: ${message}`;
  }
  return `invalid TOML: ${firstLine(error)}`;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split("\n")[0] ?? "").trim();
}
