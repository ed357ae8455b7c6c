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
 * root_users = ["alice"] # who may use the root (absent: anyone, read-only)
 * root_anonymous_write = false
 * root_keep_special_bits = false  # see keep_special_bits
 * root_keep_owner = false         # see keep_owner
 * tls = true            # default true
 * tls_cert = "/etc/blit/cert.pem"  # both or neither; without them a certificate is
 * tls_key = "/etc/blit/key.pem"    # generated in state_dir
 * state_dir = "/var/lib/blit"      # default $XDG_STATE_HOME/blit or ~/.local/state/blit
 * hosts_allow = ["10.0.0.0/8", "::1/128"]  # absent: any address
 * hosts_deny = ["10.0.9.0/24"]             # wins over hosts_allow
 * max_connections = 256
 * max_connections_per_host = 64
 * audit_log = "/var/log/blit/audit.jsonl"
 * confinement = "auto"  # "namespace" | "systemd" | "none": see DaemonConfig.confinement
 * log_format = "text"  # or "json": the console log (see DaemonConfig.logFormat)
 * shutdown_grace = "30s"  # on SIGTERM, how long running sessions may finish
 *
 * [[user]]
 * name = "alice"
 * public_key = "blit-ed25519 AAAA… alice@laptop"  # or ssh-ed25519; or an array of lines
 *
 * [[module]]
 * name = "photos"
 * path = "/srv/photos"  # relative paths are relative to the config file
 * read_only = false
 * comment = "family photos"
 * users = ["alice", "bob:ro"]  # absent: an anonymous module
 * anonymous_write = false
 * list = true           # false hides it from listings
 * keep_special_bits = false  # true keeps setuid/setgid/sticky bits of pushed files
 * keep_owner = false    # true: owners of pushed files applied, of pulled ones sent (as root)
 * ```
 *
 * **Safe defaults.** A module without `users` is anonymous: anyone who can reach the daemon
 * may read it, and nobody may write it unless `anonymous_write = true` (whatever `read_only`
 * says). The default root follows the same rule with `root_users` and `root_anonymous_write`,
 * so `blitd --root DIR` alone exports DIR read-only. `read_only = true` makes a module
 * read-only for everyone, listed users included. Files and directories pushed into an export
 * lose their setuid, setgid and sticky bits unless it says `keep_special_bits = true`
 * (`root_keep_special_bits` for the default root). Owners and groups cross only where the
 * export says `keep_owner = true` (`root_keep_owner`) and blitd runs as root.
 * {@linkcode configWarnings} names the risky settings at start-up.
 *
 * **Limits.** Every value has a size (see {@linkcode CONFIG_LIMITS}): a `motd` of at most 4 KiB
 * without control characters other than newline and tab, comments of at most 1 KiB on one line,
 * names of at most 64 characters, paths of at most 4095 bytes, and bounded counts of modules,
 * users, keys and address rules, so that a configuration that could never start is refused at
 * once with one line.
 *
 * @module
 */

import { posix } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { parseCidr } from "./cidr.ts";
import { DEFAULT_PORT } from "./endpoint.ts";
import { formatPublicKey, parsePublicKey } from "./identity.ts";

/**
 * A user named in a module's `users` (or in `root_users`): `"alice"` (read and write, unless
 * the export is read-only), `"alice:ro"` (read only) or `"alice:rw"` (the same as `"alice"`).
 */
export interface ModuleUser {
  /** The user's name, declared in a `[[user]]` table. */
  name: string;
  /** True for `"name:ro"`: the user may only read. */
  readOnly: boolean;
}

/** A user who may authenticate with one of its keys (`[[user]]`). */
export interface UserConfig {
  /** The name; matches `[A-Za-z0-9._-]+` and is unique. */
  name: string;
  /**
   * The user's public keys, at least one, each normalised to a `blit-ed25519 <base64> [comment]`
   * line whatever form the file used (`blit-ed25519` or OpenSSH `ssh-ed25519`).
   */
  publicKeys: string[];
}

/** One exported directory of the daemon. */
export interface ModuleConfig {
  /** Name clients use in `host:/name/...`; matches `[A-Za-z0-9._-]+`. */
  name: string;
  /**
   * Absolute path of the directory; resolved with `Deno.realPath` by
   * {@linkcode loadDaemonConfig} and {@linkcode resolveDaemonPaths}.
   */
  path: string;
  /**
   * True if nobody may write to the module: `read_only = true`, or an anonymous module (no
   * `users`) without `anonymous_write = true`.
   */
  readOnly: boolean;
  /** Free text shown in module listings (`""` when unset). */
  comment: string;
  /** Who may use the module, or `null` for an anonymous module (anyone may read). */
  users: ModuleUser[] | null;
  /** True if anyone may write to this anonymous module (`anonymous_write = true`). */
  anonymousWrite: boolean;
  /** False to hide the module from listings, except from users who may use it. */
  list: boolean;
  /**
   * True to keep the setuid, setgid and sticky bits of files and directories clients push
   * (`keep_special_bits = true`); by default they are dropped on receipt.
   */
  keepSpecialBits: boolean;
  /**
   * True to apply the numeric owners and groups a client pushes (when the client sends them:
   * it runs as root, without `--no-owner`) and to send this module's own to a pulling client
   * (`keep_owner = true`). It takes effect only when blitd runs as root; its confined server
   * then runs without a user namespace, where ids other than its own would not be real.
   */
  keepOwner: boolean;
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
  /**
   * True if nobody may write to the default root: `root_read_only = true`, or an anonymous root
   * (no `root_users`) without `root_anonymous_write = true`.
   */
  rootReadOnly: boolean;
  /** Exported modules, in file order. */
  modules: ModuleConfig[];
  /** True to carry file data over the control stream instead of the TCP data plane. */
  forceGrpcData: boolean;
  /** Path of the file the config came from, or `null` when it was built without a file. */
  source: string | null;
  /** True to encrypt sessions with TLS. */
  tls: boolean;
  /** Absolute path of the TLS certificate (PEM), or `null` to use one generated in `stateDir`. */
  tlsCert: string | null;
  /** Absolute path of the TLS private key (PEM); set exactly when `tlsCert` is. */
  tlsKey: string | null;
  /** Absolute path of the directory where the daemon keeps its state (the generated certificate). */
  stateDir: string;
  /** Networks that may connect (`hosts_allow`), or `null` for any address. */
  hostsAllow: string[] | null;
  /** Networks that may not connect (`hosts_deny`); they win over `hostsAllow`. */
  hostsDeny: string[];
  /** Most control connections at once, from 1 to 100000. */
  maxConnections: number;
  /** Most control connections at once from one address, from 1 to `maxConnections`. */
  maxConnectionsPerHost: number;
  /** Absolute path of the audit log (JSON lines), or `null` for none. */
  auditLog: string | null;
  /** Users who may authenticate, in file order. */
  users: UserConfig[];
  /** Who may use the default root, or `null` for anonymous access. */
  rootUsers: ModuleUser[] | null;
  /** True if anyone may write to an anonymous default root (`root_anonymous_write = true`). */
  rootAnonymousWrite: boolean;
  /** True to keep special bits of what clients push to the default root (`root_keep_special_bits`). */
  rootKeepSpecialBits: boolean;
  /** True to keep owners and groups on the default root (`root_keep_owner`; see `keepOwner`). */
  rootKeepOwner: boolean;
  /**
   * How the server is confined beyond its Deno permissions: `"namespace"` runs it inside a
   * private mount namespace (bubblewrap) that holds only its code and its exports, and refuses
   * to start without one; `"auto"` does the same when it can and says so plainly when it
   * cannot; `"systemd"` means the service unit provides that namespace (the launcher checks it
   * runs under systemd); `"none"` runs it with its Deno permissions alone.
   */
  confinement: Confinement;
  /**
   * How the daemon writes its console log (`log_format`, `--log-format`): `"text"` lines that
   * start with an ISO-8601 time, or `"json"` objects (a session's has the audit log's fields).
   * Absent: {@linkcode DEFAULT_LOG_FORMAT} (see {@linkcode logFormatOf}).
   */
  logFormat?: LogFormat;
  /**
   * How long a stopping daemon lets running sessions finish before it cancels them, in
   * milliseconds (`shutdown_grace`). Absent: {@linkcode DEFAULT_SHUTDOWN_GRACE_MS} (see
   * {@linkcode shutdownGraceOf}).
   */
  shutdownGraceMs?: number;
}

/** Values of `log_format` (see {@linkcode DaemonConfig.logFormat}). */
export type LogFormat = "text" | "json";

/** Every {@linkcode LogFormat}. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** The console log's format when the configuration does not name one. */
export const DEFAULT_LOG_FORMAT: LogFormat = "text";

/** How long running sessions may finish after SIGTERM when `shutdown_grace` is not set. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 30_000;

/** Longest `shutdown_grace`: one hour. */
export const MAX_SHUTDOWN_GRACE_MS = 3_600_000;

/**
 * Tells whether `text` names a {@linkcode LogFormat}.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { isLogFormat } from "./config.ts";
 * strictEqual(isLogFormat("json"), true);
 * strictEqual(isLogFormat("xml"), false);
 * ```
 *
 * @param text Candidate value.
 * @returns True for `text` and `json`.
 */
