/**
 * Error classes shared by the engine, the CLI and the daemon.
 *
 * Per-file problems are not thrown: they are counted in {@linkcode TransferStats} and the run
 * goes on. The classes here are for conditions that stop a run before or while it starts.
 *
 * @module
 */

/** Thrown for bad input from a user: a bad flag, a missing source, overlapping roots. Exit 1. */
export class UsageError extends Error {
  /**
   * Creates a usage error.
   * @param message One line naming the problem and the fix.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Thrown when a run cannot go on at all (the destination is not writable, for example). Exit 1. */
export class FatalError extends Error {
  /**
   * Creates a fatal error.
   * @param message One line naming the problem.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FatalError";
  }
}

/**
 * Thrown when a peer breaks the protocol (a bad frame or record, a path it must not send, a
 * frame out of order); the session cannot go on. The other side is told why, in one line.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { ProtocolError } from "./errors.ts";
 * strictEqual(new ProtocolError("Cannot accept frame").name, "ProtocolError");
 * ```
 */
export class ProtocolError extends Error {
  /**
   * Creates a protocol error.
   * @param message One line, "Cannot read data record: ..." or similar.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

/**
 * A file's payload stopped coming before its end (the connection failed, the peer went away, the
 * session ended): what was written so far is the source's own bytes, so a partial file is kept
 * for the next run to resume (`core/session/plan.ts`, `temporaryVerdict`).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { TransferInterruptedError } from "./errors.ts";
 * strictEqual(new TransferInterruptedError("Cannot copy: the peer left").name, "TransferInterruptedError");
 * ```
 */
export class TransferInterruptedError extends Error {
  /**
   * Creates the error.
   * @param message One line, "Cannot …".
   * @param options Standard error options (`cause`: the connection's error).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TransferInterruptedError";
  }
}

/**
 * Raised when the daemon refuses a session at its start (an unknown module, a read-only module,
 * a bad path); carries the daemon's typed code.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { SessionRefusedError } from "./errors.ts";
 * strictEqual(new SessionRefusedError("READ_ONLY", "Cannot write").code, "READ_ONLY");
 * ```
 */
export class SessionRefusedError extends Error {
  /** The refusal code name, e.g. `READ_ONLY`. */
  readonly code: string;
  /**
   * Creates the error.
   * @param code The code name.
   * @param message The daemon's one-line message.
   */
  constructor(code: string, message: string) {
    super(`${message} (${code})`);
    this.name = "SessionRefusedError";
    this.code = code;
  }
}

/** Longest excerpt of a path quoted in an error message. */
const MAX_QUOTED_CHARS = 200;

/**
 * Quotes a path for an error message: escaped control characters, truncated when long.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { quotePath } from "./errors.ts";
 * strictEqual(quotePath("a\nb"), '"a\\nb"');
 * ```
 *
 * @param path The path.
 * @returns The quoted text.
 */
export function quotePath(path: string): string {
  const short = path.length > MAX_QUOTED_CHARS ? `${path.slice(0, MAX_QUOTED_CHARS)}…` : path;
  return JSON.stringify(short);
}

// deno-lint-ignore no-control-regex
const CONTROL_REGEXP = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Escapes control characters (C0 — newline and ESC included —, DEL, C1, line and paragraph
 * separators) as `\uXXXX`, so that a text a peer chose (a path, a message) prints as one line
 * and cannot drive a terminal.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { printable } from "./errors.ts";
 * strictEqual(printable("a\nb\u001b[2J"), "a\\u000ab\\u001b[2J");
 * ```
 *
 * @param text Any text.
 * @returns The text with control characters escaped.
 */
export function printable(text: string): string {
  return text.replace(
    CONTROL_REGEXP,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * Thrown when a path would leave its root: a symbolic link, or a chain of them, whose target lies
 * outside the root, or a `..` in a link target that climbs above it.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { PathEscapeError } from "./errors.ts";
 * const error = new PathEscapeError("link/passwd", "/srv/m", "\"link\" points outside the root");
 * strictEqual(error.name, "PathEscapeError");
 * strictEqual(error.path, "link/passwd");
 * strictEqual(error.root, "/srv/m");
 * ```
 */
export class PathEscapeError extends Error {
  /** The offending wire path, exactly as received. */
  readonly path: string;
  /** The root the path had to stay in. */
  readonly root: string;

  /**
   * Creates a path escape error.
   * @param path The offending wire path, exactly as received.
   * @param root The root the path had to stay in.
   * @param detail What leaves the root.
   */
  constructor(path: string, root: string, detail = "it leaves the root") {
    super(`Cannot resolve path ${quotePath(path)} under ${quotePath(root)}: ${detail}`);
    this.name = "PathEscapeError";
    this.path = path;
    this.root = root;
  }
}

/**
 * Thrown when a wire path is not well formed: absolute, with `.` or `..` segments, empty
 * components, a trailing slash, NUL or backslash characters, invalid UTF-16, or too long.
 *
 * @example Usage
 * ```ts
 * import { ok, strictEqual } from "node:assert/strict";
 * import { PathInvalidError } from "./errors.ts";
 * const error = new PathInvalidError("/etc", "it is absolute");
 * ok(error instanceof TypeError);
 * strictEqual(error.message, "Cannot use path \"/etc\": it is absolute");
 * ```
 */
export class PathInvalidError extends TypeError {
  /** The offending path, exactly as received. */
  readonly path: string;

  /**
   * Creates a path syntax error.
   * @param path The offending path, exactly as received.
   * @param reason Why the path is refused.
   */
  constructor(path: string, reason: string) {
    super(`Cannot use path ${quotePath(path)}: ${reason}`);
    this.name = "PathInvalidError";
    this.path = path;
  }
}

/**
 * Returns a one-line description of any thrown value, without a stack trace.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { describeError } from "./errors.ts";
 * strictEqual(describeError(new Error("Cannot open \"x\"\nmore")), "Cannot open \"x\"");
 * ```
 *
 * @param error The caught value.
 * @returns The first line of its message.
 */
export function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n", 1)[0] ?? text;
}
