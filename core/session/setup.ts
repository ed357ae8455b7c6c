/**
 * What every route sets up the same way before its roles run: the session's terms, its filter,
 * its dry-run gate, the consent asker and the hasher; and how two roles' outcomes (or failures)
 * become the run's result.
 *
 * @module
 */

import { describeError, UsageError } from "../errors.ts";
import { compileFilter, type EntryFilter, type FilterRule } from "../filter.ts";
import { type FileHasher, hashFileWasm } from "../hash.ts";
import { TransferStats } from "../stats.ts";
import type { CompareMode, TransferOperation } from "../types.ts";
import type { BackupTerms, SessionTerms } from "./frames.ts";
import { backupTermsProblem, ChangeGate } from "./plan.ts";
import type { TransferEvent } from "./planner.ts";
import { type ConsentAnswer, type ConsentAsker, PeerAbortError, type RoleOutcome } from "./role.ts";

/** Options of a transfer, on every route. */
export interface SessionOptions {
  /**
   * How files present on both sides are compared.
   * @default {"size-mtime"}
   */
  compare?: CompareMode;
  /**
   * Never overwrite an existing destination entry.
   * @default {false}
   */
  ignoreExisting?: boolean;
  /**
   * Send every changed file whole, never as a delta against the destination's old copy
   * (rsync's `--whole-file`). Deltas are used only on remote routes in any case.
   * @default {false}
   */
  wholeFile?: boolean;
  /**
   * Write files of 8 MiB or more under partial names (`.blit-partial-…`), keep them when the run
   * is interrupted, and continue from them on the next run of the same source version.
   * @default {true}
   */
  resume?: boolean;
  /**
   * Leave a destination file alone when its modification time is newer than the source's
   * (rsync's `--update`).
   * @default {false}
   */
  update?: boolean;
  /**
   * Leave alone source files smaller than this many bytes (`--min-size`): not sent, and a mirror
   * does not delete their destination copies.
   * @default {null} (no limit)
   */
  minSize?: number | null;
  /**
   * Leave alone source files larger than this many bytes (`--max-size`), as `minSize` does.
   * @default {null} (no limit)
   */
  maxSize?: number | null;
  /**
   * Mirror: delete the destination entries the filters exclude too (`--delete-excluded`); without
   * it an excluded destination entry is never deleted.
   * @default {false}
   */
  deleteExcluded?: boolean;
  /**
   * Most payload bytes per second (`--bwlimit`): over the data plane of a push or a pull (both
   * directions), and written by a local run's copies. `null` for no limit.
   * @default {null}
   */
  bandwidthLimit?: number | null;
  /**
   * Keep numeric owners and groups (`rsync -a` as root): the source sends them and the
   * destination applies them when it runs as root (`--no-owner`: `false`). A daemon applies a
   * client's owners only where its module says `keep_owner = true`.
   * @default {true when this process runs as root}
   */
  keepOwner?: boolean;
  /**
   * Keep hard links (`-H`): files with several names in the source get as many names, linked
   * together, at the destination (their data travels once).
   * @default {false}
   */
  hardLinks?: boolean;
  /**
   * Do not cross into other file systems while walking the source (`-x`): a directory on another
   * device is skipped (not a failure, and the scan stays complete).
   * @default {false}
   */
  oneFileSystem?: boolean;
  /**
   * Keep replaced and deleted destination files as backups (`-b`): `dir` is a directory relative
   * to the destination root (`--backup-dir`; on a daemon it stays inside the module), `suffix`
   * is appended to each backup's name (`--suffix`; default `~` without a directory, none with
   * one). `null` or absent: no backups.
   * @default {null}
   */
  backup?: { dir?: string; suffix?: string } | null;
  /**
   * Plan and report, but never write or delete.
   * @default {false}
   */
  dryRun?: boolean;
  /**
   * Include/exclude rules in command-line order.
   * @default {[]}
   */
  filters?: readonly FilterRule[];
  /**
   * Mirror: most entries it may delete; when more would go, nothing is deleted. `0` refuses every
   * deletion.
   * @default {null} (no limit)
   */
  maxDelete?: number | null;
  /**
   * Asked, after planning, before mirror deletes anything (never in a dry run): the first paths
   * and how many in all. Resolve `true` (or `{ granted: true }`) to delete. Without it, mirror
   * deletes nothing and says why. `signal` aborts when a daemon stopped waiting for the answer.
   */
  confirmDeletions?: (
    paths: readonly string[],
    total: number,
    signal?: AbortSignal,
  ) => Promise<boolean | ConsentAnswer>;
  /**
   * Keep setuid, setgid and sticky bits on the files and directories this side writes. A local
   * run keeps them unless this is `false` (as `rsync -a` does); a pull drops them unless this is
   * `true` (`--keep-special-bits`); on a push the daemon's module decides (`keep_special_bits`),
   * whatever this says.
   * @default {true locally, false on a pull}
   */
  keepSpecialBits?: boolean;
  /** Receives each action (for `--verbose`). */
  onEvent?: (event: TransferEvent) => void;
  /** Counters of this side, for a live progress display; a new one is made when absent. */
  stats?: TransferStats;
  /** Hashes files for checksum compare and move verification (default: WebAssembly xxHash3). */
  hasher?: FileHasher;
  /**
   * Worker threads for local file copies (0 = copy on the main thread). Workers start only once
   * a run has enough files to pay for them.
   * @default {2}
   */
  copyWorkers?: number;
}

/** Everything a route sets up the same way. */
export interface SessionSetup {
  /** The terms both roles follow. */
  terms: SessionTerms;
  /** The compiled filter. */
  filter: EntryFilter;
  /** The one dry-run gate. */
  gate: ChangeGate;
  /** The hasher. */
  hasher: FileHasher;
  /** The consent asker built from `confirmDeletions`. */
  consent: ConsentAsker;
  /** This side's counters (the caller's, for progress). */
  stats: TransferStats;
  /** When the run started. */
  startedAt: number;
}

