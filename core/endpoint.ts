/**
 * The one endpoint module: how a transfer names its two sides and where the source lands.
 *
 * - The grammar of endpoints ({@linkcode parseEndpoint}): local paths, `host:/module/path`,
 *   `host://path` (the daemon's default root), `host:port:/module/path`, `[::1]:port:/module/`,
 *   and of bare daemon addresses ({@linkcode parseHostAddress}); one host rule, one IPv6 rule.
 * - The destination rule ({@linkcode placeSource}), rsync's exactly: a directory without a
 *   trailing slash always lands *inside* the destination (`DST/<name>`); `SRC/` fills DST
 *   itself; a file or link lands inside DST when DST is an existing directory or is written with
 *   a trailing `/`, else DST is the exact target. A directory is never put onto an existing
 *   non-directory: that is refused and the file left as it is.
 * - The refusals a transfer can end with before it starts, as typed reasons
 *   ({@linkcode TransferRefusal}) worded once ({@linkcode refusalMessage}) with the endpoints as
 *   the user typed them, whichever side (CLI or daemon) found the problem.
 *
 * Remote forms (the port defaults to {@linkcode DEFAULT_PORT}):
 *
 * | text                          | meaning                                         |
 * |-------------------------------|-------------------------------------------------|
 * | `host:/module/`               | root of module `module` (the final `/` is required) |
 * | `host:/module/sub/path`       | `sub/path` inside module `module`               |
 * | `host:/module/sub/dir/`       | same, with the trailing slash flag set          |
 * | `host://path`                 | `path` under the daemon's default root          |
 * | `host:9000:/module/...`       | explicit port                                   |
 * | `[::1]:9000:/module/`, `[::1]:/m/` | IPv6 literal host in brackets              |
 *
 * Everything else that starts with `/`, `./`, `../` or `~`, or that has no `:` before its first
 * `/`, is a local path.
 *
 * @module
 */

import { describeError, UsageError } from "./errors.ts";
import type { EntryKind, TransferOperation } from "./types.ts";

/** TCP port a blit daemon listens on when none is given. */
export const DEFAULT_PORT = 9031;

/** A path on this machine, exactly as the user wrote it. */
export interface LocalEndpoint {
  /** Discriminant. */
  kind: "local";
  /** The path as written (not normalised, `~` not expanded). */
  path: string;
  /** True when the text ends with `/` (or `/.`): rsync's "contents of SRC" rule. */
  trailingSlash: boolean;
  /** The original text. */
  text: string;
}

/** A path inside a module (or the default root) of a blit daemon. */
export interface RemoteEndpoint {
  /** Discriminant. */
  kind: "remote";
  /** Host name or IP address; IPv6 literals are stored without brackets. */
  host: string;
  /** TCP port of the daemon. */
  port: number;
  /** Module name, or `null` for the daemon's default root (the `host://path` form). */
  module: string | null;
  /**
   * Normalised relative POSIX path inside the module: no leading, trailing or duplicate `/`, no
   * `.` segments, never `..`; `""` for the module root.
   */
  path: string;
  /**
   * True when the text ends with `/` (or `/.`): rsync's "contents of SRC" rule. Always true when
   * `path` is `""`.
   */
  trailingSlash: boolean;
  /** The original text. */
  text: string;
}

/** A parsed transfer endpoint. */
export type Endpoint = LocalEndpoint | RemoteEndpoint;

const MODULE_NAME_REGEXP = /^[A-Za-z0-9._-]+$/;
/** A host name or IPv4 address. */
const HOST_NAME_REGEXP = /^[A-Za-z0-9._-]+$/;
/** An IPv6 literal (without brackets), with an optional zone (`fe80::1%eth0`). */
const IPV6_LITERAL_REGEXP = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9_.-]+)?$/;
const PORT_REGEXP = /^[0-9]+$/;
const FORMS = "host:/module/path, host://path or host:port:/module/path";

