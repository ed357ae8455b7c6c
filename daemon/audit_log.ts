/**
 * The daemon's audit log: one JSON line per session and per admin call (who, from where, what,
 * how it ended), appended to the `audit_log` file when one is configured, and one line on the
 * console: a human line starting with an ISO-8601 time, or with `log_format = "json"` the same
 * JSON object as the audit file's. The daemon's other console lines (connections, restarts,
 * shutdown) are {@linkcode eventLine}s in the same format. Every text a client chose (paths,
 * user names) is escaped: no control character reaches either log.
 *
 * @module
 */

import type { LogFormat } from "../core/config.ts";

/** One audited event. */
export interface AuditEntry {
  /** The peer's address and port. */
  peer: string;
  /** The authenticated user, or `null` for anonymous. */
  user: string | null;
  /** The module (`""` for the default root). */
  module: string;
  /** `push`, `pull`, `list`, `find`, `du`, `df`, `rm`, `complete`, `modules`. */
  operation: string;
  /** The path inside the module. */
  path: string;
  /** Files written (or removed, for `rm`). */
  files: number;
  /** Payload bytes written. */
  bytes: number;
  /** `ok`, `partial`, `failed` or `refused`. */
  outcome: "ok" | "partial" | "failed" | "refused";
  /** How long it took, in milliseconds. */
  durationMs: number;
  /** The error, one line, or `null`. */
  error: string | null;
}

// deno-lint-ignore no-control-regex
const UNSAFE_REGEXP = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Escapes control characters (C0, DEL, C1, line and paragraph separators) as `\uXXXX`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { escapeControls } from "./audit_log.ts";
 * strictEqual(escapeControls("a\nb\u001b[31m"), "a\\u000ab\\u001b[31m");
 * ```
 *
 * @param text Any text.
 * @returns The text with control characters escaped.
 */
export function escapeControls(text: string): string {
  return text.replace(
    UNSAFE_REGEXP,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * The JSON line of an entry (without the newline).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { auditLine } from "./audit_log.ts";
 * const line = auditLine({
 *   peer: "127.0.0.1:5000", user: null, module: "m", operation: "rm", path: "a\u0085b",
 *   files: 1, bytes: 0, outcome: "ok", durationMs: 3, error: null,
 * }, new Date(0));
 * strictEqual(JSON.parse(line).path, "a\u0085b");
 * strictEqual(line.includes("\u0085"), false);
 * ```
 *
 * @param entry The event.
 * @param time When it ended.
 * @returns One line of JSON.
 */
export function auditLine(entry: AuditEntry, time: Date): string {
  const json = JSON.stringify({
    time: time.toISOString(),
    peer: entry.peer,
    user: entry.user ?? "anonymous",
    module: entry.module,
    operation: entry.operation,
    path: entry.path,
    files: entry.files,
    bytes: entry.bytes,
    outcome: entry.outcome,
    duration_ms: Math.round(entry.durationMs),
    error: entry.error,
  });
  // JSON.stringify escapes C0 characters; C1 and the separators need it too.
  return json.replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => escapeControls(c));
}

/**
 * The console line of an entry.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { consoleLine } from "./audit_log.ts";
 * strictEqual(
 *   consoleLine({
 *     peer: "127.0.0.1:5000", user: "alice", module: "m", operation: "push", path: "d",
 *     files: 2, bytes: 10, outcome: "ok", durationMs: 12, error: null,
 *   }, new Date(0)),
 *   "1970-01-01T00:00:00.000Z 127.0.0.1:5000 alice push m:/d ok 2 files 10 bytes 12 ms",
 * );
 * ```
 *
 * @param entry The event.
 * @param time When it ended.
 * @returns One line.
 */
export function consoleLine(entry: AuditEntry, time: Date): string {
  const where = escapeControls(`${entry.module}:/${entry.path}`);
  const who = escapeControls(entry.user ?? "anonymous");
  const error = entry.error === null ? "" : `: ${escapeControls(entry.error)}`;
  return `${time.toISOString()} ${entry.peer} ${who} ${entry.operation} ${where} ${entry.outcome} ` +
    `${entry.files} files ${entry.bytes} bytes ${Math.round(entry.durationMs)} ms${error}`;
}

/**
 * A console line about something other than a finished session (a refused connection, a
 * restart, the shutdown): `TIME MESSAGE` as text, or `{"time", "message"}` as JSON; control
 * characters escaped either way.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { eventLine } from "./audit_log.ts";
 * const time = new Date(0);
 * strictEqual(eventLine("shutting down", time, "text"), "1970-01-01T00:00:00.000Z shutting down");
 * strictEqual(
 *   eventLine("a\u0085b", time, "json"),
 *   '{"time":"1970-01-01T00:00:00.000Z","message":"a\\u0085b"}',
 * );
 * ```
 *
 * @param message What happened, one line (a leading `blitd: ` is dropped).
 * @param time When.
 * @param format `text` or `json`.
 * @returns One line.
 */
