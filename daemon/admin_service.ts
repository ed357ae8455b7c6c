/**
 * The daemon's admin RPCs: `ListDir`, `Find`, `DiskUsage`, `DiskFree`, `Remove` and
 * `CompletePath`.
 *
 * Each RPC is a thin gRPC adapter over a transport-free operation exported here
 * ({@linkcode listDirectory}, {@linkcode findEntries}, {@linkcode diskUsage},
 * {@linkcode removeEntry}, {@linkcode completeEntries}, {@linkcode filesystemSpace}), which the
 * `blit-utils` verbs also run on local paths. Every operation:
 *
 * - reaches the disk only through a {@linkcode ContainedRoot} (wire-path validation, and
 *   symbolic links refused when they lead out of the module); a walk never follows a link and
 *   re-resolves each directory through the root right before it reads it;
 * - runs under an {@linkcode AdminBudget}: a deadline of its own, and the client's cancellation;
 * - caps what it returns ({@linkcode ADMIN_LIMITS});
 * - fails with an {@linkcode AdminError} that carries a gRPC status code and a one-line message
 *   that names the module, never the daemon's local paths.
 *
 * @module
 */

import { compileGlob } from "../core/glob.ts";
import { describeError } from "../core/errors.ts";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { promises as nodeFs } from "node:fs";
import {
  CompletePathResponseSchema,
  type DirEntry,
  DirEntrySchema,
  DiskFreeResponseSchema,
  type DiskUsageEntry,
  DiskUsageEntrySchema,
  EntryKind,
  FindKind,
  type FindResult,
  FindResultSchema,
  ListDirResponseSchema,
  RemoveResponseSchema,
} from "../proto/gen/blit_pb.ts";
import type { DaemonConfig } from "../core/config.ts";
import { ContainedRoot, PathEscapeError, PathInvalidError } from "../core/paths.ts";
import { TEMP_PREFIX } from "../core/walk.ts";
import type { BlitServer } from "../core/transport/grpc_service.ts";

/** Caps and deadlines of the admin RPCs. */
export const ADMIN_LIMITS = {
  /** Entries returned by one `ListDir` (the response is then marked truncated). */
  listEntries: 10_000,
  /** Results of one `Find` when the request asks for more, or for no limit. */
  findResults: 10_000,
  /** Directories reported by one `DiskUsage` besides the requested one (always sent last). */
  usageEntries: 10_000,
  /** Candidates of one `CompletePath`. */
  completions: 1_000,
  /** Names read from one directory before giving up on it (they are sorted in memory). */
  namesPerDirectory: 1_000_000,
  /** Longest accepted `Find` pattern, in characters. */
  patternChars: 1_024,
  /** Deadline of `ListDir`, `DiskFree` and `CompletePath`, in milliseconds. */
  unaryMs: 15_000,
  /** Deadline of the walking RPCs, `Find`, `DiskUsage` and `Remove`, in milliseconds. */
  walkMs: 120_000,
} as const;

/** Trailing metadata key set to `"true"` when a streamed answer was cut at a limit. */
export const TRUNCATED_TRAILER = "blit-truncated";

/** Trailing metadata key holding the count of entries a walk could not read. */
export const ERRORS_TRAILER = "blit-errors";

/** An admin failure with its gRPC status code and a one-line message. */
export class AdminError extends Error {
  /** The gRPC status code sent to the client. */
  readonly code: grpc.status;

  /**
   * Creates an admin error.
   * @param code The gRPC status code.
   * @param message One line: "Cannot <verb> ...: details".
   */
  constructor(code: grpc.status, message: string) {
    super(message);
    this.name = "AdminError";
    this.code = code;
  }
}

/**
 * A deadline plus the client's cancellation, checked by the operations between steps.
 *
 * @example Usage
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { AdminBudget, AdminError } from "./admin_service.ts";
 * const budget = new AdminBudget("find", -1);
 * throws(() => budget.check(), AdminError);
 * ```
 */
export class AdminBudget {
  readonly #action: string;
  readonly #deadline: number;
  readonly #limitMs: number;
  readonly #cancelled: () => boolean;

  /**
   * Starts a budget now.
   * @param action What runs, as a verb phrase for the error ("find in module \"m\"").
   * @param limitMs Milliseconds the operation may take.
   * @param cancelled Tells whether the client went away.
   */
  constructor(action: string, limitMs: number, cancelled: () => boolean = () => false) {
    this.#action = action;
    this.#limitMs = limitMs;
    this.#deadline = Date.now() + limitMs;
    this.#cancelled = cancelled;
  }