/**
 * Tells whether `text` names a remote endpoint, using the same rule as
 * {@linkcode parseEndpoint} but without validating the rest of the text.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { isRemote } from "./endpoint.ts";
 * strictEqual(isRemote("nas:/backup/"), true);
 * strictEqual(isRemote("./nas:/backup/"), false);
 * strictEqual(isRemote("dst"), false);
 * ```
 *
 * @param text An endpoint as typed by the user.
 * @returns True for the remote forms (even malformed ones), false for local paths.
 */
export function isRemote(text: string): boolean {
  if (text === "" || text.startsWith("/") || text.startsWith("~")) return false;
  if (text === "." || text === ".." || text.startsWith("./") || text.startsWith("../")) {
    return false;
  }
  if (text.startsWith("[")) return true;
  const colon = text.indexOf(":");
  if (colon < 0) return false;
  const slash = text.indexOf("/");
  return slash < 0 || colon < slash;
}

/**
 * Parses a transfer endpoint.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseEndpoint } from "./endpoint.ts";
 * deepStrictEqual(parseEndpoint("nas:/photos/2024//./trip/"), {
 *   kind: "remote",
 *   host: "nas",
 *   port: 9031,
 *   module: "photos",
 *   path: "2024/trip",
 *   trailingSlash: true,
 *   text: "nas:/photos/2024//./trip/",
 * });
 * deepStrictEqual(parseEndpoint("dst"), {
 *   kind: "local",
 *   path: "dst",
 *   trailingSlash: false,
 *   text: "dst",
 * });
 * ```
 *
 * @example Default root, explicit port and IPv6
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseEndpoint } from "./endpoint.ts";
 * const e = parseEndpoint("[::1]:9000://data/x");
 * strictEqual(e.kind === "remote" && e.host, "::1");
 * strictEqual(e.kind === "remote" && e.port, 9000);
 * strictEqual(e.kind === "remote" && e.module, null);
 * strictEqual(e.kind === "remote" && e.path, "data/x");
 * ```
 *
 * @param text An endpoint as typed by the user.
 * @throws {TypeError} If the text is empty or a malformed remote endpoint: bad port, empty host,
 * empty or invalid module name, module without its trailing `/`, a path with `..`, NUL or `\`,
 * or an unterminated `[`.
 * @returns The parsed endpoint.
 */
export function parseEndpoint(text: string): Endpoint {
  if (text === "") {
    throw new TypeError(`Cannot parse endpoint "": it is empty, give a local path or ${FORMS}`);
  }
  if (!isRemote(text)) {
    return { kind: "local", path: text, trailingSlash: hasTrailingSlash(text), text };
  }
  const { host, rest: afterHost } = splitHost(text);
  let port = DEFAULT_PORT;
  let rest = afterHost;
  if (!rest.startsWith("/")) {
    const colon = rest.indexOf(":");
    if (colon < 0) {
      throw fail(text, `expected "/" after "${host}:"`, `write ${FORMS}`);
    }
    port = parsePort(text, rest.slice(0, colon));
    rest = rest.slice(colon + 1);
    if (!rest.startsWith("/")) {
      throw fail(text, `expected "/" after the port`, `write host:${port}:/module/path`);
    }
  }
  if (rest.startsWith("//")) {
    const raw = rest.slice(2);
    const path = normalizeInner(text, raw);
    return {
      kind: "remote",
      host,
      port,
      module: null,
      path,
      trailingSlash: path === "" || hasTrailingSlash(raw),
      text,
    };
  }
  const body = rest.slice(1);
  const slash = body.indexOf("/");
  const module = slash < 0 ? body : body.slice(0, slash);
  if (module === "") {
    throw fail(text, "the module name is empty", `write ${host}:/module/ or ${host}://path`);
  }
  if (!MODULE_NAME_REGEXP.test(module) || module === "." || module === "..") {
    throw fail(
      text,
      `module name "${module}" is invalid`,
      "module names use only letters, digits, '.', '_' and '-'",
    );
  }
  if (slash < 0) {
    throw fail(
      text,
      "module path must end with '/'",
      `write ${text}/ for the root of module "${module}"`,
    );
  }
  const raw = body.slice(slash + 1);
  const path = normalizeInner(text, raw);
  return {
    kind: "remote",
    host,
    port,
    module,
    path,
    trailingSlash: path === "" || hasTrailingSlash(raw),
    text,
  };
}

