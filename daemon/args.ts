/**
 * Arguments of `blitd` and of the server process it starts: the launcher's command line, the
 * resolved configuration passed to the server as `--config-json`, and shell quoting for
 * `blitd --print-permissions`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { explainArgs } from "../cmdline/explain_args.ts";
import { parseCidr } from "../core/cidr.ts";
import {
  CONFIG_LIMITS,
  type Confinement,
  CONFINEMENTS,
  type DaemonConfig,
  type DaemonOverrides,
  isBindAddress,
  isConfinement,
  isLogFormat,
  LOG_FORMATS,
  type LogFormat,
  MAX_CONNECTIONS_LIMIT,
  MAX_SHUTDOWN_GRACE_MS,
  type ModuleUser,
  textProblem,
  type UserConfig,
} from "../core/config.ts";
import { describeError, UsageError } from "../core/errors.ts";
import { formatPublicKey, parsePublicKey } from "../core/identity.ts";
import {
  parseSystemdUnitArgs,
  SYSTEMD_UNIT_COMMAND,
  type SystemdUnitArgs,
} from "./systemd_unit_cli.ts";

/** Config file `blitd` reads when `--config` is not given. */
export const DEFAULT_CONFIG_PATH = "/etc/blit/config.toml";

/** Flag the launcher passes the resolved configuration to the server with. */
export const CONFIG_JSON_FLAG = "--config-json";

/** Help text of `blitd`. */
export const BLITD_HELP = `blitd: the blit daemon

Usage:
  blitd [options]
  blitd systemd-unit --config FILE [--user NAME]   Print a systemd unit for FILE
                                                   (blitd systemd-unit --help)
  blitd compile-server --config FILE [-o PATH] [--dry-run]
                                                   Compile the server for this configuration

Options:
  --config PATH        Config file (default ${DEFAULT_CONFIG_PATH}; when the default file
                       is missing, --root alone is enough)
  --bind ADDR          Listen address: IPv4 or IPv6 literal, or localhost
  --port N             Control port (0 picks a free port)
  --root PATH          Export PATH as the default root (host://path)
  --no-mdns            Do not advertise the daemon over mDNS
  --mdns-name NAME     Instance name advertised over mDNS
  --force-grpc-data    Carry file data over the control stream, not the TCP data plane
  --no-tls             Do not encrypt sessions (a warning is printed at start)
  --tls-cert PATH      TLS certificate (PEM); with --tls-key. Without them a certificate
                       is generated in the state directory
  --tls-key PATH       Private key of --tls-cert (PEM)
  --state-dir PATH     Where the daemon keeps its state (default $XDG_STATE_HOME/blit,
                       else ~/.local/state/blit); created with mode 0700
  --audit-log PATH     Append one JSON line per session and admin call to PATH
  --confinement MODE   auto (default), namespace, systemd or none: whether the server runs
                       in a private mount namespace holding only its code and exports
  --log-format FORMAT  Console log: text (default; lines start with an ISO-8601 time) or
                       json (one object per line; a session's has the audit log's fields)
  --print-permissions  Print the server's Deno permission flags and command line, then exit
  --print-fingerprint  Print the fingerprint of the daemon's TLS certificate, then exit
  -h, --help           Show this help

Flags override the config file. blitd runs the server (daemon/server.ts) in a child process
with only the permissions its exports need, and restarts it if it crashes.

Environment:
  BLITD_HOME           Checkout holding daemon/server.ts (required by a compiled blitd;
                       default: the checkout blitd runs from)
  BLITD_DENO           Deno executable that runs the server (default: the running deno, or
                       "deno" from PATH for a compiled blitd)
  BLITD_SERVER_ENTRY   Test-only: run this script instead of daemon/server.ts
  BLITD_SERVER_BINARY  Run this compiled server (blitd compile-server) instead of deno run
  XDG_STATE_HOME, HOME Pick the default state directory (when blitd may read them;
                       otherwise /var/lib/blit)
`;

/** The parsed command line of `blitd`. */
export interface BlitdArgs {
  /** `--config PATH`, or `undefined` for {@linkcode DEFAULT_CONFIG_PATH}. */
  config: string | undefined;
  /** Values that replace the ones from the config file. */
  overrides: DaemonOverrides;
  /** `--print-permissions`. */
  printPermissions: boolean;
  /** `--print-fingerprint`. */
  printFingerprint: boolean;
  /** `--help`. */
  help: boolean;
  /** The arguments of `blitd systemd-unit …` when that is the command. */
  systemdUnit?: SystemdUnitArgs;
}