export function isLogFormat(text: string): text is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(text);
}

/**
 * The console log's format of a configuration, with the default filled in.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { logFormatOf, parseDaemonConfig } from "./config.ts";
 * strictEqual(logFormatOf(parseDaemonConfig("")), "text");
 * strictEqual(logFormatOf(parseDaemonConfig('[daemon]\nlog_format = "json"\n')), "json");
 * ```
 *
 * @param config The configuration.
 * @returns `text` or `json`.
 */
export function logFormatOf(config: Pick<DaemonConfig, "logFormat">): LogFormat {
  return config.logFormat ?? DEFAULT_LOG_FORMAT;
}

/**
 * The shutdown grace of a configuration in milliseconds, with the default filled in.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseDaemonConfig, shutdownGraceOf } from "./config.ts";
 * strictEqual(shutdownGraceOf(parseDaemonConfig("")), 30_000);
 * strictEqual(shutdownGraceOf(parseDaemonConfig('[daemon]\nshutdown_grace = "2m"\n')), 120_000);
 * ```
 *
 * @param config The configuration.
 * @returns Milliseconds.
 */
export function shutdownGraceOf(config: Pick<DaemonConfig, "shutdownGraceMs">): number {
  return config.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
}

const DURATION_REGEXP = /^(\d{1,7})(ms|s|m)?$/;

/**
 * Reads a duration as the configuration writes one: whole seconds as a number (`30`), or a
 * string of digits with `ms`, `s` or `m` (`"500ms"`, `"30s"`, `"2m"`; no unit means seconds).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseDurationMs } from "./config.ts";
 * strictEqual(parseDurationMs(30), 30_000);
 * strictEqual(parseDurationMs("2m"), 120_000);
 * strictEqual(parseDurationMs("250ms"), 250);
 * strictEqual(parseDurationMs("soon"), null);
 * ```
 *
 * @param value The TOML value.
 * @returns Milliseconds, or `null` when it is not a duration.
 */
export function parseDurationMs(value: unknown): number | null {
  if (typeof value === "number") {
    return Number.isInteger(value) && value >= 0 && value <= 1e7 ? value * 1000 : null;
  }
  if (typeof value !== "string") return null;
  const match = DURATION_REGEXP.exec(value.trim());
  if (match === null) return null;
  const amount = Number(match[1]);
  const unit = match[2] ?? "s";
  return unit === "ms" ? amount : unit === "s" ? amount * 1000 : amount * 60_000;
}

/** Values of `confinement` (see {@linkcode DaemonConfig.confinement}). */
export type Confinement = "auto" | "namespace" | "systemd" | "none";