  /**
   * Throws when the deadline passed or the client cancelled.
   * @throws {AdminError} `DEADLINE_EXCEEDED` or `CANCELLED`.
   */
  check(): void {
    if (this.#cancelled()) {
      throw new AdminError(grpc.status.CANCELLED, `Cannot ${this.#action}: the client cancelled`);
    }
    if (Date.now() > this.#deadline) {
      throw new AdminError(
        grpc.status.DEADLINE_EXCEEDED,
        `Cannot ${this.#action}: it ran longer than ${
          Math.round(this.#limitMs / 1000)
        } s, name a smaller subtree`,
      );
    }
  }
}

/** The confined view of an export that the admin operations use. */
export type AdminRoot = Pick<ContainedRoot, "path" | "resolveExisting" | "resolveExistingFollow">;

/** One export as the admin RPCs see it. */
export interface AdminExport {
  /** Module name (`""` for the default root). */
  name: string;
  /** Local directory of the export. */
  path: string;
  /** Whether `Remove` is refused. */
  readOnly: boolean;
  /** How the module is named in messages: `module "m"` or `the default root`. */
  label: string;
}

/**
 * Finds the export a request names: a module, or the default root for `""`.
 *
 * @param config The daemon configuration.
 * @param module The module name from the request.
 * @throws {AdminError} `NOT_FOUND` when no such module (or no default root) is exported.
 * @returns The export.
 */
export function findAdminExport(config: DaemonConfig, module: string): AdminExport {
  if (module === "") {
    if (config.root === null) {
      throw new AdminError(
        grpc.status.NOT_FOUND,
        "Cannot open the default root: none is exported, name a module",
      );
    }
    return {
      name: "",
      path: config.root,
      readOnly: config.rootReadOnly,
      label: "the default root",
    };
  }
  const found = config.modules.find((m) => m.name === module);
  if (!found) {
    throw new AdminError(
      grpc.status.NOT_FOUND,
      `Cannot open module ${JSON.stringify(module)}: no such module (see "blit list HOST")`,
    );
  }
  return {
    name: found.name,
    path: found.path,
    readOnly: found.readOnly,
    label: `module ${JSON.stringify(found.name)}`,
  };
}

/**
 * Turns any error of an operation into an {@linkcode AdminError} whose message names the path
 * in the module and never the export's local path.
 *
 * @param error The caught value.
 * @param action Verb phrase for the message ("list", "remove").
 * @param rel The wire path the request named.
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
  if (error instanceof PathInvalidError) {
    return new AdminError(grpc.status.INVALID_ARGUMENT, error.message);
  }
  if (error instanceof PathEscapeError) {
    return new AdminError(
      grpc.status.INVALID_ARGUMENT,
      `Cannot ${action} ${where}: the path leaves the module through a symbolic link`,
    );
  }
  if (error instanceof Deno.errors.NotFound) {
    return new AdminError(grpc.status.NOT_FOUND, `Cannot ${action} ${where}: it does not exist`);
  }
  if (error instanceof Deno.errors.NotADirectory) {
    return new AdminError(
      grpc.status.INVALID_ARGUMENT,
      `Cannot ${action} ${where}: a component of the path is not a directory`,
    );
  }
  if (error instanceof Deno.errors.FilesystemLoop) {
    return new AdminError(
      grpc.status.INVALID_ARGUMENT,
      `Cannot ${action} ${where}: too many symbolic links`,
    );
  }
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return new AdminError(
      grpc.status.PERMISSION_DENIED,
      `Cannot ${action} ${where}: permission denied`,
    );
  }
  return new AdminError(grpc.status.INTERNAL, `Cannot ${action} ${where}: ${errorKind(error)}`);
}

/** Names an unexpected error without quoting its text (which may hold local paths). */
function errorKind(error: unknown): string {
  if (error instanceof Error && error.name !== "Error") return error.name;
  return "an unexpected error";
}

function join(a: string, b: string): string {
  return a === "" ? b : `${a}/${b}`;
}

function kindOf(info: Deno.FileInfo): EntryKind {
  if (info.isSymlink) return EntryKind.SYMLINK;
  if (info.isDirectory) return EntryKind.DIR;
  if (info.isFile) return EntryKind.FILE;
  return EntryKind.UNSPECIFIED;
}

function mtimeNs(info: Deno.FileInfo): bigint {
  return BigInt(Math.trunc(info.mtime?.getTime() ?? 0)) * 1_000_000n;
}

function sizeOf(info: Deno.FileInfo): bigint {
  return info.isDirectory ? 0n : BigInt(info.size);
}