/**
 * Formats an endpoint as canonical text that {@linkcode parseEndpoint} reads back to the same
 * endpoint (apart from `text`). The default port is omitted and IPv6 hosts are bracketed.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatEndpoint, parseEndpoint } from "./endpoint.ts";
 * strictEqual(formatEndpoint(parseEndpoint("nas:9031:/m//a/./b/")), "nas:/m/a/b/");
 * strictEqual(formatEndpoint(parseEndpoint("[::1]:9000://x")), "[::1]:9000://x");
 * ```
 *
 * @param endpoint A parsed endpoint.
 * @returns Its canonical text; a local endpoint's path is returned unchanged.
 */
export function formatEndpoint(endpoint: Endpoint): string {
  if (endpoint.kind === "local") return endpoint.path;
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
  const port = endpoint.port === DEFAULT_PORT ? "" : `${endpoint.port}:`;
  const tail = endpoint.path === "" ? "" : `${endpoint.path}${endpoint.trailingSlash ? "/" : ""}`;
  const base = endpoint.module === null ? "//" : `/${endpoint.module}/`;
  return `${host}:${port}${base}${tail}`;
}

function fail(text: string, what: string, fix: string): TypeError {
  return new TypeError(`Cannot parse endpoint "${text}": ${what}, ${fix}`);
}

function hasTrailingSlash(path: string): boolean {
  return path.endsWith("/") || path === "." || path.endsWith("/.");
}

/** Splits the host (brackets removed) from the text after its `:` separator. */
function splitHost(text: string): { host: string; rest: string } {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) {
      throw fail(text, "unterminated '['", "write an IPv6 host as [addr]:/module/path");
    }
    const host = text.slice(1, close);
    if (host === "") throw fail(text, "the host is empty", `write ${FORMS}`);
    if (!IPV6_LITERAL_REGEXP.test(host)) {
      throw fail(text, `host "[${host}]" is not an IPv6 address`, "write [addr]:/module/path");
    }
    if (text[close + 1] !== ":") {
      throw fail(text, `expected ':' after "[${host}]"`, `write [${host}]:/module/path`);
    }
    return { host, rest: text.slice(close + 2) };
  }
  const colon = text.indexOf(":");
  const host = text.slice(0, colon);
  if (host === "") {
    throw fail(text, "the host is empty", `write ${FORMS} (IPv6 hosts go in brackets: [::1]:/m/)`);
  }
  if (!HOST_NAME_REGEXP.test(host)) {
    throw fail(
      text,
      `host "${host}" has invalid characters`,
      `write ${FORMS}, or prefix a local path with ./`,
    );
  }
  return { host, rest: text.slice(colon + 1) };
}

function parsePort(text: string, value: string): number {
  if (value === "") {
    throw fail(
      text,
      "the port is empty",
      "write host:/module/ or host:PORT:/module/ (rsync's host::module form is not used)",
    );
  }
  const port = PORT_REGEXP.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw fail(text, `port "${value}" is invalid`, "use a number from 1 to 65535");
  }
  return port;
}

/** Collapses duplicate `/`, drops `.` segments and rejects `..`, NUL and `\`. */
function normalizeInner(text: string, raw: string): string {
  if (raw.includes("\0")) {
    throw fail(text, "the path contains a NUL byte", "remove it");
  }
  if (raw.includes("\\")) {
    throw fail(text, "the path contains a backslash", "use '/' to separate path segments");
  }
  const parts: string[] = [];
  for (const part of raw.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      throw fail(text, "the path contains a '..' segment", "name the path from the module root");
    }
    parts.push(part);
  }
  return parts.join("/");
}

// ---------------------------------------------------------------------------------------------
// Daemon addresses