const BLITD_OPTIONS = {
  config: { type: "string" },
  bind: { type: "string" },
  port: { type: "string" },
  root: { type: "string" },
  "no-mdns": { type: "boolean" },
  "mdns-name": { type: "string" },
  "force-grpc-data": { type: "boolean" },
  "no-tls": { type: "boolean" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "state-dir": { type: "string" },
  "audit-log": { type: "string" },
  confinement: { type: "string" },
  "log-format": { type: "string" },
  "print-permissions": { type: "boolean" },
  "print-fingerprint": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const PORT_REGEXP = /^\d{1,5}$/;
const MODULE_NAME_REGEXP = /^[A-Za-z0-9._-]+$/;
const SHELL_SAFE_REGEXP = /^[A-Za-z0-9_/.,:=@%+-]+$/;
const CONFIG_KEYS = [
  "bind",
  "port",
  "motd",
  "noMdns",
  "mdnsName",
  "root",
  "rootReadOnly",
  "modules",
  "forceGrpcData",
  "source",
  "tls",
  "tlsCert",
  "tlsKey",
  "stateDir",
  "hostsAllow",
  "hostsDeny",
  "maxConnections",
  "maxConnectionsPerHost",
  "auditLog",
  "users",
  "rootUsers",
  "rootAnonymousWrite",
  "rootKeepSpecialBits",
  "rootKeepOwner",
  "confinement",
] as const;
/** Keys a server configuration holds only when they differ from their defaults. */
const OPTIONAL_CONFIG_KEYS = ["logFormat", "shutdownGraceMs"] as const;
const MODULE_KEYS = [
  "name",
  "path",
  "readOnly",
  "comment",
  "users",
  "anonymousWrite",
  "list",
  "keepSpecialBits",
  "keepOwner",
] as const;
const USER_KEYS = ["name", "publicKeys"] as const;
const MODULE_USER_KEYS = ["name", "readOnly"] as const;

/**
 * Parses the command line of `blitd`.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseBlitdArgs } from "./args.ts";
 * deepStrictEqual(parseBlitdArgs(["--port", "9100", "--no-mdns"]), {
 *   config: undefined,
 *   overrides: { port: 9100, noMdns: true },
 *   printPermissions: false,
 *   printFingerprint: false,
 *   help: false,
 * });
 * ```
 *
 * @param args Command-line arguments.
 * @throws {UsageError} For an unknown flag, a missing value, an extra argument or a port that
 * is not a number.
 * @returns The parsed arguments.
 */
export function parseBlitdArgs(args: string[]): BlitdArgs {
  if (args[0] === SYSTEMD_UNIT_COMMAND) {
    const systemdUnit = parseSystemdUnitArgs(args.slice(1));
    return {
      config: systemdUnit.config,
      overrides: {},
      printPermissions: false,
      printFingerprint: false,
      help: false,
      systemdUnit,
    };
  }
  const { values } = explainArgs("blitd", () => parseArgs({ args, options: BLITD_OPTIONS }));
  const overrides: DaemonOverrides = {};
  if (values.bind !== undefined) overrides.bind = values.bind;
  if (values.port !== undefined) {
    if (!PORT_REGEXP.test(values.port)) {
      throw new UsageError(
        `Cannot use --port "${values.port}": give a number from 0 to 65535`,
      );
    }
    overrides.port = Number(values.port);
  }
  if (values.root !== undefined) overrides.root = values.root;
  if (values["no-mdns"]) overrides.noMdns = true;
  if (values["mdns-name"] !== undefined) overrides.mdnsName = values["mdns-name"];
  if (values["force-grpc-data"]) overrides.forceGrpcData = true;
  if (values["no-tls"]) overrides.tls = false;
  if (values.confinement !== undefined) overrides.confinement = values.confinement;
  const logFormat = values["log-format"];
  if (logFormat !== undefined) {
    if (!isLogFormat(logFormat)) {
      throw new UsageError(
        `Cannot use --log-format ${JSON.stringify(logFormat)}: give ${LOG_FORMATS.join(" or ")}`,
      );
    }
    overrides.logFormat = logFormat;
  }
  const paths = [
    ["tls-cert", "tlsCert", "a PEM certificate"],
    ["tls-key", "tlsKey", "a PEM private key"],
    ["state-dir", "stateDir", "a directory"],
    ["audit-log", "auditLog", "a file"],
  ] as const;
  for (const [flag, key, what] of paths) {
    const value = values[flag];
    if (value === undefined) continue;
    if (value === "" || value.includes("\0")) {
      throw new UsageError(
        `Cannot use --${flag} ${JSON.stringify(value)}: give the path of ${what}`,
      );
    }
    overrides[key] = value;
  }
  if (values["no-tls"] && (values["tls-cert"] !== undefined || values["tls-key"] !== undefined)) {
    const flag = values["tls-cert"] !== undefined ? "--tls-cert" : "--tls-key";
    throw new UsageError(`Cannot use ${flag} with --no-tls: drop one of them`);
  }
  if (values.config === "") {
    throw new UsageError(`Cannot use --config "": give the path of a config file`);
  }
  return {
    config: values.config,
    overrides,
    printPermissions: values["print-permissions"] ?? false,
    printFingerprint: values["print-fingerprint"] ?? false,
    help: values.help ?? false,
  };
}

/**
 * Encodes the resolved daemon configuration as the value of the server's `--config-json`
 * argument. {@linkcode parseServerConfig} reads it back.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "../core/config.ts";
 * import { parseServerConfig, serializeServerConfig } from "./args.ts";
 * const config = parseDaemonConfig("[daemon]\nroot = '/srv'\n");
 * deepStrictEqual(parseServerConfig(serializeServerConfig(config)), config);
 * ```
 *
 * @param config The final configuration (paths resolved, overrides applied).
 * @returns One line of JSON.
 */
export function serializeServerConfig(config: DaemonConfig): string {
  const { modules, ...rest } = config;
  const ordered = {
    bind: rest.bind,
    port: rest.port,
    motd: rest.motd,
    noMdns: rest.noMdns,
    mdnsName: rest.mdnsName,
    root: rest.root,
    rootReadOnly: rest.rootReadOnly,
    modules: modules.map((module) => ({
      name: module.name,
      path: module.path,
      readOnly: module.readOnly,
      comment: module.comment,
      users: module.users === null ? null : module.users.map(moduleUserJson),
      anonymousWrite: module.anonymousWrite,
      list: module.list,
      keepSpecialBits: module.keepSpecialBits,
      keepOwner: module.keepOwner,
    })),
    forceGrpcData: rest.forceGrpcData,
    source: rest.source,
    tls: rest.tls,
    tlsCert: rest.tlsCert,
    tlsKey: rest.tlsKey,
    stateDir: rest.stateDir,
    hostsAllow: rest.hostsAllow === null ? null : [...rest.hostsAllow],
    hostsDeny: [...rest.hostsDeny],
    maxConnections: rest.maxConnections,
    maxConnectionsPerHost: rest.maxConnectionsPerHost,
    auditLog: rest.auditLog,
    users: rest.users.map(({ name, publicKeys }) => ({ name, publicKeys: [...publicKeys] })),
    rootUsers: rest.rootUsers === null ? null : rest.rootUsers.map(moduleUserJson),
    rootAnonymousWrite: rest.rootAnonymousWrite,
    rootKeepSpecialBits: rest.rootKeepSpecialBits,
    rootKeepOwner: rest.rootKeepOwner,
    confinement: rest.confinement,
    ...(rest.logFormat === undefined ? {} : { logFormat: rest.logFormat }),
    ...(rest.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: rest.shutdownGraceMs }),
  };
  return JSON.stringify(ordered);
}

/**
 * Decodes the server's `--config-json` argument written by {@linkcode serializeServerConfig}.
 * It checks every field (types, ranges, absolute paths, unique module and user names, declared
 * users, public keys, address rules, and that an anonymous export without anonymous writes is
 * read-only) and rejects unknown keys, but reads nothing from disk.
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { parseServerConfig } from "./args.ts";
 * const config = parseServerConfig(
 *   '{"bind":"127.0.0.1","port":0,"motd":"","noMdns":true,"mdnsName":null,"root":"/srv",' +
 *     '"rootReadOnly":true,"modules":[],"forceGrpcData":false,"source":null,"tls":true,' +
 *     '"tlsCert":null,"tlsKey":null,"stateDir":"/var/lib/blit","hostsAllow":null,' +
 *     '"hostsDeny":[],"maxConnections":256,"maxConnectionsPerHost":64,"auditLog":null,' +
 *     '"users":[],"rootUsers":null,"rootAnonymousWrite":false,"rootKeepSpecialBits":false,' +
 *     '"rootKeepOwner":false,"confinement":"none"}',
 * );
 * strictEqual(config.root, "/srv");
 * throws(() => parseServerConfig("{}"), /Cannot parse server config/);
 * ```
 *
 * @param text The JSON text.
 * @throws {SyntaxError} If the text is not JSON.
 * @throws {TypeError} If a field is missing, unknown or has a bad value.
 * @returns The configuration.
 */
export function parseServerConfig(text: string): DaemonConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = describeError(error);
    throw new SyntaxError(
      `Cannot parse server config: ${detail}; start the server through blitd`,
      { cause: error },
    );
  }
  return serverConfigOf(value);
}