/** Strips trailing slashes a client may have kept ("dir/" names "dir"). */
function trimSlashes(rel: string): string {
  return rel.replace(/\/+$/, "");
}

/** Reads and sorts the names of a directory, refusing absurdly large ones. */
async function readNames(abs: string, budget: AdminBudget): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(abs)) {
    names.push(entry.name);
    if (names.length > ADMIN_LIMITS.namesPerDirectory) {
      throw new AdminError(
        grpc.status.RESOURCE_EXHAUSTED,
        `Cannot read a directory of more than ${ADMIN_LIMITS.namesPerDirectory} entries`,
      );
    }
    if (names.length % 4096 === 0) budget.check();
  }
  return names.sort((a, b) => a < b ? -1 : a > b ? 1 : 0);
}

/** Whether an error ends a walk (deadline, cancel) rather than skipping one directory. */
function isFatal(error: unknown): boolean {
  return error instanceof AdminError && error.code !== grpc.status.RESOURCE_EXHAUSTED;
}

/** Resolves a directory of a walk right before reading it; `null` when it is no directory. */
async function resolveDir(root: AdminRoot, rel: string): Promise<string | null> {
  const abs = rel === "" ? root.path : await root.resolveExisting(rel);
  const info = await Deno.lstat(abs);
  return info.isDirectory ? abs : null;
}

/** Resolves the start of an operation, following a final link that stays in the root. */
async function resolveStart(
  root: AdminRoot,
  rel: string,
): Promise<{ abs: string; info: Deno.FileInfo }> {
  const abs = rel === "" ? root.path : await root.resolveExistingFollow(rel);
  return { abs, info: await Deno.lstat(abs) };
}

async function dirEntryOf(name: string, abs: string): Promise<DirEntry> {
  const info = await Deno.lstat(abs);
  return create(DirEntrySchema, {
    name,
    kind: kindOf(info),
    size: sizeOf(info),
    mtimeNs: mtimeNs(info),
    mode: (info.mode ?? 0) & 0o7777,
    linkTarget: info.isSymlink ? await Deno.readLink(abs) : "",
  });
}

/** Options of {@linkcode listDirectory}. */
export interface ListDirectoryOptions {
  /** The deadline and cancellation. */
  budget: AdminBudget;
  /**
   * Most entries returned.
   * @default {ADMIN_LIMITS.listEntries}
   */
  limit?: number;
}

/**
 * Lists one directory of a root, sorted by name. A path naming a file (or a link that is not a
 * directory) lists that entry alone, as `ls` does.
 *
 * @param root The confined export.
 * @param rel Wire path of the directory (`""` for the root).
 * @param options Budget and cap.
 * @throws {PathInvalidError} If `rel` is not a valid wire path.
 * @throws {PathEscapeError} If a link on the path leads out of the root.
 * @throws {Deno.errors.NotFound} If the path does not exist.
 * @returns The entries and whether the cap cut them.
 */
export async function listDirectory(
  root: AdminRoot,
  rel: string,
  options: ListDirectoryOptions,
): Promise<{ entries: DirEntry[]; truncated: boolean }> {
  const { budget, limit = ADMIN_LIMITS.listEntries } = options;
  const path = trimSlashes(rel);
  let start: { abs: string; info: Deno.FileInfo };
  try {
    start = await resolveStart(root, path);
  } catch (error) {
    // A dangling link, or one that leads out of the root, is still an entry to show: list the
    // link itself (its target is only read as text, never followed).
    const linkOnly = error instanceof Deno.errors.NotFound || error instanceof PathEscapeError;
    if (!linkOnly || path === "") throw error;
    const abs = await root.resolveExisting(path);
    if (!(await Deno.lstat(abs)).isSymlink) throw error;
    return { entries: [await dirEntryOf(baseName(path), abs)], truncated: false };
  }
  if (!start.info.isDirectory) {
    const abs = await root.resolveExisting(path);
    return { entries: [await dirEntryOf(baseName(path), abs)], truncated: false };
  }
  const names = (await readNames(start.abs, budget)).filter((n) => !n.startsWith(TEMP_PREFIX));
  const entries: DirEntry[] = [];
  for (const name of names.slice(0, limit)) {
    budget.check();
    try {
      entries.push(await dirEntryOf(name, `${start.abs}/${name}`));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error; // removed meanwhile
    }
  }
  return { entries, truncated: names.length > limit };
}

function baseName(rel: string): string {
  return rel.slice(rel.lastIndexOf("/") + 1);
}