/** A daemon's address. */
export interface HostAddress {
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  /** TCP port. */
  port: number;
}

/**
 * Parses `HOST`, `HOST:PORT`, `[IPV6]` or `[IPV6]:PORT` (the port defaults to
 * {@linkcode DEFAULT_PORT}), with the same host and IPv6 rules as {@linkcode parseEndpoint}.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseHostAddress } from "./endpoint.ts";
 * deepStrictEqual(parseHostAddress("nas"), { host: "nas", port: 9031 });
 * deepStrictEqual(parseHostAddress("[::1]:9000"), { host: "::1", port: 9000 });
 * ```
 *
 * @param text The address as typed.
 * @throws {TypeError} If the host is empty or has invalid characters, or the port is not 1-65535.
 * @returns Host and port.
 */
export function parseHostAddress(text: string): HostAddress {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    host = close < 0 ? "" : text.slice(1, close);
    const rest = close < 0 ? "" : text.slice(close + 1);
    if (close < 0 || !IPV6_LITERAL_REGEXP.test(host) || (rest !== "" && !rest.startsWith(":"))) {
      throw new TypeError(`Cannot parse host "${text}": write [IPV6] or [IPV6]:PORT`);
    }
    portText = rest === "" ? undefined : rest.slice(1);
  } else {
    const parts = text.split(":");
    if (parts.length > 2) {
      throw new TypeError(`Cannot parse host "${text}": write HOST, HOST:PORT or [IPV6]:PORT`);
    }
    host = parts[0] ?? "";
    portText = parts[1];
    if (!HOST_NAME_REGEXP.test(host)) {
      throw new TypeError(
        `Cannot parse host "${text}": ${host === "" ? "it is empty" : "it has invalid characters"}`,
      );
    }
  }
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) {
      throw new TypeError(`Cannot parse host "${text}": port "${portText}" is not 1-65535`);
    }
  }
  return { host, port };
}

/**
 * Formats an address as `host:port` (IPv6 in brackets), the form grpc-js dials.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatHostAddress } from "./endpoint.ts";
 * strictEqual(formatHostAddress({ host: "::1", port: 9031 }), "[::1]:9031");
 * ```
 *
 * @param address The address.
 * @returns The text.
 */
export function formatHostAddress(address: HostAddress): string {
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}

// ---------------------------------------------------------------------------------------------
// Local paths

/**
 * Makes a path absolute against the current directory and removes `.`/`..` segments and
 * duplicate or trailing slashes (lexically).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { absolutePath } from "./endpoint.ts";
 * strictEqual(absolutePath("/a/./b/../c/"), "/a/c");
 * ```
 *
 * @param path A local path.
 * @returns The normalised absolute path.
 */