/**
 * Checks an already-decoded server configuration (the `config` field of the launcher's
 * handoff, see daemon/handoff.ts) as {@linkcode parseServerConfig} does.
 *
 * @example Usage
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { serverConfigOf } from "./args.ts";
 * throws(() => serverConfigOf({}), /Cannot parse server config/);
 * ```
 *
 * @param value The decoded JSON value.
 * @throws {TypeError} If a field is missing, unknown or has a bad value.
 * @returns The configuration.
 */
export function serverConfigOf(value: unknown): DaemonConfig {
  const bad = (what: string): TypeError =>
    new TypeError(`Cannot parse server config: ${what}; start the server through blitd`);
  const doc = table(value, "the value", CONFIG_KEYS, bad, OPTIONAL_CONFIG_KEYS);
  if (typeof doc.bind !== "string" || !isBindAddress(doc.bind)) {
    throw bad(`"bind" must be an IP address or "localhost"`);
  }
  const port = doc.port;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw bad(`"port" must be an integer from 0 to 65535`);
  }
  const usersValue = doc.users;
  if (!Array.isArray(usersValue) || usersValue.length > CONFIG_LIMITS.users) {
    throw bad(`"users" must be an array of at most ${CONFIG_LIMITS.users}`);
  }
  const users = usersValue.map((entry: unknown, index): UserConfig => {
    const user = table(entry, `user #${index + 1}`, USER_KEYS, bad);
    const name = user.name;
    if (!isName(name)) throw bad(`user #${index + 1} has an invalid name`);
    const keys = user.publicKeys;
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > CONFIG_LIMITS.keysPerUser) {
      throw bad(
        `user "${name}" publicKeys must be a non-empty array of at most ${CONFIG_LIMITS.keysPerUser}`,
      );
    }
    const publicKeys = keys.map((line: unknown) => {
      if (typeof line !== "string") throw bad(`user "${name}" publicKeys must hold strings`);
      try {
        const key = parsePublicKey(line);
        if (formatPublicKey(key.raw, key.comment) === line) return line;
      } catch { /* reported below */ }
      throw bad(`user "${name}" has a public key that is not a normalised blit-ed25519 line`);
    });
    return { name, publicKeys };
  });
  const declared = new Set<string>();
  for (const { name } of users) {
    if (declared.has(name)) throw bad(`user name "${name}" is used twice`);
    declared.add(name);
  }
  const moduleUsers = (value: unknown, what: string): ModuleUser[] | null => {
    if (value === null) return null;
    if (!Array.isArray(value)) throw bad(`${what} must be null or an array`);
    const seen = new Set<string>();
    return value.map((entry: unknown, index) => {
      const user = table(entry, `${what} #${index + 1}`, MODULE_USER_KEYS, bad);
      if (typeof user.name !== "string" || !declared.has(user.name)) {
        throw bad(`${what} #${index + 1} names no declared user`);
      }
      if (seen.has(user.name)) throw bad(`${what} lists the user "${user.name}" twice`);
      seen.add(user.name);
      return {
        name: user.name,
        readOnly: boolean(user.readOnly, `${what} #${index + 1} readOnly`, bad),
      };
    });
  };
  const checkRules = (
    what: string,
    rules: { users: ModuleUser[] | null; readOnly: boolean; anonymousWrite: boolean },
  ): void => {
    if (rules.anonymousWrite && rules.users !== null) {
      throw bad(`${what} has both users and anonymousWrite`);
    }
    if (rules.users === null && !rules.anonymousWrite && !rules.readOnly) {
      throw bad(`${what} is anonymous without anonymousWrite, so it must be readOnly`);
    }
  };

  const modulesValue = doc.modules;
  if (!Array.isArray(modulesValue) || modulesValue.length > CONFIG_LIMITS.modules) {
    throw bad(`"modules" must be an array of at most ${CONFIG_LIMITS.modules}`);
  }
  const names = new Set<string>();
  const modules = modulesValue.map((entry: unknown, index) => {
    const module = table(entry, `module #${index + 1}`, MODULE_KEYS, bad);
    const name = module.name;
    if (!isName(name) || name === "." || name === "..") {
      throw bad(`module #${index + 1} has an invalid name`);
    }
    if (names.has(name)) throw bad(`module name "${name}" is used twice`);
    names.add(name);
    const parsed = {
      name,
      path: absolute(module.path, `module "${name}" path`, bad),
      readOnly: boolean(module.readOnly, `module "${name}" readOnly`, bad),
      comment: freeText(module.comment, `module "${name}" comment`, false, bad),
      users: moduleUsers(module.users, `module "${name}" users`),
      anonymousWrite: boolean(module.anonymousWrite, `module "${name}" anonymousWrite`, bad),
      list: boolean(module.list, `module "${name}" list`, bad),
      keepSpecialBits: boolean(module.keepSpecialBits, `module "${name}" keepSpecialBits`, bad),
      keepOwner: boolean(module.keepOwner, `module "${name}" keepOwner`, bad),
    };
    checkRules(`module "${name}"`, parsed);
    return parsed;
  });

  const tls = boolean(doc.tls, `"tls"`, bad);
  const tlsCert = doc.tlsCert === null ? null : absolute(doc.tlsCert, `"tlsCert"`, bad);
  const tlsKey = doc.tlsKey === null ? null : absolute(doc.tlsKey, `"tlsKey"`, bad);
  if ((tlsCert === null) !== (tlsKey === null)) throw bad(`"tlsCert" and "tlsKey" go together`);
  if (!tls && tlsCert !== null) throw bad(`"tlsCert" is set but "tls" is false`);
  const maxConnections = count(doc.maxConnections, `"maxConnections"`, MAX_CONNECTIONS_LIMIT, bad);
  const rootUsers = moduleUsers(doc.rootUsers, `"rootUsers"`);
  const rootReadOnly = boolean(doc.rootReadOnly, `"rootReadOnly"`, bad);
  const rootAnonymousWrite = boolean(doc.rootAnonymousWrite, `"rootAnonymousWrite"`, bad);
  const root = doc.root === null ? null : absolute(doc.root, `"root"`, bad);
  if (root !== null) {
    checkRules("the root", {
      users: rootUsers,
      readOnly: rootReadOnly,
      anonymousWrite: rootAnonymousWrite,
    });
  }
  return {
    bind: doc.bind,
    port,
    motd: freeText(doc.motd, `"motd"`, true, bad),
    noMdns: boolean(doc.noMdns, `"noMdns"`, bad),
    mdnsName: doc.mdnsName === null ? null : string(doc.mdnsName, `"mdnsName"`, bad),
    root,
    rootReadOnly,
    modules,
    forceGrpcData: boolean(doc.forceGrpcData, `"forceGrpcData"`, bad),
    source: doc.source === null ? null : string(doc.source, `"source"`, bad),
    tls,
    tlsCert,
    tlsKey,
    stateDir: absolute(doc.stateDir, `"stateDir"`, bad),
    hostsAllow: doc.hostsAllow === null ? null : rules(doc.hostsAllow, `"hostsAllow"`, bad),
    hostsDeny: rules(doc.hostsDeny, `"hostsDeny"`, bad),
    maxConnections,
    maxConnectionsPerHost: count(
      doc.maxConnectionsPerHost,
      `"maxConnectionsPerHost"`,
      maxConnections,
      bad,
    ),
    auditLog: doc.auditLog === null ? null : absolute(doc.auditLog, `"auditLog"`, bad),
    users,
    rootUsers,
    rootAnonymousWrite,
    rootKeepSpecialBits: boolean(doc.rootKeepSpecialBits, `"rootKeepSpecialBits"`, bad),
    rootKeepOwner: boolean(doc.rootKeepOwner, `"rootKeepOwner"`, bad),
    confinement: confinementValue(doc.confinement, bad),
    ...(doc.logFormat === undefined ? {} : { logFormat: logFormatValue(doc.logFormat, bad) }),
    ...(doc.shutdownGraceMs === undefined ? {} : {
      shutdownGraceMs: milliseconds(doc.shutdownGraceMs, `"shutdownGraceMs"`, bad),
    }),
  };
}