export function eventLine(message: string, time: Date, format: LogFormat): string {
  const text = message.startsWith("blitd: ") ? message.slice("blitd: ".length) : message;
  if (format === "text") return `${time.toISOString()} ${escapeControls(text)}`;
  const json = JSON.stringify({ time: time.toISOString(), message: text });
  return json.replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => escapeControls(c));
}

/**
 * The console line of a finished session or admin call: {@linkcode consoleLine} as text, the
 * audit file's {@linkcode auditLine} as JSON.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { sessionLine } from "./audit_log.ts";
 * const entry = {
 *   peer: "127.0.0.1:5000", user: null, module: "m", operation: "pull", path: "",
 *   files: 1, bytes: 3, outcome: "ok" as const, durationMs: 1, error: null,
 * };
 * strictEqual(JSON.parse(sessionLine(entry, new Date(0), "json")).bytes, 3);
 * strictEqual(sessionLine(entry, new Date(0), "text").endsWith("1 files 3 bytes 1 ms"), true);
 * ```
 *
 * @param entry The event.
 * @param time When it ended.
 * @param format `text` or `json`.
 * @returns One line.
 */
export function sessionLine(entry: AuditEntry, time: Date, format: LogFormat): string {
  return format === "json" ? auditLine(entry, time) : consoleLine(entry, time);
}

/**
 * Opens an audit file for appending (created with mode 0640 if missing) and returns a function
 * that appends one line to it. The launcher opens it before it starts the server, so the
 * server never needs the file's directory.
 *
 * Requires `--allow-write` (and `--allow-read`) for the file.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { openAuditFile } from "./audit_log.ts";
 * const path = await Deno.makeTempFile();
 * const audit = await openAuditFile(path);
 * audit.append('{"outcome":"ok"}');
 * audit.close();
 * strictEqual(await Deno.readTextFile(path), '{"outcome":"ok"}\n');
 * await Deno.remove(path);
 * ```
 *
 * @param path The audit file.
 * @throws {Error} If the file cannot be opened (one line naming it and the fix).
 * @returns `append(line)` (one write per line, so lines never interleave) and `close()`.
 */
export async function openAuditFile(
  path: string,
): Promise<{ append: (line: string) => void; close: () => void }> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { append: true, create: true, mode: 0o640 });
  } catch (error) {
    throw new Error(
      `Cannot open audit log "${path}": ${
        error instanceof Error ? error.message : String(error)
      }; check that its directory exists and the daemon may write there`,
    );
  }
  const encoder = new TextEncoder();
  return {
    append: (line) => void file.writeSync(encoder.encode(`${line}\n`)),
    close: () => {
      try {
        file.close();
      } catch { /* already closed */ }
    },
  };
}

/**
 * Records audit entries: one console line each, and one JSON line each to a sink when one is
 * configured (in the server, the sink is its standard output, which the launcher appends to
 * the audit file).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { AuditLog } from "./audit_log.ts";
 * const lines: string[] = [];
 * const audit = new AuditLog((line) => lines.push(line), () => {});
 * audit.record({
 *   peer: "127.0.0.1:5000", user: null, module: "m", operation: "pull", path: "",
 *   files: 1, bytes: 3, outcome: "ok", durationMs: 1, error: null,
 * });
 * strictEqual(JSON.parse(lines[0] ?? "").user, "anonymous");
 * ```
 */
export class AuditLog {
  readonly #sink: ((line: string) => void) | null;
  readonly #log: (line: string) => void;
  readonly #format: LogFormat;

  /**
   * Creates the log.
   * @param sink Receives each JSON line (no newline), or `null` for the console only.
   * @param log Writes one console line.
   * @param options `format`: the console lines' (default `text`).
   */
  constructor(
    sink: ((line: string) => void) | null,
    log: (line: string) => void,
    options: { format?: LogFormat } = {},
  ) {
    this.#sink = sink;
    this.#log = log;
    this.#format = options.format ?? "text";
  }

  /**
   * Records one event.
   * @param entry The event.
   */
  record(entry: AuditEntry): void {
    const time = new Date();
    this.#log(sessionLine(entry, time, this.#format));
    if (this.#sink === null) return;
    try {
      this.#sink(auditLine(entry, time));
    } catch (error) {
      this.#log(
        eventLine(
          `Cannot write the audit log: ${error instanceof Error ? error.message : error}`,
          time,
          this.#format,
        ),
      );
    }
  }
}
