/**
 * `blit check SRC DST` (rclone's `check`): which entries differ between two trees, local or on
 * a daemon, without writing anything on either side.
 *
 * There is one comparer, the engine's: a dry-run `mirror SRC DST` plans exactly the changes that
 * would make DST equal to SRC, and its planned creates, updates and deletes are the `+`, `*` and
 * `-` lines. The planner runs where the destination is; its events name paths only, so the
 * entries they name are looked up (read-only) in that destination tree to tell a create from an
 * update, and a directory that would be deleted is listed with its contents. That needs the
 * planner's tree to be local: a pull plans locally, and a push (local SRC, daemon DST) runs as
 * the reverse pull (DST's tree as the source, SRC's as the destination, `+` and `-` swapped).
 *
 * @module
 */

import { absolutePath, formatEndpoint, parseEndpoints, splitLocalPath } from "../core/endpoint.ts";
import type { LocalEndpoint, RemoteEndpoint } from "../core/endpoint.ts";
import { TransferRefusal } from "../core/endpoint.ts";
import { printable, UsageError } from "../core/errors.ts";
import { compileFilter, type EntryFilter, type FilterRule } from "../core/filter.ts";
import type { TransferEvent } from "../core/session/planner.ts";
import { transfer } from "../core/transfer.ts";
import { isTemporaryName } from "../core/tree.ts";
import type { CompareMode, TransferSummary } from "../core/types.ts";
import type { ConnectionSecurity } from "../core/client_security.ts";
import { ExitCode } from "../cmdline/exit_code.ts";
import { explainArgs } from "../cmdline/explain_args.ts";
import { parseArgs } from "../cmdline/parse_args.ts";
import { SECURITY_HELP, SECURITY_OPTIONS, securityOf } from "../cmdline/security_flags.ts";
import { lazyHasher } from "./hasher.ts";

/** Exit code of a check that found differences (the table's "partial" code, 2). */
export const EXIT_DIFFERENT: number = ExitCode.Partial;

/** Help of `blit check`. */
export const CHECK_HELP = `Usage: blit check [options] SRC DST

Compares two trees and changes nothing: lists what "blit mirror SRC DST" would change.
SRC and DST follow the transfer verbs' rules (SRC/ compares the contents of SRC with DST;
a directory SRC without a slash is compared with DST/<name of SRC>). Either side may be
a daemon (host:/module/path, host:port:/module/path), not both.

  + PATH   only in SRC        - PATH   only in DST        * PATH   differs
The count goes to stderr. Exit 0: identical; 2: they differ; 1: an error.

Options:
  -c, --checksum         compare by xxHash3-64 digest when sizes match (default: size and
                         modification time)
      --size-only        compare by size only
      --exclude GLOB     leave matching entries out (repeatable)
      --include GLOB     keep matching entries (repeatable; first match wins)
      --json             print one object on stdout:
                         {"identical","only_in_source","only_in_destination","differ","counts"}
  -h, --help             this help

Daemon sessions (sign-in and trust):
${SECURITY_HELP}
`;

const CHECK_OPTIONS = {
  checksum: { type: "boolean", short: "c" },
  "size-only": { type: "boolean" },
  exclude: { type: "string", multiple: true },
  include: { type: "string", multiple: true },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  ...SECURITY_OPTIONS,
} as const;

/** The parsed command line of `blit check`. */
export interface CheckArgs {
  /** Source as given. */
  source: string;
  /** Destination as given. */
  destination: string;
  /** How files present on both sides are compared. */
  compare: CompareMode;
  /** Filter rules in command-line order. */
  filters: FilterRule[];
  /** Print one JSON object on stdout. */
  json: boolean;
  /** Remote: the client's key and how the daemon is trusted. */
  security: ConnectionSecurity;
}