/** Every {@linkcode Confinement}, in the order the docs name them. */
export const CONFINEMENTS: readonly Confinement[] = ["auto", "namespace", "systemd", "none"];

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
  /**
   * Environment that picks the default state directory: `$XDG_STATE_HOME/blit`, else
   * `$HOME/.local/state/blit`, else `/var/lib/blit`.
   * @default {the process environment, where readable}
   */
  env?: { XDG_STATE_HOME?: string; HOME?: string };
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
  /** `--no-tls` (`false`). Without TLS, a `tls_cert`/`tls_key` from the file is dropped. */
  tls?: boolean;
  /** `--tls-cert PATH` (relative to the current directory); needs a key, from flag or file. */
  tlsCert?: string;
  /** `--tls-key PATH` (relative to the current directory); needs a certificate. */
  tlsKey?: string;
  /** `--state-dir PATH` (relative to the current directory). */
  stateDir?: string;
  /** `--audit-log PATH` (relative to the current directory). */
  auditLog?: string;
  /** `--confinement auto|namespace|systemd|none`. */
  confinement?: string;
  /** `--log-format text|json`. */
  logFormat?: string;
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
  "root_users",
  "root_anonymous_write",
  "tls",
  "tls_cert",
  "tls_key",
  "state_dir",
  "hosts_allow",
  "hosts_deny",
  "max_connections",
  "max_connections_per_host",
  "audit_log",
  "confinement",
  "root_keep_special_bits",
  "root_keep_owner",
  "log_format",
  "shutdown_grace",
] as const;
const MODULE_KEYS = [
  "name",
  "path",
  "read_only",
  "comment",
  "users",
  "anonymous_write",
  "list",
  "keep_special_bits",
  "keep_owner",
] as const;
const USER_KEYS = ["name", "public_key"] as const;
const TOP_KEYS = ["daemon", "user", "module"] as const;
const MODULE_USER_REGEXP = /^([A-Za-z0-9._-]+)(?::(ro|rw))?$/;
const PUBLIC_KEY_WHY_REGEXP = /^Cannot read public key "(?:[^"\\]|\\.)*": (.*); give a /;

/** Default of `max_connections`. */
export const DEFAULT_MAX_CONNECTIONS = 256;
/** Default of `max_connections_per_host` (lowered to `max_connections` when that is smaller). */
export const DEFAULT_MAX_CONNECTIONS_PER_HOST = 64;
/** Largest `max_connections`. */
export const MAX_CONNECTIONS_LIMIT = 100_000;

/**
 * The largest values a configuration may hold. Beyond them `blitd` refuses to start with one
 * line (exit 78) instead of starting a server that can never work.
 */
export const CONFIG_LIMITS = {
  /** Bytes of the configuration file. */
  fileBytes: 1024 * 1024,
  /** Bytes of the parsed configuration (as JSON), which the launcher hands to the server. */
  parsedBytes: 1024 * 1024,
  /** UTF-8 bytes of `motd` (sent to every client). */
  motdBytes: 4096,
  /** UTF-8 bytes of a module's `comment` (shown in listings). */
  commentBytes: 1024,
  /** Characters of a module or user name. */
  nameChars: 64,
  /** UTF-8 bytes of a path (Linux's `PATH_MAX` less its NUL). */
  pathBytes: 4095,
  /** `[[module]]` tables. */
  modules: 1024,
  /** `[[user]]` tables. */
  users: 1024,
  /** Public keys of one user. */
  keysPerUser: 32,
  /** Characters of one public key line. */
  keyLineChars: 1024,
  /** Entries of `hosts_allow`, and of `hosts_deny`. */
  addressRules: 1024,
} as const;

