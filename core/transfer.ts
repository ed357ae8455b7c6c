/**
 * The verbs of the engine: `copy`, `mirror` and `move`, each a thin call into one session.
 *
 * @module
 */

import { parseEndpoint } from "./remote_path.ts";
import { UsageError } from "./errors.ts";
import { runLocalSession } from "./session/local.ts";
import type { RemoteOptions } from "./session/remote.ts";
import { resolveRoots } from "./target.ts";
import type { TransferOperation, TransferSummary } from "./types.ts";

/** Options of {@linkcode copy}, {@linkcode mirror} and {@linkcode move}. */
export type TransferOptions = RemoteOptions;

/**
 * Runs one transfer between local paths, with rsync's trailing-slash rules.
 *
 * @param operation `copy`, `mirror` or `move`.
 * @param source Source path (`dir/` = its contents).
 * @param destination Destination path.
 * @param options Compare rules, filters, dry run and callbacks.
 * @throws {UsageError} For a missing source or overlapping roots.
 * @throws {FatalError} When the destination cannot be prepared.
 * @returns The summary.
 */
export async function transfer(
  operation: TransferOperation,
  source: string,
  destination: string,
  options: TransferOptions = {},
): Promise<TransferSummary> {
  let src, dst;
  try {
    src = parseEndpoint(source);
    dst = parseEndpoint(destination);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (src.kind === "remote" || dst.kind === "remote") {
    // Loaded only for remote transfers: a local run never loads the gRPC stack.
    const { runRemoteTransfer } = await import("./session/remote.ts");
    return await runRemoteTransfer(operation, src, dst, options);
  }
  const roots = resolveRoots(operation, source, destination);
  return await runLocalSession(operation, roots, source, options);
}

/**
 * Copies a file or tree; existing destination files are replaced when they differ.
 *
 * @example Usage
 * ```ts ignore
 * import { copy } from "./transfer.ts";
 * const summary = await copy("./photos/", "/backup/photos");
 * console.log(summary.files_transferred);
 * ```
 *
 * @param source Source path (`dir/` = its contents).
 * @param destination Destination path.
 * @param options Compare rules, filters, dry run and callbacks.
 * @returns The summary.
 */
export function copy(
  source: string,
  destination: string,
  options: TransferOptions = {},
): Promise<TransferSummary> {
  return transfer("copy", source, destination, options);
}

/**
 * Makes the destination an exact copy of the source: copies, then deletes destination entries
 * absent from the source, but only when the source scan completed.
 *
 * @example Usage
 * ```ts ignore
 * import { mirror } from "./transfer.ts";
 * await mirror("./site/", "/srv/www", { confirmDeletions: async () => true });
 * ```
 *
 * @param source Source path (`dir/` = its contents).
 * @param destination Destination path.
 * @param options Compare rules, filters, dry run, deletion confirmation and callbacks.
 * @returns The summary.
 */
export function mirror(
  source: string,
  destination: string,
  options: TransferOptions = {},
): Promise<TransferSummary> {
  return transfer("mirror", source, destination, options);
}

/**
 * Copies, then removes each source file once its copy is in place and verified; emptied source
 * directories are removed.
 *
 * @example Usage
 * ```ts ignore
 * import { move } from "./transfer.ts";
 * await move("./inbox/", "/archive/inbox");
 * ```
 *
 * @param source Source path (`dir/` = its contents).
 * @param destination Destination path.
 * @param options Compare rules, filters, dry run and callbacks.
 * @returns The summary.
 */
export function move(
  source: string,
  destination: string,
  options: TransferOptions = {},
): Promise<TransferSummary> {
  return transfer("move", source, destination, options);
}