/** Options of {@linkcode findEntries}. */
export interface FindOptions {
  /** The deadline and cancellation. */
  budget: AdminBudget;
  /**
   * Glob matched against entry names (`core/glob.ts` syntax; dot files match too); `""` matches all.
   * @default {""}
   */
  pattern?: string;
  /**
   * Which kinds to report.
   * @default {FindKind.UNSPECIFIED}
   */
  kind?: FindKind;
  /**
   * Match case-insensitively.
   * @default {false}
   */
  caseInsensitive?: boolean;
  /**
   * Most results.
   * @default {ADMIN_LIMITS.findResults}
   */
  limit?: number;
}

/** How a walk ended. */
export interface WalkEnd {
  /** Stopped at the result cap. */
  truncated: boolean;
  /** Directories that could not be read (the answer is then incomplete). */
  errors: number;
}

/**
 * Compiles a `Find` pattern: a glob matched against one entry name, with `*` (any run), `?`
 * (one character), `[abc]`, `[a-z]`, `[!abc]`, `{a,b}` and `\` escapes; dot names match like
 * any other. This is the subset of picomatch's syntax that applies to a single name, matched in
 * linear time per alternative: picomatch's regular expressions backtrack exponentially on
 * patterns like `*a*a*a*a*a*b` (seconds per name), which would let one request stall the
 * daemon.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { compileFindPattern } from "./admin_service.ts";
 * const matches = compileFindPattern("*.{jpg,png}", true);
 * strictEqual(matches("IMG_01.JPG"), true);
 * strictEqual(matches("notes.txt"), false);
 * ```
 *
 * @param pattern The glob (`""` matches everything).
 * @param caseInsensitive Match case-insensitively.
 * @throws {AdminError} `INVALID_ARGUMENT` for an over-long pattern, an unclosed `[`, or braces
 * that expand to too many alternatives.
 * @returns The name matcher.
 */
export function compileFindPattern(
  pattern: string,
  caseInsensitive: boolean,
): (name: string) => boolean {
  if (pattern === "") return () => true;
  if (pattern.length > ADMIN_LIMITS.patternChars) {
    throw new AdminError(
      grpc.status.INVALID_ARGUMENT,
      `Cannot use pattern: it is longer than ${ADMIN_LIMITS.patternChars} characters`,
    );
  }
  try {
    // A name has no "/": a pattern with one has more segments than a name and matches nothing.
    const matches = compileGlob(pattern, { caseInsensitive });
    return (name) => matches(name);
  } catch (error) {
    throw new AdminError(grpc.status.INVALID_ARGUMENT, describeError(error));
  }
}

/**
 * Searches a subtree by name, depth first (a directory, then its contents), each directory's
 * entries sorted by name. Links are reported and never followed; the start itself is not
 * reported.
 *
 * @param root The confined export.
 * @param rel Wire path of the subtree (`""` for the root).
 * @param options Pattern, kinds, cap and budget.
 * @throws {AdminError} For a bad pattern, the deadline, or a start that is not a directory.
 * @returns The matches, lazily; the generator's return value tells how the walk ended.
 */
export async function* findEntries(
  root: AdminRoot,
  rel: string,
  options: FindOptions,
): AsyncGenerator<FindResult, WalkEnd> {
  const {
    budget,
    pattern = "",
    kind = FindKind.UNSPECIFIED,
    caseInsensitive = false,
    limit = ADMIN_LIMITS.findResults,
  } = options;
  const matches = compileFindPattern(pattern, caseInsensitive);
  const start = trimSlashes(rel);
  const { info } = await resolveStart(root, start);
  if (!info.isDirectory) {
    throw new AdminError(
      grpc.status.INVALID_ARGUMENT,
      `Cannot search ${JSON.stringify(start)}: it is not a directory`,
    );
  }
  let found = 0;
  let errors = 0;
  let truncated = false;
  // Pre-order: each directory is reported, then its contents; returns true to stop the walk.
  const walk = async function* (dir: string, depth: number): AsyncGenerator<FindResult, boolean> {
    budget.check();
    let abs: string | null;
    let names: string[];
    try {
      abs = depth === 0 ? (await resolveStart(root, dir)).abs : await resolveDir(root, dir);
      if (abs === null) return false;
      names = await readNames(abs, budget);
    } catch (error) {
      if (isFatal(error)) throw error;
      errors++;
      return false;
    }
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX)) continue;
      let child: Deno.FileInfo;
      try {
        child = await Deno.lstat(`${abs}/${name}`);
      } catch {
        errors++;
        continue;
      }
      const path = join(dir, name);
      const wanted = kind === FindKind.DIRS
        ? child.isDirectory
        : kind === FindKind.FILES
        ? !child.isDirectory
        : true;
      if (wanted && matches(name)) {
        if (found >= limit) {
          truncated = true;
          return true;
        }
        found++;
        yield create(FindResultSchema, {
          path,
          kind: kindOf(child),
          size: sizeOf(child),
          mtimeNs: mtimeNs(child),
        });
      }
      if (child.isDirectory && (yield* walk(path, depth + 1))) return true;
    }
    return false;
  };
  yield* walk(start, 0);
  return { truncated, errors };
}