/**
 * Parses `blit check` arguments.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseCheckArgs } from "./check.ts";
 * const args = parseCheckArgs(["-c", "--exclude", "*.log", "a/", "b"]);
 * deepStrictEqual(args === "help" ? null : [args.compare, args.filters], [
 *   "checksum",
 *   [{ action: "exclude", pattern: "*.log" }],
 * ]);
 * ```
 *
 * @param argv Arguments after `check`.
 * @throws {UsageError} For unknown flags, a wrong number of paths or two compare modes.
 * @returns The arguments, or `"help"` when help was asked for.
 */
export function parseCheckArgs(argv: string[]): CheckArgs | "help" {
  const { values, positionals, tokens } = explainArgs(
    "blit check",
    () =>
      parseArgs({
        args: argv,
        options: CHECK_OPTIONS,
        allowPositionals: true,
        tokens: true,
        strict: true,
      }),
  );
  if (values.help) return "help";
  if (positionals.length !== 2) {
    throw new UsageError(
      `Cannot check: expected SRC and DST, got ${positionals.length} path(s); ` +
        "usage: blit check [options] SRC DST",
    );
  }
  if (values.checksum && values["size-only"]) {
    throw new UsageError("Cannot combine --checksum with --size-only: pick one compare mode");
  }
  const filters: FilterRule[] = [];
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    if (token.name !== "include" && token.name !== "exclude") continue;
    filters.push({ action: token.name, pattern: token.value ?? "" });
  }
  return {
    source: positionals[0] as string,
    destination: positionals[1] as string,
    compare: values.checksum ? "checksum" : values["size-only"] ? "size-only" : "size-mtime",
    filters,
    json: values.json ?? false,
    security: securityOf(values),
  };
}

/** What `blit check` found; the shape of its `--json` output. */
export interface CheckReport {
  /** No difference at all. */
  identical: boolean;
  /** Paths (relative to the compared roots, `.` for a root) only in the source, sorted. */
  only_in_source: string[];
  /** Paths only in the destination, sorted. */
  only_in_destination: string[];
  /** Paths on both sides that differ (content, size, time, link target or kind), sorted. */
  differ: string[];
  /** How many of each, and in all. */
  counts: { only_in_source: number; only_in_destination: number; differ: number; total: number };
}

/** Options of {@linkcode checkTrees}. */
export interface CheckOptions {
  /** How files present on both sides are compared. @default {"size-mtime"} */
  compare?: CompareMode;
  /** Filter rules in command-line order. @default {[]} */
  filters?: readonly FilterRule[];
  /** Remote: the client's key and how the daemon is trusted. */
  security?: ConnectionSecurity;
  /** Prints a notice (a new host, an unencrypted connection). */
  warn?: (line: string) => void;
}

/** The three kinds of difference, as the planner's tree side sees them. */
interface Differences {
  /** The planner would create these: absent from its tree. */
  created: Set<string>;
  /** The planner would delete these: only in its tree. */
  deleted: Set<string>;
  /** The planner would replace these. */
  changed: Set<string>;
}

/** The mirror events of one dry run, in order. */
class PlannedEvents {
  /** Paths the planner would create or rewrite, with what it would make there. */
  readonly made = new Map<string, TransferEvent["action"]>();
  /** Paths the planner would delete (a mirror deletion, or an entry of another kind replaced). */
  readonly removed = new Set<string>();

  /**
   * Records one event.
   * @param event The planner's event.
   */
  add(event: TransferEvent): void {
    if (event.action === "delete") this.removed.add(event.path);
    else if (event.action !== "remove-source") this.made.set(event.path, event.action);
  }
}

/** `lstat` of a path, `null` when nothing is there (or a parent is not a directory). */
function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw error;
  }
}

/** Joins a relative path under a root (`""` is the root itself). */
function under(root: string, rel: string): string {
  if (rel === "") return root;
  return `${root === "/" ? "" : root}/${rel}`;
}

/** Adds every entry below a local directory (no link followed, filtered, temporaries left out). */
function addDescendants(
  root: string,
  rel: string,
  filter: EntryFilter,
  into: Set<string>,
): void {
  for (const item of Deno.readDirSync(under(root, rel))) {
    if (isTemporaryName(item.name)) continue;
    const path = rel === "" ? item.name : `${rel}/${item.name}`;
    if (!filter(path, item.isDirectory)) continue;
    into.add(path);
    if (item.isDirectory) addDescendants(root, path, filter, into);
  }
}

