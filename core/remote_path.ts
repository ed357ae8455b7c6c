/**
 * The one parser for transfer endpoints: local paths, `host:/module/path` and `host://path`.
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
const HOST_NAME_REGEXP = /^[A-Za-z0-9._-]+$/;
const IPV6_LITERAL_REGEXP = /^[0-9A-Za-z:.%_-]+$/;
const PORT_REGEXP = /^[0-9]+$/;
const FORMS = "host:/module/path, host://path or host:port:/module/path";

/**
 * Tells whether `text` names a remote endpoint, using the same rule as
 * {@linkcode parseEndpoint} but without validating the rest of the text.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { isRemote } from "./remote_path.ts";
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
 * import { parseEndpoint } from "./remote_path.ts";
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
 * import { parseEndpoint } from "./remote_path.ts";
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
 * import { formatEndpoint, parseEndpoint } from "./remote_path.ts";
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