/** Options of {@linkcode diskUsage}. */
export interface DiskUsageOptions {
  /** The deadline and cancellation. */
  budget: AdminBudget;
  /**
   * Report directories down to this depth below the start (0 = the start only).
   * @default {0}
   */
  maxDepth?: number;
  /**
   * Most directories reported besides the start.
   * @default {ADMIN_LIMITS.usageEntries}
   */
  limit?: number;
}

interface Totals {
  bytes: bigint;
  files: bigint;
  dirs: bigint;
  errors: bigint;
}

/**
 * Totals a subtree per directory, deepest first: each directory down to `maxDepth` is yielded
 * once its subtree is counted, and the start comes last. Links count as files (their own size)
 * and are never followed.
 *
 * @param root The confined export.
 * @param rel Wire path of the subtree (`""` for the root).
 * @param options Depth, cap and budget.
 * @throws {AdminError} For the deadline, or a start that is not a directory.
 * @returns The entries, lazily; the return value tells whether the cap cut the report.
 */
export async function* diskUsage(
  root: AdminRoot,
  rel: string,
  options: DiskUsageOptions,
): AsyncGenerator<DiskUsageEntry, WalkEnd> {
  const { budget, maxDepth = 0, limit = ADMIN_LIMITS.usageEntries } = options;
  const start = trimSlashes(rel);
  const { info } = await resolveStart(root, start);
  if (!info.isDirectory) {
    throw new AdminError(
      grpc.status.INVALID_ARGUMENT,
      `Cannot total ${JSON.stringify(start)}: it is not a directory`,
    );
  }
  let reported = 0;
  let truncated = false;
  const walk = async function* (
    dir: string,
    depth: number,
  ): AsyncGenerator<DiskUsageEntry, Totals> {
    budget.check();
    const totals: Totals = { bytes: 0n, files: 0n, dirs: 0n, errors: 0n };
    let abs: string | null;
    let names: string[];
    try {
      abs = depth === 0 ? (await resolveStart(root, dir)).abs : await resolveDir(root, dir);
      if (abs === null) return totals;
      names = await readNames(abs, budget);
    } catch (error) {
      if (isFatal(error)) throw error;
      totals.errors++;
      return totals;
    }
    for (const name of names) {
      let child: Deno.FileInfo;
      try {
        child = await Deno.lstat(`${abs}/${name}`);
      } catch {
        totals.errors++;
        continue;
      }
      if (child.isDirectory) {
        const sub = yield* walk(join(dir, name), depth + 1);
        totals.bytes += sub.bytes;
        totals.files += sub.files;
        totals.dirs += sub.dirs + 1n;
        totals.errors += sub.errors;
      } else {
        totals.bytes += BigInt(child.size);
        totals.files++;
      }
    }
    if (depth <= maxDepth) {
      if (depth > 0 && reported >= limit) truncated = true;
      else {
        if (depth > 0) reported++;
        yield create(DiskUsageEntrySchema, { path: dir, depth, ...totals });
      }
    }
    return totals;
  };
  const totals = yield* walk(start, 0);
  return { truncated, errors: Number(totals.errors) };
}

/** Options of {@linkcode removeEntry}. */
export interface RemoveOptions {
  /** The deadline and cancellation. */
  budget: AdminBudget;
  /**
   * Count what would be removed, remove nothing.
   * @default {false}
   */
  dryRun?: boolean;
  /**
   * Real paths of other exports: a removal that would take one of them with it is refused.
   * @default {[]}
   */
  protectedPaths?: readonly string[];
}

/**
 * Removes one entry of a root, recursively for a directory: files and links first, then each
 * directory once it is empty. A link is removed, never followed. Each directory is re-resolved
 * through the root right before it is read.
 *
 * @param root The confined export (writable).
 * @param rel Wire path of the entry; `""` (the root) is refused.
 * @param options Dry run, protected paths and budget.
 * @throws {AdminError} `INVALID_ARGUMENT` for the root, `PERMISSION_DENIED` when the entry holds
 * another export, or the first failure when some entries could not be removed.
 * @returns The entries removed (or that would be), the entry itself included.
 */