/**
 * Turns a dry run's events into differences, reading the planner's (local) tree at `root`: a
 * path made where something is already (or that replaces an entry of another kind) differs, one
 * made where nothing is, or below a directory that would be made, is new; a directory that would
 * be deleted or replaced goes with its contents.
 */
function differencesOf(events: PlannedEvents, root: string, filter: EntryFilter): Differences {
  const found: Differences = { created: new Set(), deleted: new Set(), changed: new Set() };
  const madeDirs = new Set<string>();
  for (const [path, action] of events.made) if (action === "mkdir") madeDirs.add(path);
  const belowMadeDir = (path: string): boolean => {
    if (path === "") return false;
    if (madeDirs.has("")) return true;
    for (let at = path.lastIndexOf("/"); at > 0; at = path.lastIndexOf("/", at - 1)) {
      if (madeDirs.has(path.slice(0, at))) return true;
    }
    return false;
  };
  for (const [path, action] of events.made) {
    if (belowMadeDir(path)) {
      found.created.add(path);
      continue;
    }
    const there = events.removed.has(path) ? true : lstatOrNull(under(root, path)) !== null;
    (there ? found.changed : found.created).add(path);
    // A directory replaced by a file or a link: its contents go with it.
    const old = events.removed.has(path) && action !== "mkdir"
      ? lstatOrNull(under(root, path))
      : null;
    if (old?.isDirectory) addDescendants(root, path, filter, found.deleted);
  }
  for (const path of events.removed) {
    if (events.made.has(path)) continue;
    found.deleted.add(path);
    if (lstatOrNull(under(root, path))?.isDirectory) {
      addDescendants(root, path, filter, found.deleted);
    }
  }
  return found;
}

/** A path as printed: `.` for a root, escaped (names come from either side, a daemon too). */
function shown(path: string): string {
  return path === "" ? "." : printable(path);
}

/**
 * Builds the report from the differences, `+` and `-` taken from the planner's side.
 * @param found The differences.
 * @param reversed The planner's tree was the source's (a push checked as the reverse pull).
 */
function reportOf(found: Differences, reversed: boolean): CheckReport {
  const sorted = (paths: Set<string>): string[] =>
    [...paths].sort((a, b) => a < b ? -1 : a > b ? 1 : 0).map(shown);
  const onlyInSource = sorted(reversed ? found.deleted : found.created);
  const onlyInDestination = sorted(reversed ? found.created : found.deleted);
  const differ = sorted(found.changed);
  const total = onlyInSource.length + onlyInDestination.length + differ.length;
  return {
    identical: total === 0,
    only_in_source: onlyInSource,
    only_in_destination: onlyInDestination,
    differ,
    counts: {
      only_in_source: onlyInSource.length,
      only_in_destination: onlyInDestination.length,
      differ: differ.length,
      total,
    },
  };
}

/** Refuses a check the dry run could not complete: a scan error or an unreadable entry. */
function refuseIncomplete(summary: TransferSummary): void {
  if (summary.files_failed > 0) {
    const first = summary.failures[0];
    const what = first ? ` (first: ${shown(first.path)}: ${printable(first.message)})` : "";
    throw new UsageError(
      `Cannot compare every entry: ${summary.files_failed} could not be read${what}; ` +
        "fix their permissions and run check again",
    );
  }
  if (summary.deletions_skipped_reason !== null) {
    throw new UsageError(
      `Cannot list every destination-only entry: ${summary.deletions_skipped_reason}; ` +
        "fix the source's permissions and run check again",
    );
  }
}

