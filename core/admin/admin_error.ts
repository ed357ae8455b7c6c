/**
 * The one error type of the admin operations, with a transport-free code; the daemon maps the
 * code to a gRPC status at its edge, `blit-utils` prints the message.
 *
 * @module
 */

import { ModuleUnknownError } from "../endpoint.ts";
import { PathEscapeError, PathInvalidError } from "../paths.ts";

/**
 * Why an admin operation failed:
 *
 * - `invalid`: a malformed path or pattern, a path through a link that leaves the tree, a start
 *   that is not a directory, the root of a module named for removal;
 * - `not-found`: no such entry or module;
 * - `permission`: the filesystem refused, or the entry holds another export;
 * - `read-only`: a removal in a read-only module;
 * - `too-large`: a directory with more names than an operation reads;
 * - `deadline`: the operation ran out of time;
 * - `cancelled`: the caller went away;
 * - `unsupported`: the process lacks a permission the operation needs (statfs);
 * - `unavailable`: the exported directory cannot be opened;
 * - `internal`: anything else.
 */
export type AdminErrorCode =
  | "invalid"
  | "not-found"
  | "permission"
  | "read-only"
  | "too-large"
  | "deadline"
  | "cancelled"
  | "unsupported"
  | "unavailable"
  | "internal";

/**
 * An admin failure: a code and a one-line message that names paths relative to the tree (or as
 * the user typed them), never a daemon's local paths.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { AdminError } from "./admin_error.ts";
 * const error = new AdminError("invalid", "Cannot use pattern: it is too long");
 * strictEqual(error.code, "invalid");
 * strictEqual(error.name, "AdminError");
 * ```
 */
export class AdminError extends Error {
  /** Why the operation failed. */
  readonly code: AdminErrorCode;

  /**
   * Creates an admin error.
   * @param code Why the operation failed.
   * @param message One line: "Cannot <verb> ...: details".
   */
  constructor(code: AdminErrorCode, message: string) {
    super(message);
    this.name = "AdminError";
    this.code = code;
  }
}

/**
 * Names an unexpected error without quoting its text (which may hold local paths).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { errorKind } from "./admin_error.ts";
 * strictEqual(errorKind(new RangeError("x")), "RangeError");
 * strictEqual(errorKind(new Error("/srv/secret")), "an unexpected error");
 * ```
 *
 * @param error The caught value.
 * @returns The error's class name, or "an unexpected error".
 */
export function errorKind(error: unknown): string {
  if (error instanceof Error && error.name !== "Error") return error.name;
  return "an unexpected error";
}

/**
 * Turns any error of an admin operation into an {@linkcode AdminError} whose message names the
 * path as the request (or the user) gave it, and never a local path the tree hides. An
 * {@linkcode AdminError} is returned as it is.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { toAdminError } from "./admin_error.ts";
 * const error = toAdminError(new Deno.errors.NotFound("x"), "list", "a/b", 'module "m"');
 * strictEqual(error.code, "not-found");
 * strictEqual(error.message, 'Cannot list "a/b" in module "m": it does not exist');
 * ```
 *
 * @param error The caught value.
 * @param action Verb phrase for the message ("list", "remove").
 * @param rel The path the request named.
 * @param label How the module is named (`module "m"`); `""` for a local path.
 * @returns The typed error.
 */
export function toAdminError(
  error: unknown,
  action: string,
  rel: string,
  label: string,
): AdminError {
  if (error instanceof AdminError) return error;
  const where = label === "" ? JSON.stringify(rel) : `${JSON.stringify(rel)} in ${label}`;
  if (error instanceof ModuleUnknownError) return new AdminError("not-found", error.message);
  if (error instanceof PathInvalidError) return new AdminError("invalid", error.message);
  if (error instanceof PathEscapeError) {
    return new AdminError(
      "invalid",
      `Cannot ${action} ${where}: the path leaves the module through a symbolic link`,
    );
  }
  if (error instanceof Deno.errors.NotFound) {
    return new AdminError("not-found", `Cannot ${action} ${where}: it does not exist`);
  }
  if (error instanceof Deno.errors.NotADirectory) {
    return new AdminError(
      "invalid",
      `Cannot ${action} ${where}: a component of the path is not a directory`,
    );
  }
  if (error instanceof Deno.errors.FilesystemLoop) {
    return new AdminError("invalid", `Cannot ${action} ${where}: too many symbolic links`);
  }
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return new AdminError("permission", `Cannot ${action} ${where}: permission denied`);
  }
  return new AdminError("internal", `Cannot ${action} ${where}: ${errorKind(error)}`);
}