/** Control characters (C0, DEL, C1, U+2028/9) a multi-line text may not hold: all but tab and newline. */
// deno-lint-ignore no-control-regex
const CONTROL_IN_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
/** Control characters a one-line text may not hold. */
// deno-lint-ignore no-control-regex
const CONTROL_IN_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * What is wrong with a free-text configuration value (`motd`, a module's `comment`), or `null`
 * when nothing is: too many UTF-8 bytes, or a control character (terminal escapes and the like;
 * `lines` allows newline and tab).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { textProblem } from "./config.ts";
 * strictEqual(textProblem("welcome\n", 4096, true), null);
 * strictEqual(textProblem("x".repeat(5000), 4096, true), "is 5000 bytes long, more than 4096");
 * strictEqual(textProblem("a\u001b[2J", 4096, true), "holds the control character U+001B");
 * strictEqual(textProblem("two\nlines", 1024, false), "holds the control character U+000A");
 * ```
 *
 * @param text The value.
 * @param maxBytes Most UTF-8 bytes.
 * @param lines Whether newlines and tabs are allowed.
 * @returns The problem, worded to follow the value's name, or `null`.
 */
export function textProblem(text: string, maxBytes: number, lines: boolean): string | null {
  const bytes = utf8Bytes(text);
  if (bytes > maxBytes) return `is ${bytes} bytes long, more than ${maxBytes}`;
  const control = (lines ? CONTROL_IN_LINES : CONTROL_IN_LINE).exec(text);
  if (control !== null) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    return `holds the control character U+${code}`;
  }
  return null;
}

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
 * Parses and validates daemon configuration text. Pure: it does not touch the disk, so paths
 * are only made absolute (see {@linkcode resolveDaemonPaths}). An empty text gives the
 * defaults: an anonymous, read-only export, TLS on, any address, 256 connections.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual, strictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "./config.ts";
 * const config = parseDaemonConfig(
 *   '[daemon]\nport = 9100\n\n[[module]]\nname = "photos"\npath = "photos"\n',
 *   { baseDir: "/etc/blit", source: "/etc/blit/blitd.toml", env: { HOME: "/home/b" } },
 * );
 * strictEqual(config.port, 9100);
 * strictEqual(config.bind, "0.0.0.0");
 * strictEqual(config.stateDir, "/home/b/.local/state/blit");
 * deepStrictEqual(config.modules, [{
 *   name: "photos",
 *   path: "/etc/blit/photos",
 *   readOnly: true, // anonymous and no anonymous_write: read-only
 *   comment: "",
 *   users: null,
 *   anonymousWrite: false,
 *   list: true,
 *   keepSpecialBits: false,
 *   keepOwner: false,
 * }]);
 * ```
 *
 * @example Users and keys
 * ```ts
 * import { deepStrictEqual, strictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "./config.ts";
 * const key = `blit-ed25519 ${new Uint8Array(32).fill(1).toBase64()} alice@laptop`;
 * const config = parseDaemonConfig(
 *   `[[user]]\nname = "alice"\npublic_key = "${key}"\n` +
 *     `[[module]]\nname = "m"\npath = "/srv/m"\nusers = ["alice:ro"]\n`,
 * );
 * deepStrictEqual(config.users, [{ name: "alice", publicKeys: [key] }]);
 * deepStrictEqual(config.modules[0]?.users, [{ name: "alice", readOnly: true }]);
 * strictEqual(config.modules[0]?.readOnly, false);
 * ```
 *
 * @param text TOML text.
 * @param options Base directory for relative paths, the file name for messages, and the
 * environment for the default state directory.
 * @throws {SyntaxError} If the text is not valid TOML (one line, with line and column).
 * @throws {TypeError} If a key is unknown, a value has the wrong type or range, a name is
 * invalid or repeated, a module names an undeclared user, a public key or an address rule
 * cannot be read, or settings contradict each other.
 * @returns The configuration, with defaults filled in.
 */
export function parseDaemonConfig(text: string, options?: ParseDaemonConfigOptions): DaemonConfig {
  const { baseDir, source = "(inline)", env = readStateEnv() } = options ?? {};
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
  const optionalPath = (table: Table, key: string, prefix: string): string | null => {
    const value = optionalString(table, key, prefix, bad);
    return value === undefined ? null : toAbsolute(checkPath(value, label(prefix, key), bad));
  };

  checkKeys(doc, TOP_KEYS, "", bad);
  const daemon = doc.daemon ?? {};
  if (!isTable(daemon)) throw bad(`"daemon" must be a table`, "write it as [daemon]");
  checkKeys(daemon, DAEMON_KEYS, "daemon.", bad);

  const bind = optionalString(daemon, "bind", "daemon.", bad) ?? "0.0.0.0";
  if (!isBindAddress(bind)) {
    throw bad(
      `"daemon.bind" value ${shown(bind)} is not an IP address`,
      `use an IPv4 or IPv6 address such as "0.0.0.0", "::" or "127.0.0.1", or "localhost"`,
    );
  }
  const port = optionalPort(daemon.port, bad) ?? DEFAULT_PORT;
  const mdnsName = optionalString(daemon, "mdns_name", "daemon.", bad) ?? null;
  if (mdnsName !== null) checkMdnsName(mdnsName, `"daemon.mdns_name"`, bad);
  const root = optionalPath(daemon, "root", "daemon.");

  const tls = optionalBool(daemon, "tls", "daemon.", bad) ?? true;
  const tlsCert = optionalPath(daemon, "tls_cert", "daemon.");
  const tlsKey = optionalPath(daemon, "tls_key", "daemon.");
  if ((tlsCert === null) !== (tlsKey === null)) {
    throw bad(
      `"daemon.${tlsCert === null ? "tls_key" : "tls_cert"}" is set without "daemon.${
        tlsCert === null ? "tls_cert" : "tls_key"
      }"`,
      "set both (a certificate and its key) or neither (one is generated in state_dir)",
    );
  }
  if (!tls && tlsCert !== null) {
    throw bad(
      `"daemon.tls_cert" and "daemon.tls_key" are set but "daemon.tls" is false`,
      "remove them or set tls = true",
    );
  }
  const stateDir = optionalPath(daemon, "state_dir", "daemon.") ?? defaultStateDir(env);
  const hostsAllow = optionalRules(daemon, "hosts_allow", bad);
  const hostsDeny = optionalRules(daemon, "hosts_deny", bad) ?? [];
  const maxConnections = optionalCount(daemon, "max_connections", MAX_CONNECTIONS_LIMIT, bad) ??
    DEFAULT_MAX_CONNECTIONS;
  const maxConnectionsPerHost = optionalCount(
    daemon,
    "max_connections_per_host",
    maxConnections,
    bad,
  ) ?? Math.min(DEFAULT_MAX_CONNECTIONS_PER_HOST, maxConnections);
  const auditLog = optionalPath(daemon, "audit_log", "daemon.");
  const confinement = optionalString(daemon, "confinement", "daemon.", bad) ?? "auto";
  if (!isConfinement(confinement)) {
    throw bad(
      `"daemon.confinement" value ${JSON.stringify(confinement)} is not known`,
      `use one of ${CONFINEMENTS.map((c) => `"${c}"`).join(", ")}`,
    );
  }

  const logFormat = optionalString(daemon, "log_format", "daemon.", bad);
  if (logFormat !== undefined && !isLogFormat(logFormat)) {
    throw bad(
      `"daemon.log_format" value ${JSON.stringify(logFormat)} is not known`,
      `use one of ${LOG_FORMATS.map((f) => `"${f}"`).join(", ")}`,
    );
  }
  const shutdownGraceMs = optionalGrace(daemon.shutdown_grace, bad);

  const motd = optionalString(daemon, "motd", "daemon.", bad) ?? "";
  checkText(motd, `"daemon.motd"`, CONFIG_LIMITS.motdBytes, true, bad);

  const userList = doc.user ?? [];
  if (!Array.isArray(userList) || !userList.every(isTable)) {
    throw bad(`"user" must be an array of tables`, "write each user as [[user]]");
  }
  checkCount(userList.length, CONFIG_LIMITS.users, "[[user]]", "declare fewer users", bad);
  const users = parseUsers(userList, bad);
  const declared = new Set(users.map((user) => user.name));

  const rootUsers = optionalModuleUsers(daemon, "root_users", "daemon.", declared, bad);
  const rootAnonymousWrite = optionalBool(daemon, "root_anonymous_write", "daemon.", bad) ??
    false;
  const rootReadOnlyKey = optionalBool(daemon, "root_read_only", "daemon.", bad) ?? false;
  checkAnonymousWrite(
    { users: rootUsers, readOnly: rootReadOnlyKey, anonymousWrite: rootAnonymousWrite },
    ["the default root", "root_users", "root_anonymous_write", "root_read_only"],
    bad,
  );

  const moduleList = doc.module ?? [];
  if (!Array.isArray(moduleList) || !moduleList.every(isTable)) {
    throw bad(`"module" must be an array of tables`, "write each module as [[module]]");
  }
  checkCount(moduleList.length, CONFIG_LIMITS.modules, "[[module]]", "export fewer modules", bad);
  const seen = new Set<string>();
  const modules = moduleList.map((entry, index): ModuleConfig => {
    const label = `module #${index + 1}`;
    checkKeys(entry, MODULE_KEYS, `${label} `, bad);
    const name = entryName(entry, label, bad);
    if (seen.has(name)) {
      throw bad(`module name "${name}" is used twice`, "give each module its own name");
    }
    seen.add(name);
    const prefix = `module "${name}" `;
    const path = optionalString(entry, "path", prefix, bad);
    if (path === undefined) throw bad(`module "${name}" has no path`, `add path = "/dir"`);
    const moduleUsers = optionalModuleUsers(entry, "users", prefix, declared, bad);
    const anonymousWrite = optionalBool(entry, "anonymous_write", prefix, bad) ?? false;
    const readOnly = optionalBool(entry, "read_only", prefix, bad) ?? false;
    checkAnonymousWrite(
      { users: moduleUsers, readOnly, anonymousWrite },
      [`module "${name}"`, "users", "anonymous_write", "read_only"],
      bad,
    );
    const comment = optionalString(entry, "comment", prefix, bad) ?? "";
    checkText(comment, `module "${name}" comment`, CONFIG_LIMITS.commentBytes, false, bad);
    return {
      name,
      path: toAbsolute(checkPath(path, `module "${name}" path`, bad)),
      readOnly: effectiveReadOnly(readOnly, moduleUsers, anonymousWrite),
      comment,
      users: moduleUsers,
      anonymousWrite,
      list: optionalBool(entry, "list", prefix, bad) ?? true,
      keepSpecialBits: optionalBool(entry, "keep_special_bits", prefix, bad) ?? false,
      keepOwner: optionalBool(entry, "keep_owner", prefix, bad) ?? false,
    };
  });

  const config: DaemonConfig = {
    bind,
    port,
    motd,
    noMdns: optionalBool(daemon, "no_mdns", "daemon.", bad) ?? false,
    mdnsName,
    root,
    rootReadOnly: effectiveReadOnly(rootReadOnlyKey, rootUsers, rootAnonymousWrite),
    modules,
    forceGrpcData: false,
    source: options?.source ?? null,
    tls,
    tlsCert,
    tlsKey,
    stateDir,
    hostsAllow,
    hostsDeny,
    maxConnections,
    maxConnectionsPerHost,
    auditLog,
    users,
    rootUsers,
    rootAnonymousWrite,
    rootKeepSpecialBits: optionalBool(daemon, "root_keep_special_bits", "daemon.", bad) ?? false,
    rootKeepOwner: optionalBool(daemon, "root_keep_owner", "daemon.", bad) ?? false,
    confinement,
    ...(logFormat === undefined ? {} : { logFormat }),
    ...(shutdownGraceMs === undefined ? {} : { shutdownGraceMs }),
  };
  const parsedBytes = utf8Bytes(JSON.stringify(config));
  if (parsedBytes > CONFIG_LIMITS.parsedBytes) {
    throw bad(
      `the configuration is ${parsedBytes} bytes once parsed, more than ${CONFIG_LIMITS.parsedBytes}`,
      "export fewer modules or list fewer users and keys",
    );
  }
  return config;
}

/**
 * Tells whether `text` names a {@linkcode Confinement}.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { isConfinement } from "./config.ts";
 * strictEqual(isConfinement("namespace"), true);
 * strictEqual(isConfinement("chroot"), false);
 * ```
 *
 * @param text Candidate value.
 * @returns True for `auto`, `namespace`, `systemd` and `none`.
 */
export function isConfinement(text: string): text is Confinement {
  return (CONFINEMENTS as readonly string[]).includes(text);
}

/**
 * The default state directory: `$XDG_STATE_HOME/blit`, else `$HOME/.local/state/blit`, else
 * (no home: a system service) `/var/lib/blit`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { defaultStateDir } from "./config.ts";
 * strictEqual(defaultStateDir({ XDG_STATE_HOME: "/s", HOME: "/h" }), "/s/blit");
 * strictEqual(defaultStateDir({ HOME: "/h" }), "/h/.local/state/blit");
 * strictEqual(defaultStateDir({}), "/var/lib/blit");
 * ```
 *
 * @param env The variables to use (default: the process environment, where readable).
 * @returns The absolute path.
 */
export function defaultStateDir(
  env: { XDG_STATE_HOME?: string; HOME?: string } = readStateEnv(),
): string {
  const { XDG_STATE_HOME: xdg, HOME: home } = env;
  if (xdg && xdg.startsWith("/")) return posix.join(xdg, "blit");
  if (home && home.startsWith("/")) return posix.join(home, ".local/state/blit");
  return "/var/lib/blit";
}

/**
 * Tells whether an export of the configuration keeps owners and groups (`keep_owner = true`,
 * or `root_keep_owner = true` with a root). Then a server run as root needs real ids: no user
 * namespace (daemon/confinement.ts), and `--allow-sys=gid,uid` (daemon/permissions.ts).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { keepsOwners, parseDaemonConfig } from "./config.ts";
 * strictEqual(keepsOwners(parseDaemonConfig("[daemon]\nroot = '/srv'\n")), false);
 * strictEqual(
 *   keepsOwners(parseDaemonConfig("[[module]]\nname = 'm'\npath = '/m'\nkeep_owner = true\n")),
 *   true,
 * );
 * ```
 *
 * @param config The final configuration.
 * @returns True when at least one export keeps owners.
 */
export function keepsOwners(config: DaemonConfig): boolean {
  return (config.root !== null && config.rootKeepOwner) || config.modules.some((m) => m.keepOwner);
}

/** Options for {@linkcode configWarnings}. */
export interface ConfigWarningsOptions {
  /**
   * Whether blitd runs as root. When `false`, each export that says `keep_owner = true` gets a
   * line: owners can only be kept by root. Absent: not known, no such line.
   */
  runsAsRoot?: boolean;
}

/**
 * The start-up warnings of a configuration, one line each: every export anyone may change
 * (`anonymous_write = true`, `root_anonymous_write = true` with a root), every writable export
 * that keeps setuid, setgid and sticky bits (`keep_special_bits = true`), every export whose
 * `keep_owner = true` has no effect (blitd is not root), sessions without TLS, and a
 * `hosts_allow` that admits nobody.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { configWarnings, parseDaemonConfig } from "./config.ts";
 * const config = parseDaemonConfig(
 *   "[daemon]\ntls = false\n[[module]]\nname = 'x'\npath = '/x'\nanonymous_write = true\n",
 * );
 * deepStrictEqual(configWarnings(config), [
 *   'module "x" allows anonymous writes (anonymous_write = true): anyone who can reach this ' +
 *   "daemon can change it",
 *   "tls = false: sessions are not encrypted",
 * ]);
 * ```
 *
 * @example keep_owner without root
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { configWarnings, parseDaemonConfig } from "./config.ts";
 * const config = parseDaemonConfig("[[module]]\nname = 'm'\npath = '/m'\nkeep_owner = true\n");
 * deepStrictEqual(configWarnings(config, { runsAsRoot: false }), [
 *   'module "m": keep_owner has no effect: blitd is not running as root',
 * ]);
 * deepStrictEqual(configWarnings(config, { runsAsRoot: true }), []);
 * ```
 *
 * @param config The final configuration.
 * @param options Whether blitd runs as root.
 * @returns The lines, without a prefix or a newline.
 */
export function configWarnings(
  config: DaemonConfig,
  options?: ConfigWarningsOptions,
): string[] {
  const { runsAsRoot } = options ?? {};
  const lines: string[] = [];
  const risk = "anyone who can reach this daemon can change it";
  if (config.root !== null && config.rootAnonymousWrite && !config.rootReadOnly) {
    lines.push(`the default root allows anonymous writes (root_anonymous_write = true): ${risk}`);
  }
  for (const module of config.modules) {
    if (module.anonymousWrite && !module.readOnly) {
      lines.push(
        `module ${JSON.stringify(module.name)} allows anonymous writes (anonymous_write = true): ` +
          risk,
      );
    }
  }
  const planted = "its writers can plant setuid programs";
  if (config.root !== null && config.rootKeepSpecialBits && !config.rootReadOnly) {
    lines.push(
      `the default root keeps setuid, setgid and sticky bits (root_keep_special_bits = true): ${planted}`,
    );
  }
  for (const module of config.modules) {
    if (module.keepSpecialBits && !module.readOnly) {
      lines.push(
        `module ${JSON.stringify(module.name)} keeps setuid, setgid and sticky bits ` +
          `(keep_special_bits = true): ${planted}`,
      );
    }
  }
  if (runsAsRoot === false) {
    const noEffect = "has no effect: blitd is not running as root";
    if (config.root !== null && config.rootKeepOwner) {
      lines.push(`the default root: root_keep_owner ${noEffect}`);
    }
    for (const module of config.modules) {
      if (module.keepOwner) {
        lines.push(`module ${JSON.stringify(module.name)}: keep_owner ${noEffect}`);
      }
    }
  }
  if (!config.tls) lines.push("tls = false: sessions are not encrypted");
  if (config.hostsAllow !== null && config.hostsAllow.length === 0) {
    lines.push("hosts_allow = []: no address may connect");
  }
  return lines;
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
 * @param options The environment for the default state directory (see
 * {@linkcode ParseDaemonConfigOptions.env}).
 * @throws {Deno.errors.NotFound} If the file, a module path, the root, the TLS files or the
 * audit log's directory does not exist.
 * @throws {Deno.errors.NotADirectory} If a module path or the root is not a directory.
 * @throws {SyntaxError} If the file is not valid TOML.
 * @throws {TypeError} If the file is larger than {@linkcode CONFIG_LIMITS}`.fileBytes` or the
 * content is invalid (see {@linkcode parseDaemonConfig}).
 * @returns The resolved configuration.
 */
export async function loadDaemonConfig(
  path: string,
  options?: Pick<ParseDaemonConfigOptions, "env">,
): Promise<DaemonConfig> {
  let text = "";
  let size = 0;
  try {
    size = (await Deno.stat(path)).size;
    if (size <= CONFIG_LIMITS.fileBytes) text = await Deno.readTextFile(path);
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
  size = Math.max(size, utf8Bytes(text));
  if (size > CONFIG_LIMITS.fileBytes) {
    throw new TypeError(
      `Cannot load config "${path}": the file is ${size} bytes, more than ${CONFIG_LIMITS.fileBytes}, ` +
        "point --config at a blitd configuration",
    );
  }
  const baseDir = posix.dirname(posix.resolve(path));
  const parseOptions: ParseDaemonConfigOptions = { baseDir, source: path };
  if (options?.env !== undefined) parseOptions.env = options.env;
  return await resolveDaemonPaths(parseDaemonConfig(text, parseOptions));
}

/**
 * Checks that every module path and the root exist and are directories, that the TLS
 * certificate and key are files, and that the audit log's directory exists, and replaces them
 * with their real paths (symlinks resolved; the audit log keeps its file name). The state
 * directory is resolved when it exists; the launcher creates it otherwise. Call it again after
 * {@linkcode applyDaemonOverrides} set a new root.
 *
 * Requires `--allow-read` for the exported directories and the other paths.
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
 * @throws {Deno.errors.NotFound} If a module path, the root, a TLS file or the audit log's
 * directory does not exist.
 * @throws {Deno.errors.NotADirectory} If a module path, the root, the state directory or the
 * audit log's directory is not a directory.
 * @throws {TypeError} If a TLS file or the audit log is a directory.
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
  const tlsCert = config.tlsCert === null
    ? null
    : await resolveFile(config.tlsCert, "tls_cert", where);
  const tlsKey = config.tlsKey === null ? null : await resolveFile(config.tlsKey, "tls_key", where);
  let auditLog = config.auditLog;
  if (auditLog !== null) {
    const dir = await resolveDirectory(posix.dirname(auditLog), "audit_log directory", where);
    auditLog = posix.join(dir, posix.basename(auditLog));
    const info = await Deno.stat(auditLog).catch(() => null);
    if (info !== null && !info.isFile) {
      throw new TypeError(
        `${where}: audit_log "${config.auditLog}" is not a file, point it at a file`,
      );
    }
  }
  let stateDir = config.stateDir;
  if (await Deno.lstat(stateDir).then(() => true, () => false)) {
    stateDir = await resolveDirectory(stateDir, "state_dir", where);
  }
  return { ...config, modules, root, tlsCert, tlsKey, auditLog, stateDir };
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
    new TypeError(`Cannot use ${flag} ${typeof value === "string" ? shown(value) : value}: ${fix}`);
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
    if (!isUsablePath(overrides.root)) {
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
  if (overrides.confinement !== undefined) {
    if (!isConfinement(overrides.confinement)) {
      throw bad("--confinement", overrides.confinement, `give ${CONFINEMENTS.join(", ")}`);
    }
    next.confinement = overrides.confinement;
  }
  if (overrides.logFormat !== undefined) {
    if (!isLogFormat(overrides.logFormat)) {
      throw bad("--log-format", overrides.logFormat, `give ${LOG_FORMATS.join(" or ")}`);
    }
    next.logFormat = overrides.logFormat;
  }
  const path = (flag: string, value: string, what: string): string => {
    if (!isUsablePath(value)) throw bad(flag, value, `give the path of ${what}`);
    return posix.resolve(value);
  };
  if (overrides.stateDir !== undefined) {
    next.stateDir = path("--state-dir", overrides.stateDir, "a directory");
  }
  if (overrides.auditLog !== undefined) {
    next.auditLog = path("--audit-log", overrides.auditLog, "a file");
  }
  const { tlsCert, tlsKey } = overrides;
  if (overrides.tls === false) {
    if (tlsCert !== undefined || tlsKey !== undefined) {
      const flag = tlsCert !== undefined ? "--tls-cert" : "--tls-key";
      throw new TypeError(`Cannot use ${flag} with --no-tls: drop one of them`);
    }
    // The flag wins over the file: no TLS, so a certificate from the file is not used.
    next.tls = false;
    next.tlsCert = null;
    next.tlsKey = null;
  } else if (overrides.tls === true) {
    next.tls = true;
  }
  if (tlsCert !== undefined || tlsKey !== undefined) {
    if (!next.tls) {
      const flag = tlsCert !== undefined ? "--tls-cert" : "--tls-key";
      throw new TypeError(
        `Cannot use ${flag}: the config file sets tls = false; remove that line or drop the flag`,
      );
    }
    if (tlsCert !== undefined) next.tlsCert = path("--tls-cert", tlsCert, "a PEM certificate");
    if (tlsKey !== undefined) next.tlsKey = path("--tls-key", tlsKey, "a PEM private key");
    if ((next.tlsCert === null) !== (next.tlsKey === null)) {
      const [given, missing] = next.tlsCert === null
        ? ["--tls-key", "--tls-cert"]
        : ["--tls-cert", "--tls-key"];
      throw new TypeError(
        `Cannot use ${given} without ${missing}: give both, a certificate and its key`,
      );
    }
  }
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

function readStateEnv(): { XDG_STATE_HOME?: string; HOME?: string } {
  const env: { XDG_STATE_HOME?: string; HOME?: string } = {};
  for (const name of ["XDG_STATE_HOME", "HOME"] as const) {
    try {
      // Query first: reading an ungranted variable would prompt on a terminal.
      if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") continue;
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    } catch { /* not readable: use the next default */ }
  }
  return env;
}