/**
 * Checks the options and builds the session's shared pieces.
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { setUpSession } from "./setup.ts";
 * strictEqual(setUpSession("mirror", { maxDelete: 3 }).terms.maxDelete, 3);
 * throws(() => setUpSession("mirror", { maxDelete: -1 }));
 * ```
 *
 * @param operation The verb.
 * @param options The caller's options.
 * @throws {UsageError} For a bad filter pattern or a bad `maxDelete`.
 * @returns The setup.
 */
export function setUpSession(operation: TransferOperation, options: SessionOptions): SessionSetup {
  const {
    compare = "size-mtime",
    ignoreExisting = false,
    dryRun = false,
    filters = [],
    maxDelete = null,
    wholeFile = false,
    resume = true,
    update = false,
    minSize = null,
    maxSize = null,
    deleteExcluded = false,
    stats = new TransferStats(),
  } = options;
  for (const [flag, limit] of [["--min-size", minSize], ["--max-size", maxSize]] as const) {
    if (limit !== null && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new UsageError(`Cannot use ${flag} ${limit}: give a size of 0 bytes or more`);
    }
  }
  if (deleteExcluded && operation !== "mirror") {
    throw new UsageError(
      `Cannot use --delete-excluded with ${operation}: it deletes, so use mirror (or copy --delete)`,
    );
  }
  if (maxDelete !== null && (!Number.isInteger(maxDelete) || maxDelete < 0)) {
    throw new UsageError(
      `Cannot use --max-delete ${maxDelete}: give a whole number of 0 or more`,
    );
  }
  let filter: EntryFilter;
  try {
    filter = compileFilter(filters);
  } catch (error) {
    throw new UsageError(describeError(error));
  }
  return {
    terms: {
      operation,
      compare,
      ignoreExisting,
      dryRun,
      maxDelete,
      wholeFile,
      resume,
      update,
      minSize,
      maxSize,
      deleteExcluded,
      reportEvents: options.onEvent !== undefined,
      oneFileSystem: options.oneFileSystem ?? false,
      backup: backupTerms(options.backup ?? null),
      keepOwner: options.keepOwner ?? runsAsRoot(),
      hardLinks: options.hardLinks ?? false,
    },
    filter,
    gate: new ChangeGate(dryRun),
    hasher: options.hasher ?? hashFileWasm,
    consent: consentAsker(options.confirmDeletions),
    stats,
    startedAt: performance.now(),
  };
}

/**
 * The backup terms of the options: the directory a relative path inside the destination, the
 * suffix rsync's default (`~`) when there is no directory.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual, throws } from "node:assert/strict";
 * import { backupTerms } from "./setup.ts";
 * deepStrictEqual(backupTerms({}), { dir: "", suffix: "~" });
 * deepStrictEqual(backupTerms({ dir: "old/" }), { dir: "old", suffix: "" });
 * throws(() => backupTerms({ dir: "../x" }));
 * ```
 *
 * @param backup The caller's option.
 * @throws {UsageError} For a directory outside the destination or a suffix with `/`.
 * @returns The terms, or `null` for no backups.
 */
export function backupTerms(
  backup: { dir?: string; suffix?: string } | null,
): BackupTerms | null {
  if (backup === null) return null;
  const dir = (backup.dir ?? "").replace(/\/+$/, "").replace(/^\.\//, "");
  const terms = { dir, suffix: backup.suffix ?? (dir === "" ? "~" : "") };
  const problem = backupTermsProblem(terms);
  if (problem?.field === "dir") {
    throw new UsageError(
      `Cannot use --backup-dir "${backup.dir}": ${problem.detail}; give a directory ` +
        "relative to the destination root",
    );
  }
  if (problem !== null) {
    throw new UsageError(
      `Cannot use --suffix "${terms.suffix}": ${problem.detail} (an empty one needs --backup-dir)`,
    );
  }
  return terms;
}

/** Whether this process runs as root (`false` when it may not ask). */
function runsAsRoot(): boolean {
  if (Deno.permissions.querySync({ name: "sys", kind: "uid" }).state !== "granted") return false;
  return Deno.uid() === 0;
}

/**
 * The consent asker of a caller's `confirmDeletions`: `true`/`false` become granted/declined;
 * without a callback nothing is granted.
 *
 * @param confirm The caller's callback.
 * @returns The asker.
 */
export function consentAsker(confirm: SessionOptions["confirmDeletions"]): ConsentAsker {
  if (!confirm) return () => Promise.resolve({ granted: false, refusal: "not-given" });
  return async (paths, total, signal) => {
    const answer = await confirm(paths, total, signal);
    if (typeof answer !== "boolean") return answer;
    return answer ? { granted: true } : { granted: false, refusal: "declined" };
  };
}

/**
 * Waits for both roles of an in-process session; when one failed, throws the error that started
 * it (the other only saw the abort).
 *
 * @param source The source role's run.
 * @param destination The destination role's run.
 * @returns Both outcomes.
 */
export async function settleRoles(
  source: Promise<RoleOutcome>,
  destination: Promise<RoleOutcome>,
): Promise<[RoleOutcome, RoleOutcome]> {
  const [a, b] = await Promise.allSettled([source, destination]);
  if (a.status === "fulfilled" && b.status === "fulfilled") return [a.value, b.value];
  const errors = [a, b].flatMap((r) => r.status === "rejected" ? [r.reason as unknown] : []);
  throw errors.find((e) => !(e instanceof PeerAbortError)) ?? errors[0];
}
