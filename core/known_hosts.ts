/**
 * The client's known-hosts file: the certificate each daemon presented the first time it was
 * reached, pinned from then on (as ssh's `known_hosts`). One entry a line:
 *
 * ```text
 * # comments and blank lines are kept
 * backup.lan:9031 SHA256:3q2+7w… MIIBhTCCASugAwIBAgIQ…
 * [::1]:9031 SHA256:… MIIB…
 * ```
 *
 * `HOST:PORT` (host lower-cased, IPv6 in brackets), the certificate's fingerprint, and the
 * certificate itself (base64 DER, so that it can serve as the only trusted certificate of the
 * next connection). A fingerprint that does not match its certificate makes the line malformed.
 *
 * @module
 */

import { describeError, quotePath } from "./errors.ts";
import { certificateFingerprint } from "./pem.ts";

/** One pinned daemon. */
export interface KnownHost {
  /** Host name or IP address as the user wrote it, lower-cased, IPv6 without brackets. */
  host: string;
  /** TCP port of the daemon. */
  port: number;
  /** `SHA256:…` of {@linkcode KnownHost.certificate}. */
  fingerprint: string;
  /** The pinned certificate, DER. */
  certificate: Uint8Array;
}

/** Environment read by {@linkcode defaultKnownHostsPath}. */
export interface KnownHostsEnv {
  /** The XDG configuration directory (used when set, non-empty and absolute). */
  XDG_CONFIG_HOME?: string;
  /** The home directory. */
  HOME?: string;
}

/**
 * Where the known-hosts file lives: `$XDG_CONFIG_HOME/blit/known_hosts`, else
 * `$HOME/.config/blit/known_hosts`.
 *
 * Requires `--allow-env=XDG_CONFIG_HOME,HOME` when `env` is not given.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { defaultKnownHostsPath } from "./known_hosts.ts";
 * strictEqual(defaultKnownHostsPath({ HOME: "/home/ann" }), "/home/ann/.config/blit/known_hosts");
 * strictEqual(defaultKnownHostsPath({ XDG_CONFIG_HOME: "/cfg", HOME: "/h" }), "/cfg/blit/known_hosts");
 * ```
 *
 * @param env The variables to use; by default read from the process environment.
 * @throws {Error} If neither variable is set, or the environment may not be read.
 * @returns The path of the file (which may not exist yet).
 */
export function defaultKnownHostsPath(env?: KnownHostsEnv): string {
  const vars = env ?? readEnv();
  const xdg = vars.XDG_CONFIG_HOME;
  if (xdg !== undefined && xdg.startsWith("/")) {
    return `${xdg.replace(/\/+$/, "")}/blit/known_hosts`;
  }
  const home = vars.HOME;
  if (home !== undefined && home !== "") {
    return `${home.replace(/\/+$/, "")}/.config/blit/known_hosts`;
  }
  throw new Error(
    "Cannot locate the known hosts file: neither XDG_CONFIG_HOME nor HOME is set; set HOME",
  );
}

function readEnv(): KnownHostsEnv {
  try {
    const env: KnownHostsEnv = {};
    const xdg = Deno.env.get("XDG_CONFIG_HOME");
    const home = Deno.env.get("HOME");
    if (xdg !== undefined) env.XDG_CONFIG_HOME = xdg;
    if (home !== undefined) env.HOME = home;
    return env;
  } catch (error) {
    if (
      !(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)
    ) {
      throw error;
    }
    throw new Error(
      "Cannot locate the known hosts file: reading HOME needs permission; run with --allow-env=HOME,XDG_CONFIG_HOME",
      { cause: error },
    );
  }
}

/**
 * The key of an entry: `host:port` with the host lower-cased, IPv6 addresses in brackets.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { knownHostKey } from "./known_hosts.ts";
 * strictEqual(knownHostKey("Backup.LAN", 9031), "backup.lan:9031");
 * strictEqual(knownHostKey("::1", 9031), "[::1]:9031");
 * strictEqual(knownHostKey("[::1]", 9031), "[::1]:9031");
 * ```
 *
 * @param host Host name or IP address (IPv6 with or without brackets).
 * @param port TCP port.
 * @returns The key.
 */