function effectiveReadOnly(
  readOnly: boolean,
  users: ModuleUser[] | null,
  anonymousWrite: boolean,
): boolean {
  return readOnly || (users === null && !anonymousWrite);
}

function checkAnonymousWrite(
  rules: { users: ModuleUser[] | null; readOnly: boolean; anonymousWrite: boolean },
  keys: [what: string, users: string, anonymousWrite: string, readOnly: string],
  bad: Bad,
): void {
  const [what, usersKey, anonymousKey, readOnlyKey] = keys;
  if (!rules.anonymousWrite) return;
  if (rules.users !== null) {
    throw bad(
      `${what} sets both ${usersKey} and ${anonymousKey} = true`,
      `${anonymousKey} applies only to ${
        what === "the default root" ? "a root" : "a module"
      } without ${usersKey}; remove one`,
    );
  }
  if (rules.readOnly) {
    throw bad(
      `${what} sets both ${readOnlyKey} = true and ${anonymousKey} = true`,
      "a read-only export takes no writes; remove one",
    );
  }
}

function optionalRules(table: Table, key: string, bad: Bad): string[] | null {
  const value = table[key];
  if (value === undefined) return null;
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw bad(
      `"daemon.${key}" must be an array of strings, not ${typeName(value)}`,
      `write it like ${key} = ["10.0.0.0/8", "fd00::/8"]`,
    );
  }
  checkCount(value.length, CONFIG_LIMITS.addressRules, `"daemon.${key}"`, "merge networks", bad);
  for (const rule of value) {
    try {
      parseCidr(rule);
    } catch {
      throw bad(
        `"daemon.${key}" entry ${shown(rule)} is not an address or network`,
        "write it like 10.0.0.0/8, fd00::/8 or 192.168.1.7",
      );
    }
  }
  return [...value];
}

