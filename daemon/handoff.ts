/**
 * What the `blitd` launcher hands its server process, and how: one JSON line on the server's
 * standard input holding the resolved configuration and the TLS certificate and key, which
 * the launcher read before it started the server (so neither the key file, the state directory
 * nor the audit log has to exist where the server runs). Standard input then stays open: its
 * end tells the server to stop (the launcher stops the server this way even when a namespace
 * tool such as bubblewrap stands between them and does not forward signals).
 *
 * The server's audit lines travel back on its standard output, each marked with
 * {@linkcode AUDIT_LINE_PREFIX}; the launcher appends them to the audit log it opened.
 *
 * @module
 */

import type { DaemonConfig } from "../core/config.ts";
import { serializeServerConfig, serverConfigOf } from "./args.ts";

/** The server's TLS material, as PEM text. */
export interface HandoffTls {
  /** The certificate chain (PEM). */
  certPem: string;
  /** Its private key (PEM). */
  keyPem: string;
  /** `SHA256:…` of the leaf certificate. */
  fingerprint: string;
}

/** Everything the server process starts from. */
export interface ServerHandoff {
  /** The resolved configuration. */
  config: DaemonConfig;
  /** The TLS material, or `null` when `config.tls` is false. */
  tls: HandoffTls | null;
  /**
   * The launcher's umask (which the server inherits but, without unscoped `--allow-sys`,
   * cannot read), or `null` when unknown.
   */
  umask: number | null;
}

/** Longest handoff line the server reads (a configuration is a few KiB; keys are small). */
export const MAX_HANDOFF_BYTES = 4 * 1024 * 1024;

/** Marks an audit line on the server's standard output (an ASCII record separator). */
export const AUDIT_LINE_PREFIX = "\u001eaudit ";

const LISTENING_REGEXP = /^blitd: listening on \S+:(\d+)$/;

/**
 * The port in the server's readiness line (`blitd: listening on HOST:PORT`, on its standard
 * output), or `null` for any other line. The launcher hands this port to a restarted server,
 * so that a daemon configured with `port = 0` comes back where it was.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { boundPortOf } from "./handoff.ts";
 * strictEqual(boundPortOf("blitd: listening on 127.0.0.1:40123"), 40123);
 * strictEqual(boundPortOf("blitd: listening on :::9031"), 9031);
 * strictEqual(boundPortOf("blitd: TLS off: sessions are not encrypted"), null);
 * ```
 *
 * @param line One line of the server's standard output.
 * @returns The port, or `null`.
 */
export function boundPortOf(line: string): number | null {
  const match = LISTENING_REGEXP.exec(line);
  if (match === null) return null;
  const port = Number(match[1]);
  return port > 0 && port <= 65535 ? port : null;
}

/**
 * Encodes a handoff as one line (ending with a newline).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "../core/config.ts";
 * import { decodeHandoff, encodeHandoff } from "./handoff.ts";
 * const config = parseDaemonConfig("[daemon]\nroot = '/srv'\ntls = false\n");
 * const handoff = { config, tls: null, umask: 0o022 };
 * deepStrictEqual(decodeHandoff(encodeHandoff(handoff)), handoff);
 * ```
 *
 * @param handoff The configuration and TLS material.
 * @returns One JSON line.
 */
export function encodeHandoff(handoff: ServerHandoff): string {
  const config = JSON.parse(serializeServerConfig(handoff.config)) as unknown;
  return `${JSON.stringify({ config, tls: handoff.tls, umask: handoff.umask })}\n`;
}

/**
 * Decodes a line written by {@linkcode encodeHandoff}, checking every field.
 *
 * @example Usage
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { decodeHandoff } from "./handoff.ts";
 * throws(() => decodeHandoff("{}"), /Cannot parse server config/);
 * ```
 *
 * @param text The line.
 * @throws {SyntaxError} If it is not JSON.
 * @throws {TypeError} If a field is missing or wrong.
 * @returns The handoff.
 */