/** One dry-run mirror whose planner runs locally; returns the differences in its tree. */
async function plannedDifferences(
  source: string,
  destination: string,
  options: CheckOptions,
): Promise<Differences> {
  const events = new PlannedEvents();
  const compare = options.compare ?? "size-mtime";
  const summary = await transfer("mirror", source, destination, {
    dryRun: true,
    compare,
    filters: options.filters ?? [],
    onEvent: (event) => events.add(event),
    ...(compare === "checksum" ? { hasher: lazyHasher() } : {}),
    ...(options.security ? { security: options.security } : {}),
    ...(options.warn ? { warn: options.warn } : {}),
  });
  refuseIncomplete(summary);
  return differencesOf(events, summary.destination, compileFilter(options.filters ?? []));
}

/**
 * Every entry of a local source as only in the planner's tree (the daemon holds nothing where
 * it would land): the reverse pull would delete them all.
 */
function allOfLocal(abs: string, isDir: boolean, filter: EntryFilter): Differences {
  const deleted = new Set<string>([""]);
  if (isDir) addDescendants(abs, "", filter, deleted);
  return { created: new Set(), deleted, changed: new Set() };
}

/**
 * Whether a daemon path is a directory, asked through its admin listing of the parent (a
 * missing parent: not a directory).
 */
async function remoteIsDirectory(
  remote: RemoteEndpoint,
  security: ConnectionSecurity,
): Promise<boolean> {
  if (remote.path === "") return true;
  const { withClient } = await import("../cmdline/with_client.ts");
  const slash = remote.path.lastIndexOf("/");
  const parent = slash < 0 ? "" : remote.path.slice(0, slash);
  const name = remote.path.slice(slash + 1);
  try {
    const listing = await withClient(
      { host: remote.host, port: remote.port },
      (client) => client.listDir(remote.module ?? "", parent),
      security,
    );
    return listing.entries.some((entry) => entry.name === name && entry.type === "dir");
  } catch (error) {
    if (error instanceof Error && "code" in error && error.code === "NOT_FOUND") return false;
    throw error;
  }
}

/**
 * A push (local SRC, daemon DST) as the reverse dry-run pull: DST's target tree is the source,
 * SRC's tree the destination, so the planner runs here. The target is placed by the transfer
 * verbs' rule.
 */
async function pushDifferences(
  local: LocalEndpoint,
  remote: RemoteEndpoint,
  options: CheckOptions,
): Promise<Differences> {
  const texts = { source: local.text, destination: remote.text };
  const abs = absolutePath(local.path);
  const info = local.trailingSlash ? statOrNull(abs) : lstatOrNull(abs);
  if (info === null) throw new TransferRefusal("source-missing", texts);
  if (local.trailingSlash && !info.isDirectory) {
    throw new TransferRefusal("source-not-directory", texts);
  }
  const isDir = info.isDirectory;
  const [parent, name] = splitLocalPath(abs);
  const join = (dir: string): string => dir === "" ? name : `${dir}/${name}`;
  let target: RemoteEndpoint;
  let reverseDestination: string;
  if (isDir) {
    target = {
      ...remote,
      path: local.trailingSlash ? remote.path : join(remote.path),
      trailingSlash: true,
    };
    reverseDestination = abs;
  } else {
    const into = remote.trailingSlash || await remoteIsDirectory(remote, options.security ?? {});
    target = { ...remote, path: into ? join(remote.path) : remote.path, trailingSlash: false };
    // Into SRC's directory, so that a link to a directory at SRC is compared, not followed.
    reverseDestination = into ? `${parent === "/" ? "" : parent}/` : abs;
  }
  try {
    return await plannedDifferences(formatEndpoint(target), reverseDestination, options);
  } catch (error) {
    if (!(error instanceof TransferRefusal)) throw error;
    const filter = compileFilter(options.filters ?? []);
    // Nothing where SRC would land: all of SRC is new.
    if (error.reason === "source-missing") return allOfLocal(abs, isDir, filter);
    // A file where the directory SRC would land: the root differs, all below it is new.
    if (error.reason === "source-not-directory") {
      const found = allOfLocal(abs, isDir, filter);
      found.deleted.delete("");
      found.changed.add("");
      return found;
    }
    // A directory where the file SRC would land.
    if (error.reason === "destination-not-directory") {
      return { created: new Set(), deleted: new Set(), changed: new Set([""]) };
    }
    throw new UsageError(
      error.message.replace(JSON.stringify(formatEndpoint(target)), JSON.stringify(remote.text)),
    );
  }
}