function optionalCount(table: Table, key: string, max: number, bad: Bad): number | undefined {
  const value = table[key];
  if (value === undefined) return undefined;
  if (typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= max) {
    return value;
  }
  throw bad(
    `"daemon.${key}" must be an integer from 1 to ${max}, not ${
      typeof value === "number" ? value : typeName(value)
    }`,
    key === "max_connections_per_host" && typeof value === "number" && value > max
      ? "keep it at most max_connections"
      : "write a number without quotes",
  );
}

/** The `name` of a `[[module]]` or `[[user]]` table: present and made of safe characters. */
function entryName(entry: Table, label: string, bad: Bad): string {
  const name = optionalString(entry, "name", `${label} `, bad);
  if (name === undefined || name === "") {
    throw bad(`${label} has no name`, `add name = "..." using letters, digits, '.', '_' or '-'`);
  }
  if (name.length > CONFIG_LIMITS.nameChars) {
    throw bad(
      `${label} name ${shown(name)} is ${name.length} characters long`,
      `use at most ${CONFIG_LIMITS.nameChars}`,
    );
  }
  if (!NAME_REGEXP.test(name) || name === "." || name === "..") {
    throw bad(
      `${label} name ${shown(name)} is invalid`,
      "use only letters, digits, '.', '_' and '-' (not \".\" or \"..\")",
    );
  }
  return name;
}