export function knownHostKey(host: string, port: number): string {
  const bare = bareHost(host);
  return bare.includes(":") ? `[${bare}]:${port}` : `${bare}:${port}`;
}

/** Lower-cases a host and removes IPv6 brackets. */
function bareHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.startsWith("[") && lower.endsWith("]") ? lower.slice(1, -1) : lower;
}

/** One line of the file: an entry, or text kept as it is (comments, blank lines). */
type Line = { entry: KnownHost; key: string } | { text: string };

const KEY_REGEXP = /^(?:\[([^\]\s]+)\]|([^:\s\[\]]+)):(\d{1,5})$/;
const FINGERPRINT_REGEXP = /^SHA256:[A-Za-z0-9+/]{43}$/;
const BASE64_REGEXP = /^[A-Za-z0-9+/]+={0,2}$/;

async function parseLine(text: string): Promise<Line | string> {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed.startsWith("#")) return { text };
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 3) {
    return `expected "HOST:PORT SHA256:… CERTIFICATE", got ${fields.length} fields`;
  }
  const [key = "", fingerprint = "", base64 = ""] = fields;
  const match = KEY_REGEXP.exec(key);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !(port >= 1 && port <= 65535)) {
    return `${quotePath(key)} is not HOST:PORT`;
  }
  if (!FINGERPRINT_REGEXP.test(fingerprint)) {
    return `${quotePath(fingerprint)} is not a SHA256 fingerprint`;
  }
  if (!BASE64_REGEXP.test(base64) || base64.length % 4 !== 0) {
    return "the certificate is not base64";
  }
  const certificate = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  if (await certificateFingerprint(certificate) !== fingerprint) {
    return "the fingerprint does not match the certificate";
  }
  const entry: KnownHost = { host: bareHost(host), port, fingerprint, certificate };
  return { entry, key: knownHostKey(entry.host, port) };
}

function formatLine(entry: KnownHost): string {
  let binary = "";
  for (let i = 0; i < entry.certificate.length; i += 0x8000) {
    binary += String.fromCharCode(...entry.certificate.subarray(i, i + 0x8000));
  }
  return `${knownHostKey(entry.host, entry.port)} ${entry.fingerprint} ${btoa(binary)}`;
}

async function readLines(path: string): Promise<Line[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw new Error(
      `Cannot read known hosts ${quotePath(path)}: ${describeError(error)}; check its permissions`,
      { cause: error },
    );
  }
  const raw = text.split("\n");
  if (raw.at(-1) === "") raw.pop();
  const lines: Line[] = [];
  for (const [index, line] of raw.entries()) {
    const parsed = await parseLine(line.replace(/\r$/, ""));
    if (typeof parsed === "string") {
      throw new TypeError(
        `Cannot read known hosts ${quotePath(path)} line ${
          index + 1
        }: ${parsed}; fix or delete that line`,
      );
    }
    lines.push(parsed);
  }
  return lines;
}

async function writeLines(path: string, lines: Line[]): Promise<void> {
  const text = lines.map((line) => "text" in line ? line.text : formatLine(line.entry))
    .map((line) => line + "\n").join("");
  const slash = path.lastIndexOf("/");
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(tmp, text, { createNew: true, mode: 0o600 });
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(
      `Cannot write known hosts ${quotePath(path)}: ${
        describeError(error)
      }; check the permissions of its directory`,
      { cause: error },
    );
  }
}

/**
 * Reads every entry of a known-hosts file; a missing file has none.
 *
 * Requires `--allow-read`.
 *
 * @example Usage
 * ```ts ignore
 * import { defaultKnownHostsPath, readKnownHosts } from "./known_hosts.ts";
 * for (const entry of await readKnownHosts(defaultKnownHostsPath())) {
 *   console.log(entry.host, entry.port, entry.fingerprint);
 * }
 * ```
 *
 * @param path The file.
 * @throws {TypeError} If a line is malformed (the message names the line).
 * @throws {Error} If the file exists but cannot be read.
 * @returns The entries, in file order.
 */
export async function readKnownHosts(path: string): Promise<KnownHost[]> {
  const lines = await readLines(path);
  return lines.flatMap((line) => "entry" in line ? [line.entry] : []);
}