export async function removeEntry(
  root: AdminRoot,
  rel: string,
  options: RemoveOptions,
): Promise<number> {
  const { budget, dryRun = false, protectedPaths = [] } = options;
  const path = trimSlashes(rel);
  if (path === "") {
    throw new AdminError(
      grpc.status.INVALID_ARGUMENT,
      "Cannot remove the root of a module: name an entry inside it",
    );
  }
  const top = await root.resolveExisting(path);
  const held = protectedPaths.find((p) => p === top || p.startsWith(`${top}/`));
  if (held !== undefined) {
    throw new AdminError(
      grpc.status.PERMISSION_DENIED,
      `Cannot remove ${JSON.stringify(path)}: it holds another exported directory`,
    );
  }
  let removed = 0;
  let failed = 0;
  let firstFailure: unknown = null;
  const fail = (error: unknown): void => {
    if (error instanceof AdminError) throw error;
    failed++;
    firstFailure ??= error;
  };
  const drop = async (abs: string): Promise<void> => {
    try {
      if (!dryRun) await Deno.remove(abs);
      removed++;
    } catch (error) {
      fail(error);
    }
  };
  const removeDir = async (dir: string): Promise<void> => {
    budget.check();
    let abs: string | null;
    let names: string[];
    try {
      abs = await resolveDir(root, dir);
      if (abs === null) return;
      names = await readNames(abs, budget);
    } catch (error) {
      fail(error);
      return;
    }
    for (const name of names) {
      let child: Deno.FileInfo;
      try {
        child = await Deno.lstat(`${abs}/${name}`);
      } catch (error) {
        fail(error);
        continue;
      }
      if (child.isDirectory) await removeDir(join(dir, name));
      else await drop(`${abs}/${name}`);
    }
    const again = await resolveDir(root, dir).catch(() => null);
    if (again !== null) await drop(again);
  };
  const info = await Deno.lstat(top);
  if (info.isDirectory) await removeDir(path);
  else await drop(top);
  if (failed > 0) {
    const reason = toAdminError(firstFailure, "remove", path, "the module");
    throw new AdminError(
      reason.code,
      `Cannot remove ${failed} entr${failed === 1 ? "y" : "ies"} under ${
        JSON.stringify(path)
      } (${removed} removed): ${reason.message}`,
    );
  }
  return removed;
}

/** Capacity of a filesystem in bytes. */
export interface FilesystemSpace {
  /** Total size. */
  total: bigint;
  /** Bytes in use. */
  used: bigint;
  /** Bytes available to the daemon (unprivileged). */
  free: bigint;
}

/**
 * Measures the filesystem that holds `path` (`statfs(2)` through `node:fs`).
 *
 * Requires `--allow-read` for `path` and `--allow-sys=statfs`.
 *
 * @param path A directory on the filesystem.
 * @throws {Deno.errors.NotCapable} Without `--allow-sys=statfs`.
 * @returns Total, used and free bytes.
 */
export async function filesystemSpace(path: string): Promise<FilesystemSpace> {
  const s = await nodeFs.statfs(path, { bigint: true });
  return {
    total: s.blocks * s.bsize,
    used: (s.blocks - s.bfree) * s.bsize,
    free: s.bavail * s.bsize,
  };
}

/** Options of {@linkcode completeEntries}. */
export interface CompleteOptions {
  /** The deadline and cancellation. */
  budget: AdminBudget;
  /**
   * Offer directories only.
   * @default {false}
   */
  dirsOnly?: boolean;
  /**
   * Most candidates.
   * @default {ADMIN_LIMITS.completions}
   */
  limit?: number;
}

/**
 * Completes the last segment of a path inside a root: the names in `dir` that start with
 * `partial` (dot names only when `partial` starts with a dot), directories (and links to
 * directories inside the root) marked with a final `/`.
 *
 * @param root The confined export.
 * @param dir Wire path of the directory to look in (`""` for the root).
 * @param partial The typed start of the name.
 * @param options Kinds, cap and budget.
 * @returns Candidate wire paths, sorted (`dir/name`, `dir/sub/`).
 */