export function decodeHandoff(text: string): ServerHandoff {
  const bad = (what: string): TypeError =>
    new TypeError(`Cannot parse server config: ${what}; start the server through blitd`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(
      `Cannot parse server config: ${error instanceof Error ? error.message : error}; ` +
        "start the server through blitd",
    );
  }
  if (typeof doc !== "object" || doc === null) throw bad("not an object");
  const { config, tls, umask } = doc as Record<string, unknown>;
  const parsed = serverConfigOf(config ?? null);
  if (
    umask !== null &&
    !(Number.isInteger(umask) && (umask as number) >= 0 && (umask as number) <= 0o777)
  ) {
    throw bad(`"umask" must be null or a number from 0 to 0o777`);
  }
  const mask = umask as number | null;
  if (tls === null) {
    if (parsed.tls) throw bad(`"tls" material is missing while TLS is on`);
    return { config: parsed, tls: null, umask: mask };
  }
  if (typeof tls !== "object" || tls === undefined) throw bad(`"tls" must be an object or null`);
  const { certPem, keyPem, fingerprint } = tls as Record<string, unknown>;
  if (
    typeof certPem !== "string" || typeof keyPem !== "string" || typeof fingerprint !== "string"
  ) {
    throw bad(`"tls" needs certPem, keyPem and fingerprint strings`);
  }
  return { config: parsed, tls: { certPem, keyPem, fingerprint }, umask: mask };
}

/**
 * Reads the handoff line from a stream (the server's standard input), leaving the stream open
 * and returning a promise that settles when it ends.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "../core/config.ts";
 * import { encodeHandoff, readHandoff } from "./handoff.ts";
 * const config = parseDaemonConfig("[daemon]\nroot = '/srv'\ntls = false\n");
 * const line = new TextEncoder().encode(encodeHandoff({ config, tls: null, umask: null }));
 * const { handoff, ended } = await readHandoff(ReadableStream.from([line]));
 * strictEqual(handoff.config.root, "/srv");
 * await ended;
 * ```
 *
 * @param stream The bytes.
 * @param limit Most bytes before the newline.
 * @throws {RangeError} If the line is longer than `limit`.
 * @throws {TypeError} If the stream ends before a newline, or the line is not a handoff.
 * @returns The handoff, and a promise that resolves when the stream ends (or fails).
 */
export async function readHandoff(
  stream: ReadableStream<Uint8Array>,
  limit: number = MAX_HANDOFF_BYTES,
): Promise<{ handoff: ServerHandoff; ended: Promise<void> }> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      throw new TypeError(
        "Cannot parse server config: standard input ended before it; start the server " +
          "through blitd",
      );
    }
    const newline = value.indexOf(10);
    const part = newline < 0 ? value : value.subarray(0, newline);
    size += part.byteLength;
    if (size > limit) {
      throw new RangeError(
        `Cannot parse server config: it is longer than ${limit} bytes; shorten the configuration`,
      );
    }
    chunks.push(part);
    if (newline >= 0) break;
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  const handoff = decodeHandoff(new TextDecoder().decode(bytes));
  const ended = (async () => {
    try {
      while (!(await reader.read()).done) { /* the launcher sends nothing more */ }
    } catch { /* a broken pipe ends it too */ }
  })();
  return { handoff, ended };
}

/**
 * Finds the calling process's umask without `Deno.umask` (which needs unscoped `--allow-sys`)
 * or `/proc` (which Deno opens only with `--allow-all`): creates an empty file with mode 0777 in
 * `dir`, reads the mode it got, and removes it.
 *
 * Requires `--allow-read` and `--allow-write` for `dir`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { probeUmask } from "./handoff.ts";
 * const dir = await Deno.makeTempDir();
 * const umask = Deno.umask(0o027);
 * strictEqual(await probeUmask(dir), 0o027);
 * Deno.umask(umask);
 * await Deno.remove(dir);
 * ```
 *
 * @param dir A directory the process may write (the daemon's state directory).
 * @returns The umask, or `null` when the probe cannot be made.
 */
export async function probeUmask(dir: string): Promise<number | null> {
  const probe = `${dir}/.umask-probe-${crypto.randomUUID()}`;
  try {
    // Deno.open applies the mode through open(2), where the umask acts (Deno.writeFile would
    // chmod the file to exactly the mode asked).
    const file = await Deno.open(probe, { write: true, createNew: true, mode: 0o777 });
    file.close();
    const mode = (await Deno.stat(probe)).mode;
    return mode === null ? null : ~mode & 0o777;
  } catch {
    return null;
  } finally {
    await Deno.remove(probe).catch(() => {});
  }
}