/**
 * Finds the entry for `host:port` (host compared case-insensitively, IPv6 with or without
 * brackets).
 *
 * Requires `--allow-read`.
 *
 * @example Usage
 * ```ts ignore
 * import { defaultKnownHostsPath, lookupKnownHost } from "./known_hosts.ts";
 * const known = await lookupKnownHost(defaultKnownHostsPath(), "backup.lan", 9031);
 * console.log(known?.fingerprint ?? "not known yet");
 * ```
 *
 * @param path The file.
 * @param host Host name or IP address.
 * @param port TCP port.
 * @throws {TypeError} If a line is malformed.
 * @returns The entry, or `undefined` when the daemon is not known.
 */
export async function lookupKnownHost(
  path: string,
  host: string,
  port: number,
): Promise<KnownHost | undefined> {
  const key = knownHostKey(host, port);
  const lines = await readLines(path);
  for (const line of lines) {
    if ("entry" in line && line.key === key) return line.entry;
  }
  return undefined;
}

/**
 * Records (pins) a daemon's certificate, replacing an entry with the same `host:port`. The
 * directory is created 0700 and the file written 0600, through a temporary sibling renamed into
 * place; comments and other entries are kept.
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @example Usage
 * ```ts ignore
 * import { recordKnownHost } from "./known_hosts.ts";
 * import { certificateFingerprint } from "./pem.ts";
 * const certificate = new Uint8Array(await Deno.readFile("cert.der"));
 * const fingerprint = await certificateFingerprint(certificate);
 * await recordKnownHost("/home/ann/.config/blit/known_hosts", {
 *   host: "backup.lan", port: 9031, fingerprint, certificate,
 * });
 * ```
 *
 * @param path The file.
 * @param entry The daemon and its certificate.
 * @throws {TypeError} If the existing file has a malformed line, the host or port is not valid,
 * or the entry's fingerprint does not match its certificate.
 * @throws {Error} If the file cannot be written.
 */
export async function recordKnownHost(path: string, entry: KnownHost): Promise<void> {
  const key = knownHostKey(entry.host, entry.port);
  if (!KEY_REGEXP.test(key) || !(entry.port >= 1 && entry.port <= 65535)) {
    throw new TypeError(`Cannot record ${quotePath(key)}: it is not a valid HOST:PORT`);
  }
  if (await certificateFingerprint(entry.certificate) !== entry.fingerprint) {
    throw new TypeError(
      `Cannot record ${key}: the fingerprint does not match the certificate; pass the certificate's own fingerprint`,
    );
  }
  const stored: KnownHost = { ...entry, host: bareHost(entry.host) };
  const next: Line = { entry: stored, key };
  const lines: Line[] = [];
  let replaced = false;
  for (const line of await readLines(path)) {
    if (!("key" in line) || line.key !== key) lines.push(line);
    else if (!replaced) {
      lines.push(next);
      replaced = true;
    }
  }
  if (!replaced) lines.push(next);
  await writeLines(path, lines);
}

/**
 * Removes the entry for `host:port`, or every entry of `host` when `port` is not given. The file
 * is rewritten only when something was removed.
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @example Usage
 * ```ts ignore
 * import { defaultKnownHostsPath, forgetKnownHost } from "./known_hosts.ts";
 * const removed = await forgetKnownHost(defaultKnownHostsPath(), "backup.lan");
 * console.log(`${removed} entries removed`);
 * ```
 *
 * @param path The file.
 * @param host Host name or IP address.
 * @param port TCP port; all ports of `host` when omitted.
 * @throws {TypeError} If a line is malformed.
 * @throws {Error} If the file cannot be written.
 * @returns How many entries were removed.
 */
export async function forgetKnownHost(path: string, host: string, port?: number): Promise<number> {
  const bare = bareHost(host);
  const lines = await readLines(path);
  const kept = lines.filter((line) =>
    !("entry" in line && line.entry.host === bare &&
      (port === undefined || line.entry.port === port))
  );
  const removed = lines.length - kept.length;
  if (removed > 0) await writeLines(path, kept);
  return removed;
}