export async function completeEntries(
  root: AdminRoot,
  dir: string,
  partial: string,
  options: CompleteOptions,
): Promise<string[]> {
  const { budget, dirsOnly = false, limit = ADMIN_LIMITS.completions } = options;
  const { abs, info } = await resolveStart(root, dir);
  if (!info.isDirectory) return [];
  const names = (await readNames(abs, budget)).filter((name) =>
    name.startsWith(partial) && !name.startsWith(TEMP_PREFIX) &&
    (partial.startsWith(".") || !name.startsWith("."))
  );
  const out: string[] = [];
  for (const name of names) {
    if (out.length >= limit) break;
    budget.check();
    let isDir = false;
    try {
      const child = await Deno.lstat(`${abs}/${name}`);
      isDir = child.isDirectory;
      if (child.isSymlink) {
        isDir = (await Deno.stat(await root.resolveExistingFollow(join(dir, name))))
          .isDirectory;
      }
    } catch { /* vanished, dangling or leaving the root: offer it as a plain name */ }
    if (dirsOnly && !isDir) continue;
    out.push(`${join(dir, name)}${isDir ? "/" : ""}`);
  }
  return out;
}

/** What the admin handlers need from the server. */
export interface AdminServiceContext {
  /** The resolved configuration. */
  config: DaemonConfig;
  /** Writes one log line. */
  log: (line: string) => void;
  /**
   * Opens an export for confined access.
   * @default {ContainedRoot.open}
   */
  openRoot?: (path: string) => Promise<AdminRoot>;
}

/** The admin RPC handlers of {@linkcode BlitServer}. */
export type AdminHandlers = Pick<
  BlitServer,
  "listDir" | "find" | "diskUsage" | "diskFree" | "remove" | "completePath"
>;

/** Clamps a requested count to a cap (0 = the cap). */
function clamp(requested: number, cap: number): number {
  return requested === 0 ? cap : Math.min(requested, cap);
}

function serviceError(error: AdminError): grpc.ServerErrorResponse {
  return Object.assign(new Error(error.message), { code: error.code, details: error.message });
}

/** Writes to a server stream, waiting while its buffer is full. */
async function send<T>(call: grpc.ServerWritableStream<unknown, T>, message: T): Promise<void> {
  if (call.write(message)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      call.off("drain", done);
      call.off("cancelled", done);
      resolve();
    };
    call.on("drain", done);
    call.on("cancelled", done);
  });
}

/**
 * Builds the admin handlers of the daemon. Each handler decodes the request, looks up the
 * export, runs one operation under an {@linkcode AdminBudget}, and encodes the answer or a
 * typed error.
 *
 * @param context Configuration, logger and root opener.
 * @returns The six handlers, to spread into the server's {@linkcode BlitServer}.
 */
