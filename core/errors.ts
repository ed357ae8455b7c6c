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