export function absolutePath(path: string): string {
  const joined = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const parts: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/**
 * Splits an absolute local path into the directory that holds it and its name (`"/"` has no
 * name: `["/", ""]`).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { splitLocalPath } from "./endpoint.ts";
 * deepStrictEqual(splitLocalPath("/a/b"), ["/a", "b"]);
 * deepStrictEqual(splitLocalPath("/a"), ["/", "a"]);
 * deepStrictEqual(splitLocalPath("/"), ["/", ""]);
 * ```
 *
 * @param abs A normalised absolute path.
 * @returns `[parent, name]`.
 */
export function splitLocalPath(abs: string): [string, string] {
  const slash = abs.lastIndexOf("/");
  return [abs.slice(0, slash) || "/", abs.slice(slash + 1)];
}

// ---------------------------------------------------------------------------------------------
// Where the source lands

/** Why a transfer is refused before anything is written. */
export type RefusalReason =
  /** The source does not exist. */
  | "source-missing"
  /** `SRC/` names something that is not a directory. */
  | "source-not-directory"
  /** The source cannot be read. */
  | "source-unreadable"
  /** A directory would land on an existing file or link. */
  | "destination-not-directory"
  /** The destination cannot be prepared (its directory cannot be created). */
  | "destination-unwritable"
  /** Source and target are the same place. */
  | "same-path"
  /** The target is inside the source. */
  | "destination-inside-source"
  /** Mirror: the source is inside the target (it would be deleted). */
  | "source-inside-destination";

const REFUSAL_REASONS: readonly RefusalReason[] = [
  "source-missing",
  "source-not-directory",
  "source-unreadable",
  "destination-not-directory",
  "destination-unwritable",
  "same-path",
  "destination-inside-source",
  "source-inside-destination",
];

/**
 * Tells whether a text is a {@linkcode RefusalReason} (for codes read off the wire).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { isRefusalReason } from "./endpoint.ts";
 * strictEqual(isRefusalReason("source-missing"), true);
 * strictEqual(isRefusalReason("io"), false);
 * ```
 *
 * @param code The text.
 * @returns Whether it is a refusal reason.
 */
export function isRefusalReason(code: string): code is RefusalReason {
  return (REFUSAL_REASONS as readonly string[]).includes(code);
}

/** The endpoints of a transfer as the user typed them, to word refusals with. */
export interface EndpointTexts {
  /** The source as typed. */
  source: string;
  /** The destination as typed. */
  destination: string;
}

/**
 * Words a refusal with the endpoints as the user typed them: the same words whichever side of a
 * session found the problem.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { refusalMessage } from "./endpoint.ts";
 * strictEqual(
 *   refusalMessage("source-missing", { source: "./a", destination: "b" }),
 *   'Cannot find source "./a": check the path',
 * );
 * ```
 *
 * @param reason Why.
 * @param texts The endpoints.
 * @param detail The operating system's words, for the reasons that carry them.
 * @returns One line.
 */
export function refusalMessage(reason: RefusalReason, texts: EndpointTexts, detail = ""): string {
  const src = JSON.stringify(texts.source);
  const dst = JSON.stringify(texts.destination);
  switch (reason) {
    case "source-missing":
      return `Cannot find source ${src}: check the path`;
    case "source-not-directory":
      return `Cannot copy the contents of ${src}: it is not a directory`;
    case "source-unreadable":
      return `Cannot read source ${src}: ${detail}`;
    case "destination-not-directory":
      return `Cannot copy directory ${src} onto ${dst}: it exists and is not a directory; name a directory (or remove it first)`;
    case "destination-unwritable":
      return `Cannot create destination ${dst}: ${detail}`;
    case "same-path":
      return `Cannot transfer ${src} onto itself: choose a destination outside the source`;
    case "destination-inside-source":
      return `Cannot transfer ${src} into ${dst}: the destination is inside the source`;
    case "source-inside-destination":
      return `Cannot mirror ${src} into ${dst}: the source is inside the destination and would be deleted`;
  }
}

/**
 * A transfer refused before anything was written: a missing source, a directory onto a file,
 * overlapping roots. Carries the typed reason, so that a daemon can report it and the client
 * word it with the endpoints as typed.
 *
 * @example Usage
 * ```ts
 * import { ok, strictEqual } from "node:assert/strict";
 * import { TransferRefusal } from "./endpoint.ts";
 * const error = new TransferRefusal("source-missing", { source: "a", destination: "b" });
 * ok(error instanceof Error);
 * strictEqual(error.reason, "source-missing");
 * ```
 */
export class TransferRefusal extends UsageError {
  /** Why. */
  readonly reason: RefusalReason;
  /** The operating system's words, when the reason carries them. */
  readonly detail: string;

  /**
   * Creates the refusal.
   * @param reason Why.
   * @param texts The endpoints to word it with.
   * @param detail The operating system's words.
   */
  constructor(reason: RefusalReason, texts: EndpointTexts, detail = "") {
    super(refusalMessage(reason, texts, detail));
    this.name = "TransferRefusal";
    this.reason = reason;
    this.detail = detail;
  }
}

/** What the destination named by the user is, as far as the placement rule cares. */
export interface DestinationFacts {
  /** Something exists there (`lstat`). */
  exists: boolean;
  /** It is a directory, following a link. */
  isDirectory: boolean;
  /** It was written with a trailing `/`. */
  trailingSlash: boolean;
}

/**
 * Where the source root lands: `into` the named destination (`DST/<name>`), or `onto` it (DST is
 * the target itself). This is rsync's rule exactly; see the module doc.
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { placeSource, TransferRefusal } from "./endpoint.ts";
 * const missing = { exists: false, isDirectory: false, trailingSlash: false };
 * strictEqual(placeSource({ kind: "dir", contentsOnly: false }, missing), "into");
 * strictEqual(placeSource({ kind: "dir", contentsOnly: true }, missing), "onto");
 * strictEqual(placeSource({ kind: "file", contentsOnly: false }, missing), "onto");
 * const file = { exists: true, isDirectory: false, trailingSlash: false };
 * throws(() => placeSource({ kind: "dir", contentsOnly: false }, file), TransferRefusal);
 * ```
 *
 * @param source Kind of the source root and whether only its contents travel.
 * @param destination What the destination is.
 * @param texts The endpoints, to word a refusal with.
 * @throws {TransferRefusal} `destination-not-directory` when a directory would land on an
 * existing non-directory.
 * @returns `into` or `onto`.
 */
export function placeSource(
  source: { kind: EntryKind; contentsOnly: boolean },
  destination: DestinationFacts,
  texts: EndpointTexts = { source: "SRC", destination: "DST" },
): "into" | "onto" {
  if (source.kind === "dir") {
    if (destination.exists && !destination.isDirectory) {
      throw new TransferRefusal("destination-not-directory", texts);
    }
    return source.contentsOnly ? "onto" : "into";
  }
  return destination.isDirectory || destination.trailingSlash ? "into" : "onto";
}

/**
 * Refuses local roots that overlap: a target equal to the source or inside it, and (mirror) a
 * source inside the target, which the mirror would delete. Compares real paths.
 *
 * @example Usage
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { checkOverlap, TransferRefusal } from "./endpoint.ts";
 * const texts = { source: "a", destination: "a/b" };
 * throws(() => checkOverlap("copy", "dir", "/x/a", "/x/a/b/a", texts), TransferRefusal);
 * checkOverlap("copy", "dir", "/x/a", "/x/c/a", texts);
 * ```
 *
 * @param operation The verb.
 * @param kind Kind of the source root.
 * @param source Real path of the source root.
 * @param target Real path of the target (what the source root becomes).
 * @param texts The endpoints, to word a refusal with.
 * @throws {TransferRefusal} When the roots overlap.
 */
export function checkOverlap(
  operation: TransferOperation,
  kind: EntryKind,
  source: string,
  target: string,
  texts: EndpointTexts,
): void {
  if (source === target) throw new TransferRefusal("same-path", texts);
  if (kind !== "dir") return;
  if (isInside(target, source)) throw new TransferRefusal("destination-inside-source", texts);
  if (operation === "mirror" && isInside(source, target)) {
    throw new TransferRefusal("source-inside-destination", texts);
  }
}

function isInside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent === "/" ? "/" : `${parent}/`);
}