/** Whether a path given on the command line can be used: not empty, no NUL, not too long. */
function isUsablePath(path: string): boolean {
  return path !== "" && !path.includes("\0") && utf8Bytes(path) <= CONFIG_LIMITS.pathBytes;
}

/** A value quoted for an error message, cut to 60 characters. */
function shown(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** Refuses a list longer than `max`. */
function checkCount(length: number, max: number, what: string, fix: string, bad: Bad): void {
  if (length > max) throw bad(`${what} has ${length} entries, more than ${max}`, fix);
}

/** Refuses a free text that is too long or holds control characters (see `textProblem`). */
function checkText(text: string, what: string, maxBytes: number, lines: boolean, bad: Bad): void {
  const problem = textProblem(text, maxBytes, lines);
  if (problem === null) return;
  throw bad(
    `${what} ${problem}`,
    problem.startsWith("is ")
      ? `shorten it to at most ${maxBytes} bytes`
      : lines
      ? "remove it; only newlines and tabs may appear"
      : "remove it; write one line of plain text",
  );
}

function parseUsers(list: Table[], bad: Bad): UserConfig[] {
  const seen = new Set<string>();
  return list.map((entry, index): UserConfig => {
    const label = `user #${index + 1}`;
    checkKeys(entry, USER_KEYS, `${label} `, bad);
    const name = entryName(entry, label, bad);
    if (seen.has(name)) {
      throw bad(`user name "${name}" is used twice`, "declare each user once, with all its keys");
    }
    seen.add(name);
    const value = entry.public_key;
    const lines = typeof value === "string" ? [value] : value;
    if (
      !Array.isArray(lines) || lines.length === 0 ||
      !lines.every((line) => typeof line === "string")
    ) {
      throw bad(
        value === undefined
          ? `user "${name}" has no public_key`
          : `user "${name}" key "public_key" must be a string or a non-empty array of strings, ` +
            `not ${Array.isArray(value) ? "an empty array" : typeName(value)}`,
        `add public_key = "blit-ed25519 …" (the line of "blit keygen") or an ssh-ed25519 line`,
      );
    }
    checkCount(
      lines.length,
      CONFIG_LIMITS.keysPerUser,
      `user "${name}" public_key`,
      "list fewer keys",
      bad,
    );
    const publicKeys = lines.map((line: string) => {
      if (line.length > CONFIG_LIMITS.keyLineChars) {
        throw bad(
          `user "${name}" has a public_key line of ${line.length} characters`,
          `give a blit-ed25519 or ssh-ed25519 line of at most ${CONFIG_LIMITS.keyLineChars}`,
        );
      }
      try {
        const key = parsePublicKey(line);
        return formatPublicKey(key.raw, key.comment);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const why = PUBLIC_KEY_WHY_REGEXP.exec(message)?.[1] ?? message;
        const shown = line.length > 40 ? `${line.slice(0, 40)}…` : line;
        throw bad(
          `user "${name}" public_key ${JSON.stringify(shown)} cannot be read (${why})`,
          "give a blit-ed25519 line (from blit keygen) or an ssh-ed25519 line",
        );
      }
    });
    return { name, publicKeys };
  });
}

function optionalModuleUsers(
  table: Table,
  key: string,
  prefix: string,
  declared: ReadonlySet<string>,
  bad: Bad,
): ModuleUser[] | null {
  const value = table[key];
  if (value === undefined) return null;
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw bad(
      `${label(prefix, key)} must be an array of strings, not ${typeName(value)}`,
      `write it like ${key} = ["alice", "bob:ro"]`,
    );
  }
  const seen = new Set<string>();
  return value.map((item: string): ModuleUser => {
    const match = MODULE_USER_REGEXP.exec(item);
    if (match === null) {
      throw bad(
        `${label(prefix, key)} entry ${JSON.stringify(item)} is invalid`,
        `write a user name, optionally followed by ":ro" (read-only), like "bob:ro"`,
      );
    }
    const name = match[1] as string;
    if (!declared.has(name)) {
      throw bad(
        `${label(prefix, key)} names the user "${name}", who is not declared`,
        `add a [[user]] with name = "${name}" and its public_key, or remove it`,
      );
    }
    if (seen.has(name)) {
      throw bad(`${label(prefix, key)} lists the user "${name}" twice`, "list each user once");
    }
    seen.add(name);
    return { name, readOnly: match[2] === "ro" };
  });
}

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