/** `stat` (following links) of a path, `null` when nothing is there. */
function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw error;
  }
}

/**
 * Compares two trees as `blit mirror SRC DST` would (same placement rule, compare modes and
 * filters) and writes nothing on either side.
 *
 * Requires `--allow-read`, `--allow-net`, `--allow-env` and `--allow-sys` for a daemon side,
 * and `--allow-write` only because the engine's permissions are checked up front (a dry run
 * writes nothing).
 *
 * @example Usage
 * ```ts ignore
 * import { checkTrees } from "./check.ts";
 * const report = await checkTrees("./site/", "nas:/www/site", { compare: "checksum" });
 * console.log(report.identical, report.counts.total);
 * ```
 *
 * @param source Source (`dir/` = its contents), local or `host:/module/path`.
 * @param destination Destination, local or `host:/module/path` (not both remote).
 * @param options Compare mode, filters, daemon security and notices.
 * @throws {UsageError} For bad endpoints, a missing source, or entries that could not be read.
 * @returns The differences.
 */
export async function checkTrees(
  source: string,
  destination: string,
  options: CheckOptions = {},
): Promise<CheckReport> {
  const [src, dst] = parseEndpoints(source, destination);
  if (src.kind === "remote" && dst.kind === "remote") {
    throw new UsageError("Cannot check two daemons against each other: make one side a local path");
  }
  if (src.kind === "local" && dst.kind === "remote") {
    return reportOf(await pushDifferences(src, dst, options), true);
  }
  return reportOf(await plannedDifferences(source, destination, options), false);
}

/**
 * Renders a report as `blit check` prints it: one line per difference, sorted by path.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { renderCheckLines } from "./check.ts";
 * deepStrictEqual(
 *   renderCheckLines({
 *     identical: false,
 *     only_in_source: ["b"],
 *     only_in_destination: ["c"],
 *     differ: ["a"],
 *     counts: { only_in_source: 1, only_in_destination: 1, differ: 1, total: 3 },
 *   }),
 *   ["* a", "+ b", "- c"],
 * );
 * ```
 *
 * @param report The report.
 * @returns The lines, without newlines.
 */
export function renderCheckLines(report: CheckReport): string[] {
  const lines: [string, string][] = [
    ...report.only_in_source.map((p): [string, string] => [p, "+"]),
    ...report.only_in_destination.map((p): [string, string] => [p, "-"]),
    ...report.differ.map((p): [string, string] => [p, "*"]),
  ];
  lines.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
  return lines.map(([path, mark]) => `${mark} ${path}`);
}

/**
 * Runs `blit check`: prints the differences (or `--json`), the count on stderr, and returns 0
 * when identical, 2 when they differ; errors are thrown for the caller to print.
 *
 * @param argv Arguments after `check`.
 * @throws {UsageError} For bad arguments or endpoints and incomplete comparisons.
 * @returns The exit code.
 */
export async function runCheck(argv: string[]): Promise<number> {
  const args = parseCheckArgs(argv);
  if (args === "help") {
    console.log(CHECK_HELP);
    return ExitCode.Ok;
  }
  const report = await checkTrees(args.source, args.destination, {
    compare: args.compare,
    filters: args.filters,
    security: args.security,
    warn: (line) => console.error(line),
  });
  if (args.json) console.log(JSON.stringify(report));
  else {
    const lines = renderCheckLines(report);
    if (lines.length > 0) console.log(lines.join("\n"));
  }
  const total = report.counts.total;
  console.error(report.identical ? "identical" : `${total} difference${total === 1 ? "" : "s"}`);
  return report.identical ? ExitCode.Ok : EXIT_DIFFERENT;
}
