/**
 * blit's library API: copy, mirror and move file trees with one transfer engine.
 *
 * @example Mirror a tree
 * ```ts ignore
 * import { mirror } from "./mod.ts";
 * const summary = await mirror("./src/", "./backup", { confirmDeletions: async () => true });
 * console.log(summary.outcome, summary.files_transferred);
 * ```
 *
 * @module
 */
export * from "./compare.ts";
export * from "./config.ts";
export * from "./errors.ts";
export * from "./filter.ts";
export * from "./hash.ts";
export * from "./paths.ts";
export * from "./perf_history.ts";
export * from "./remote_path.ts";
export * from "./stats.ts";
export * from "./target.ts";
export * from "./transfer.ts";
export type { FilePlan, TransferEvent } from "./session/destination.ts";
export type { SessionOptions } from "./session/local.ts";
export type * from "./types.ts";
export type { ManifestGroup } from "./walk.ts";