/** `shutdown_grace`: a duration (see {@linkcode parseDurationMs}) of at most an hour. */
function optionalGrace(value: unknown, bad: Bad): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDurationMs(value);
  if (ms !== null && ms <= MAX_SHUTDOWN_GRACE_MS) return ms;
  throw bad(
    `"daemon.shutdown_grace" value ${
      typeof value === "string" ? shown(value) : typeof value === "number" ? value : typeName(value)
    } is not a duration of at most ${MAX_SHUTDOWN_GRACE_MS / 60_000} minutes`,
    `give whole seconds such as 30, or a string such as "30s", "2m" or "500ms"`,
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
  const bytes = utf8Bytes(path);
  if (bytes > CONFIG_LIMITS.pathBytes) {
    throw bad(`${what} is ${bytes} bytes long`, `use a path of at most ${CONFIG_LIMITS.pathBytes}`);
  }
  if (path.startsWith("~")) {
    throw bad(
      `${what} ${shown(path)} starts with "~"`,
      'write the absolute path; "~" is not expanded',
    );
  }
  return path;
}

function checkMdnsName(name: string, what: string, bad: Bad): void {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0 || bytes > 63) {
    throw bad(`${what} must be 1 to 63 bytes long (got ${bytes})`, "choose a shorter name");
  }
  if (CONTROL_IN_LINE.test(name)) {
    throw bad(`${what} holds a control character`, "use printable characters only");
  }
}

async function resolveFile(path: string, what: string, where: string): Promise<string> {
  const real = await realPathOf(path, what, where, "file");
  if (!(await Deno.stat(real)).isFile) {
    throw new TypeError(`${where}: ${what} "${path}" is not a file, point it at a PEM file`);
  }
  return real;
}

async function resolveDirectory(path: string, what: string, where: string): Promise<string> {
  const real = await realPathOf(path, what, where, "directory");
  const info = await Deno.stat(real);
  if (!info.isDirectory) {
    throw new Deno.errors.NotADirectory(
      `${where}: ${what} "${path}" is not a directory, point it at a directory`,
    );
  }
  return real;
}

/** The real path of a configured path, or one line naming it and the fix. */
async function realPathOf(
  path: string,
  what: string,
  where: string,
  kind: "file" | "directory",
): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `${where}: ${what} "${path}" does not exist, create the ${kind} or fix the path`,
        { cause: error },
      );
    }
    throw new Error(`${where}: ${what} "${path}": ${firstLine(error)}, check its permissions`, {
      cause: error,
    });
  }
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