function logFormatValue(value: unknown, bad: Bad): LogFormat {
  if (typeof value !== "string" || !isLogFormat(value)) {
    throw bad(`"logFormat" must be one of ${LOG_FORMATS.join(", ")}`);
  }
  return value;
}

function milliseconds(value: unknown, what: string, bad: Bad): number {
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < 0 ||
    value > MAX_SHUTDOWN_GRACE_MS
  ) {
    throw bad(`${what} must be an integer from 0 to ${MAX_SHUTDOWN_GRACE_MS}`);
  }
  return value;
}

function confinementValue(value: unknown, bad: Bad): Confinement {
  if (typeof value !== "string" || !isConfinement(value)) {
    throw bad(`"confinement" must be one of ${CONFINEMENTS.join(", ")}`);
  }
  return value;
}

/**
 * Formats a command line so that it can be pasted into a POSIX shell: each word is quoted with
 * single quotes unless it only holds safe characters.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatCommandLine } from "./args.ts";
 * strictEqual(formatCommandLine(["deno", "run", "a b.ts", "it's"]), `deno run 'a b.ts' 'it'\\''s'`);
 * ```
 *
 * @param words The program and its arguments.
 * @returns One line.
 */
export function formatCommandLine(words: readonly string[]): string {
  return words.map((word) =>
    SHELL_SAFE_REGEXP.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
  ).join(" ");
}