/**
 * The real path of `path`, or of its deepest existing ancestor joined with the missing rest (for
 * a target that does not exist yet).
 *
 * @param path A normalised absolute path.
 * @returns The real (or partly real) path.
 */
export function realPathOrAncestor(path: string): string {
  const missing: string[] = [];
  let current = path;
  while (true) {
    try {
      const real = Deno.realPathSync(current);
      return missing.length === 0 ? real : `${real === "/" ? "" : real}/${missing.join("/")}`;
    } catch {
      if (current === "/") return path;
      const [parent, name] = splitLocalPath(current);
      missing.unshift(name);
      current = parent;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Modules of a daemon

/** An export of a daemon, as a session or an admin call sees it. */
export interface ExportedModule {
  /** Module name (`""` for the default root). */
  name: string;
  /** Local path of the export. */
  path: string;
  /** Clients may only read. */
  readOnly: boolean;
  /** How messages name it: `module "m"` or `the default root`. */
  label: string;
  /** What clients push keeps its setuid, setgid and sticky bits (`keep_special_bits`). */
  keepSpecialBits: boolean;
  /**
   * Owners and groups cross this export (`keep_owner`): a push's are applied, a pull's sent, when
   * the client asks for them and the daemon runs as root.
   */
  keepOwner: boolean;
}

/** What {@linkcode lookupModule} needs of a daemon's configuration. */
export interface ExportTable {
  /** The default root, or `null`. */
  root: string | null;
  /** Whether the default root is read-only. */
  rootReadOnly: boolean;
  /** Whether the default root keeps special bits of what clients push (default `false`). */
  rootKeepSpecialBits?: boolean;
  /** Whether the default root keeps owners and groups (default `false`). */
  rootKeepOwner?: boolean;
  /** The modules (`keepSpecialBits` and `keepOwner` default to `false`). */
  modules: readonly {
    name: string;
    path: string;
    readOnly: boolean;
    keepSpecialBits?: boolean;
    keepOwner?: boolean;
  }[];
}

/**
 * Thrown when a remote path names no export of the daemon.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { ModuleUnknownError } from "./endpoint.ts";
 * strictEqual(new ModuleUnknownError("x").name, "ModuleUnknownError");
 * ```
 */
export class ModuleUnknownError extends Error {
  /** The name asked for (`""` for the default root). */
  readonly module: string;

  /**
   * Creates the error.
   * @param module The name asked for (`""` for the default root).
   */
  constructor(module: string) {
    super(
      module === ""
        ? "Cannot open the default root: none is exported, name a module"
        : `Cannot open module ${JSON.stringify(module)}: no such module (see "blit list HOST")`,
    );
    this.name = "ModuleUnknownError";
    this.module = module;
  }
}

/**
 * Finds the export a remote path names: a module, or the default root for `""`. The one lookup
 * of transfers and admin calls alike.
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { lookupModule, ModuleUnknownError } from "./endpoint.ts";
 * const table = { root: null, rootReadOnly: true, modules: [{ name: "m", path: "/srv/m", readOnly: false }] };
 * strictEqual(lookupModule(table, "m").label, 'module "m"');
 * throws(() => lookupModule(table, ""), ModuleUnknownError);
 * ```
 *
 * @param table The daemon's exports.
 * @param module The module name from the request (`""`: the default root).
 * @throws {ModuleUnknownError} When no such export exists.
 * @returns The export.
 */
export function lookupModule(table: ExportTable, module: string): ExportedModule {
  if (module === "") {
    if (table.root === null) throw new ModuleUnknownError("");
    return {
      name: "",
      path: table.root,
      readOnly: table.rootReadOnly,
      label: "the default root",
      keepSpecialBits: table.rootKeepSpecialBits ?? false,
      keepOwner: table.rootKeepOwner ?? false,
    };
  }
  const found = table.modules.find((m) => m.name === module);
  if (!found) throw new ModuleUnknownError(module);
  return {
    name: found.name,
    path: found.path,
    readOnly: found.readOnly,
    label: `module ${JSON.stringify(found.name)}`,
    keepSpecialBits: found.keepSpecialBits ?? false,
    keepOwner: found.keepOwner ?? false,
  };
}

/**
 * Parses the two endpoints of a run, turning a malformed one into a usage error.
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { parseEndpoints } from "./endpoint.ts";
 * const [src, dst] = parseEndpoints("a/", "nas:/m/b");
 * strictEqual(src.kind, "local");
 * strictEqual(dst.kind, "remote");
 * throws(() => parseEndpoints("a", "nas:"), { name: "UsageError" });
 * ```
 *
 * @param source The source as typed.
 * @param destination The destination as typed.
 * @throws {UsageError} When either is malformed.
 * @returns Both endpoints.
 */
export function parseEndpoints(source: string, destination: string): [Endpoint, Endpoint] {
  try {
    return [parseEndpoint(source), parseEndpoint(destination)];
  } catch (error) {
    throw new UsageError(describeError(error));
  }
}