export function createAdminHandlers(context: AdminServiceContext): AdminHandlers {
  const { config, log, openRoot = ContainedRoot.open } = context;
  const exportPaths = [
    ...config.modules.map((m) => m.path),
    ...(config.root === null ? [] : [config.root]),
  ];
  const open = async (exported: AdminExport, action: string): Promise<AdminRoot> => {
    try {
      return await openRoot(exported.path);
    } catch (error) {
      throw new AdminError(
        grpc.status.UNAVAILABLE,
        `Cannot ${action} in ${exported.label}: its directory cannot be opened (${
          errorKind(error)
        })`,
      );
    }
  };
  const report = (peer: string, error: AdminError): void => {
    if (error.code === grpc.status.INTERNAL || error.code === grpc.status.UNAVAILABLE) {
      log(`blitd: ${peer}: ${error.message}`);
    }
  };
  const unary = <Req, Res>(
    name: string,
    run: (request: Req, cancelled: () => boolean) => Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> =>
  (call, callback) => {
    run(call.request, () => call.cancelled).then(
      (response) => callback(null, response),
      (error) => {
        const typed = toAdminError(error, name, "", "the request");
        report(call.getPeer(), typed);
        callback(serviceError(typed), null);
      },
    );
  };
  const stream = <Req, Res>(
    name: string,
    run: (request: Req, call: grpc.ServerWritableStream<Req, Res>) => Promise<WalkEnd>,
  ): grpc.handleServerStreamingCall<Req, Res> =>
  (call) => {
    run(call.request, call).then(
      (end) => {
        const trailer = new grpc.Metadata();
        if (end.truncated) trailer.set(TRUNCATED_TRAILER, "true");
        if (end.errors > 0) trailer.set(ERRORS_TRAILER, String(end.errors));
        call.end(trailer);
      },
      (error) => {
        const typed = toAdminError(error, name, "", "the request");
        report(call.getPeer(), typed);
        call.emit("error", serviceError(typed));
      },
    );
  };
  const guarded = async <T>(
    exported: AdminExport,
    action: string,
    rel: string,
    body: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await body();
    } catch (error) {
      throw toAdminError(error, action, rel, exported.label);
    }
  };

  return {
    listDir: unary("list", async (request, cancelled) => {
      const exported = findAdminExport(config, request.module);
      const root = await open(exported, "list");
      const budget = new AdminBudget(`list in ${exported.label}`, ADMIN_LIMITS.unaryMs, cancelled);
      const listing = await guarded(
        exported,
        "list",
        request.path,
        () => listDirectory(root, request.path, { budget }),
      );
      return create(ListDirResponseSchema, listing);
    }),
    find: stream("search", async (request, call) => {
      const exported = findAdminExport(config, request.module);
      const root = await open(exported, "search");
      const budget = new AdminBudget(
        `search in ${exported.label}`,
        ADMIN_LIMITS.walkMs,
        () => call.cancelled,
      );
      return await guarded(exported, "search", request.path, async () => {
        const results = findEntries(root, request.path, {
          budget,
          pattern: request.pattern,
          kind: request.kind,
          caseInsensitive: request.caseInsensitive,
          limit: clamp(request.limit, ADMIN_LIMITS.findResults),
        });
        for (;;) {
          const step = await results.next();
          if (step.done) return step.value;
          await send(call, step.value);
        }
      });
    }),
    diskUsage: stream("total", async (request, call) => {
      const exported = findAdminExport(config, request.module);
      const root = await open(exported, "total");
      const budget = new AdminBudget(
        `total ${exported.label}`,
        ADMIN_LIMITS.walkMs,
        () => call.cancelled,
      );
      return await guarded(exported, "total", request.path, async () => {
        const entries = diskUsage(root, request.path, { budget, maxDepth: request.maxDepth });
        for (;;) {
          const step = await entries.next();
          if (step.done) return step.value;
          await send(call, step.value);
        }
      });
    }),
    diskFree: unary("measure", async (request) => {
      const exported = findAdminExport(config, request.module);
      const root = await open(exported, "measure");
      try {
        const space = await filesystemSpace(root.path);
        return create(DiskFreeResponseSchema, {
          totalBytes: space.total,
          usedBytes: space.used,
          freeBytes: space.free,
        });
      } catch (error) {
        if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.NotSupported) {
          throw new AdminError(
            grpc.status.FAILED_PRECONDITION,
            `Cannot measure the filesystem of ${exported.label}: the daemon runs without ` +
              `--allow-sys=statfs`,
          );
        }
        throw toAdminError(error, "measure the filesystem of", "", exported.label);
      }
    }),
    remove: unary("remove", async (request, cancelled) => {
      const exported = findAdminExport(config, request.module);
      if (exported.readOnly) {
        throw new AdminError(
          grpc.status.PERMISSION_DENIED,
          `Cannot remove from ${exported.label}: it is read-only`,
        );
      }
      const root = await open(exported, "remove");
      const budget = new AdminBudget(
        `remove from ${exported.label}`,
        ADMIN_LIMITS.walkMs,
        cancelled,
      );
      const removed = await guarded(
        exported,
        "remove",
        request.path,
        () =>
          removeEntry(root, request.path, {
            budget,
            dryRun: request.dryRun,
            protectedPaths: exportPaths.filter((p) => p !== root.path && p !== exported.path),
          }),
      );
      if (!request.dryRun) {
        log(`blitd: removed ${removed} entries at ${exported.label}:/${request.path}`);
      }
      return create(RemoveResponseSchema, { removed: BigInt(removed) });
    }),
    completePath: unary("complete", async (request, cancelled) => {
      const limit = clamp(request.limit, ADMIN_LIMITS.completions);
      const prefix = request.prefix;
      const slash = prefix.indexOf("/");
      if (slash < 0) {
        const candidates = config.modules.map((m) => m.name)
          .filter((name) => name.startsWith(prefix)).sort().slice(0, limit)
          .map((name) => `${name}/`);
        return create(CompletePathResponseSchema, { candidates });
      }
      // "/path" completes in the default root (the text after "host:/" of "host://path").
      const module = prefix.slice(0, slash);
      const rest = prefix.slice(slash + 1);
      const exported = findAdminExport(config, module);
      const root = await open(exported, "complete");
      const cut = rest.lastIndexOf("/");
      const dir = cut < 0 ? "" : rest.slice(0, cut);
      const partial = rest.slice(cut + 1);
      const budget = new AdminBudget(
        `complete in ${exported.label}`,
        ADMIN_LIMITS.unaryMs,
        cancelled,
      );
      const found = await guarded(
        exported,
        "complete",
        dir,
        () => completeEntries(root, dir, partial, { budget, dirsOnly: request.dirsOnly, limit }),
      );
      return create(CompletePathResponseSchema, {
        candidates: found.map((candidate) => `${module}/${candidate}`),
      });
    }),
  };
}