type Bad = (what: string) => TypeError;

function table(
  value: unknown,
  what: string,
  keys: readonly string[],
  bad: Bad,
  optional: readonly string[] = [],
): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(`${what} must be an object`);
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!keys.includes(key) && !optional.includes(key)) {
      throw bad(`${what} has the unknown key "${key}"`);
    }
  }
  for (const key of keys) {
    if (!(key in record)) throw bad(`${what} has no "${key}"`);
  }
  return record;
}

function string(value: unknown, what: string, bad: Bad): string {
  if (typeof value !== "string") throw bad(`${what} must be a string`);
  return value;
}

/** The motd (`lines`) or a comment: within its size, without control characters. */
function freeText(value: unknown, what: string, lines: boolean, bad: Bad): string {
  const checked = string(value, what, bad);
  const maxBytes = lines ? CONFIG_LIMITS.motdBytes : CONFIG_LIMITS.commentBytes;
  const problem = textProblem(checked, maxBytes, lines);
  if (problem !== null) throw bad(`${what} ${problem}`);
  return checked;
}

function isName(value: unknown): value is string {
  return typeof value === "string" && value.length <= CONFIG_LIMITS.nameChars &&
    MODULE_NAME_REGEXP.test(value);
}

function boolean(value: unknown, what: string, bad: Bad): boolean {
  if (typeof value !== "boolean") throw bad(`${what} must be a boolean`);
  return value;
}

function count(value: unknown, what: string, max: number, bad: Bad): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > max) {
    throw bad(`${what} must be an integer from 1 to ${max}`);
  }
  return value;
}

function rules(value: unknown, what: string, bad: Bad): string[] {
  if (!Array.isArray(value)) throw bad(`${what} must be an array of address rules`);
  return value.map((rule: unknown) => {
    if (typeof rule !== "string") throw bad(`${what} must hold strings`);
    try {
      parseCidr(rule);
    } catch {
      throw bad(`${what} holds ${JSON.stringify(rule)}, which is not an address rule`);
    }
    return rule;
  });
}

function moduleUserJson(user: ModuleUser): ModuleUser {
  return { name: user.name, readOnly: user.readOnly };
}

function absolute(value: unknown, what: string, bad: Bad): string {
  if (
    typeof value !== "string" || !value.startsWith("/") || value.includes("\0") ||
    new TextEncoder().encode(value).length > CONFIG_LIMITS.pathBytes
  ) {
    throw bad(`${what} must be an absolute path of at most ${CONFIG_LIMITS.pathBytes} bytes`);
  }
  return value;
}
