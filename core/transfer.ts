/**
 * The verbs of the engine: `copy`, `mirror` and `move`, each a thin call into one session.
 *
 * @module
 */

import {
  type Endpoint,
  type LocalEndpoint,
  parseEndpoints,
  type RemoteEndpoint,
} from "./endpoint.ts";
import { UsageError } from "./errors.ts";
import type { RemoteOptions } from "./session/remote.ts";
import type { TransferOperation, TransferSummary } from "./types.ts";

/** Options of {@linkcode copy}, {@linkcode mirror} and {@linkcode move}. */
export type TransferOptions = RemoteOptions;

/**
 * Runs one transfer, local or through a daemon, with rsync's trailing-slash rules: the same
 * session on every route. Several sources (`blit copy a b/ c DST/`) are merged into one session
 * when they are all local or all in one daemon module; each lands as it would alone in the
 * directory DST (`a` as `DST/a`, `b/` as DST's contents).
 *
 * Requires `--allow-read` and `--allow-write` for the local side, `--allow-net` for a daemon,
 * `--allow-env` and `--allow-sys` (the gRPC stack reads both); `--allow-ffi` lets checksum mode
 * use the native hasher when the caller passes it.
 *
 * @param operation `copy`, `mirror` or `move`.
 * @param source Source path (`dir/` = its contents), or `host:/module/path`; or several.
 * @param destination Destination path, or `host:/module/path`.
 * @param options Compare rules, filters, dry run, consent and callbacks.
 * @throws {UsageError} For bad endpoints or options.
 * @throws {TransferRefusal} For a missing source, a directory onto a file, overlapping roots.
 * @throws {SessionRefusedError} When a daemon refuses the session.
 * @throws {FatalError} When the run cannot go on (a daemon unreachable, a session failed).
 * @returns The summary.
 */
export async function transfer(
  operation: TransferOperation,
  source: string | readonly string[],
  destination: string,
  options: TransferOptions = {},
): Promise<TransferSummary> {
  const texts = typeof source === "string" ? [source] : source;
  if (texts.length === 0) throw new UsageError("Cannot transfer: no source given");
  const parsed = texts.map((text) => parseEndpoints(text, destination));
  const dst = (parsed[0] as [Endpoint, Endpoint])[1];
  const sources = sourcesOnOneSide(parsed.map(([src]) => src));
  if (sources[0]?.kind === "remote" || dst.kind === "remote") {
    // Loaded only for remote transfers: a local run never loads the gRPC stack.
    const { runRemoteTransfer } = await import("./session/remote.ts");
    return await runRemoteTransfer(operation, sources, dst, options);
  }
  // Loaded only for local transfers: a remote run loads one role, not both (start-up counts).
  const { runLocalTransfer } = await import("./session/local.ts");
  return await runLocalTransfer(operation, sources as LocalEndpoint[], dst, options);
}

/**
 * Several sources must be on one side: all local, or all in one module of one daemon.
 * @throws {UsageError} When they are not.
 */
function sourcesOnOneSide(sources: Endpoint[]): Endpoint[] {
  const [first, ...rest] = sources as [Endpoint, ...Endpoint[]];
  for (const other of rest) {
    const together = first.kind === "local"
      ? other.kind === "local"
      : other.kind === "remote" && sameModule(first, other);
    if (!together) {
      throw new UsageError(
        `Cannot take sources from two places at once (${first.text} and ${other.text}): all ` +
          "sources of one command must be local paths, or all in one module of one daemon",
      );
    }
  }
  return sources;
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
 * absent from the source, but only when the source scan completed, no file failed, the count is
 * within `maxDelete`, and `confirmDeletions` (asked after planning, with the paths) agreed.
 * Without `confirmDeletions` nothing is deleted and the summary says why.
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

/** Whether two remote endpoints name the same module of the same daemon. */
function sameModule(a: RemoteEndpoint, b: RemoteEndpoint): boolean {
  return a.host === b.host && a.port === b.port && a.module === b.module;
}
