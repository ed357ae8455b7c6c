/**
 * blit's library API: copy, mirror and move file trees, locally or through a `blitd` daemon, with
 * the one transfer engine the CLI uses.
 *
 * A script needs `--allow-read` and `--allow-write` for its local trees; a remote transfer also
 * `--allow-net` for the daemon and `--allow-env --allow-sys` (read by the gRPC stack). Without
 * them a call fails with one `Deno.errors.NotCapable` line naming the flag, never a stack trace
 * from inside the engine.
 *
 * @example Mirror a tree, agreeing to deletions
 * ```ts ignore
 * import { mirror } from "./mod.ts";
 * const summary = await mirror("./site/", "/srv/www", { confirmDeletions: async () => true });
 * console.log(summary.outcome, summary.files_transferred, summary.entries_deleted);
 * ```
 *
 * @example Pull from a daemon
 * ```ts ignore
 * import { copy } from "./mod.ts";
 * await copy("nas:/photos/2024/", "./photos-2024");
 * ```
 *
 * @module
 */
export { copy, mirror, move, transfer, type TransferOptions } from "./transfer.ts";
export type {
  CompareMode,
  Entry,
  EntryInfo,
  EntryKind,
  StatKind,
  TransferFailure,
  TransferOperation,
  TransferOutcome,
  TransferSummary,
} from "./types.ts";
export type { FilterRule } from "./filter.ts";
export type { ConsentAnswer } from "./session/role.ts";
export type { ConsentRefusal } from "./session/frames.ts";
export type { TransferEvent } from "./session/planner.ts";
export { TransferStats } from "./stats.ts";
export { removeTemporariesInFlight } from "./temporaries_in_flight.ts";
export {
  FatalError,
  PathEscapeError,
  PathInvalidError,
  ProtocolError,
  SessionRefusedError,
  UsageError,
} from "./errors.ts";
export { type RefusalReason, TransferRefusal } from "./endpoint.ts";
export type { ConnectionSecurity } from "./client_security.ts";
export {
  generateIdentity,
  type Identity,
  IdentityError,
  loadIdentity,
  parsePublicKey,
  writeIdentity,
} from "./identity.ts";
export { ContainedTree, type ContainedTreeOptions } from "./contained_tree.ts";
export {
  type DirItem,
  PlainTree,
  type TempFile,
  type Tree,
  type TreeCapabilities,
  type TreeDir,
} from "./tree.ts";
