/**
 * Parses the arguments of the transfer verbs into engine options.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import type { FilterRule } from "../core/filter.ts";
import type { CompareMode, TransferOperation } from "../core/types.ts";
import { explainArgs } from "../cmdline/explain_args.ts";
import { type ArgsToken, parseArgs } from "../cmdline/parse_args.ts";
import { parseSize } from "../cmdline/parse_size.ts";
import { filesFromRules, readListFile } from "../cmdline/read_rule_file.ts";
import { SECURITY_OPTIONS, securityOf } from "../cmdline/security_flags.ts";
import type { ConnectionSecurity } from "../core/client_security.ts";

/** The parsed command line of `blit copy|mirror|move`. */
export interface TransferArgs {
  /** The verb. */
  operation: TransferOperation;
  /** Sources as given: one, or several merged into DST (all local, or all in one module). */
  sources: string[];
  /** Destination as given. */
  destination: string;
  /** Compare mode. */
  compare: CompareMode;
  /** Never overwrite existing destination entries. */
  ignoreExisting: boolean;
  /** Filter rules in command-line order. */
  filters: FilterRule[];
  /** Plan and report only. */
  dryRun: boolean;
  /** List each action. */
  verbose: boolean;
  /** List each action as rsync's itemize string and the path (`-i`). */
  itemize: boolean;
  /** Live progress: `true`, `false`, or `undefined` = on when stderr is a terminal. */
  progress: boolean | undefined;
  /** Print one JSON summary on stdout. */
  json: boolean;
  /** Delete without asking. */
  yes: boolean;
  /** Hidden: copy worker threads (0 = copy on the main thread). */
  workers: number | undefined;
  /** Hidden: do not record this run in the performance history. */
  noHistory: boolean;
  /** Carry payload in the gRPC control stream instead of the TCP data plane. */
  forceGrpc: boolean;
  /** Send changed files whole, never as deltas. */
  wholeFile: boolean;
  /** Neither keep nor continue partial files. */
  noResume: boolean;
  /** Mirror: most deletions allowed (more: none at all), `null` for no limit. */
  maxDelete: number | null;
  /** Keep setuid, setgid and sticky bits of what a pull writes (a local run keeps them anyway). */
  keepSpecialBits: boolean;
  /** Remote: the client's key and how the daemon is trusted. */
  security: ConnectionSecurity;
  /** Print nothing but errors (`-q`). */
  quiet: boolean;
  /** Leave destination files that are newer than the source's alone (`-u`). */
  update: boolean;
  /** Leave alone source files smaller than this many bytes, or `null`. */
  minSize: number | null;
  /** Leave alone source files larger than this many bytes, or `null`. */
  maxSize: number | null;
  /** Mirror: delete excluded destination entries too. */
  deleteExcluded: boolean;
  /** Payload rate limit in bytes per second (`--bwlimit`), or `null`. */
  bandwidthLimit: number | null;
  /** Append the run's lines to this file (`--log-file`), or `null`. */
  logFile: string | null;
  /** Remote: longest time to connect, in milliseconds (`--contimeout`). */
  connectTimeoutMs: number;
  /** Remote: longest time without progress, in milliseconds (`--timeout`; 0 = none). */
  idleTimeoutMs: number;
  /** `--stats`: `null` = none, `0` = at the end, more = also every that many milliseconds. */
  statsEveryMs: number | null;
  /** Do not cross into other file systems (`-x`). */
  oneFileSystem: boolean;
  /** Keep hard links as hard links (`-H`). */
  hardLinks: boolean;
  /** Never keep owners and groups, even as root (`--no-owner`). */
  noOwner: boolean;
  /** Keep replaced and deleted files (`-b`, `--backup-dir`, `--suffix`), or `null`. */
  backup: { dir?: string; suffix?: string } | null;
}

const TRANSFER_OPTIONS = {
  archive: { type: "boolean", short: "a" },
  compress: { type: "boolean", short: "z" },
  checksum: { type: "boolean", short: "c" },
  "size-only": { type: "boolean" },
  "ignore-times": { type: "boolean", short: "I" },
  "ignore-existing": { type: "boolean" },
  exclude: { type: "string", multiple: true },
  include: { type: "string", multiple: true },
  "exclude-from": { type: "string", multiple: true },
  "include-from": { type: "string", multiple: true },
  "files-from": { type: "string" },
  "delete-excluded": { type: "boolean" },
  delete: { type: "boolean" },
  update: { type: "boolean", short: "u" },
  "min-size": { type: "string" },
  "max-size": { type: "string" },
  bwlimit: { type: "string" },
  "log-file": { type: "string" },
  timeout: { type: "string" },
  contimeout: { type: "string" },
  stats: { type: "string" },
  quiet: { type: "boolean", short: "q" },
  "one-file-system": { type: "boolean", short: "x" },
  "hard-links": { type: "boolean", short: "H" },
  "no-owner": { type: "boolean" },
  backup: { type: "boolean", short: "b" },
  "backup-dir": { type: "string" },
  suffix: { type: "string" },
  partial: { type: "boolean" },
  "progress-partial": { type: "boolean", short: "P" },
  "dry-run": { type: "boolean", short: "n" },
  verbose: { type: "boolean", short: "v" },
  "itemize-changes": { type: "boolean", short: "i" },
  progress: { type: "boolean", short: "p" },
  "no-progress": { type: "boolean" },
  json: { type: "boolean" },
  yes: { type: "boolean", short: "y" },
  workers: { type: "string" },
  "no-history": { type: "boolean" },
  "force-grpc": { type: "boolean" },
  "whole-file": { type: "boolean", short: "W" },
  "no-resume": { type: "boolean" },
  "max-delete": { type: "string" },
  "keep-special-bits": { type: "boolean" },
  help: { type: "boolean", short: "h" },
  ...SECURITY_OPTIONS,
} as const;

/** Most `--workers`. */
const MAX_WORKERS = 64;

/** Largest `--max-delete` (15 digits: exact as a JavaScript number). */
const MAX_DELETE_LIMIT = 999_999_999_999_999;

/** Parses `--workers N`: a whole number from 0 to {@linkcode MAX_WORKERS}. */
function parseWorkers(text: string): number {
  const n = /^[0-9]{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(n <= MAX_WORKERS)) {
    throw new UsageError(
      `Cannot use --workers "${text}": give a whole number from 0 to ${MAX_WORKERS}`,
    );
  }
  return n;
}

/** Parses `--max-delete N`: a whole number from 0 to {@linkcode MAX_DELETE_LIMIT}. */
function parseMaxDelete(text: string): number {
  const n = /^[0-9]{1,15}$/.test(text) ? Number(text) : NaN;
  if (Number.isNaN(n)) {
    throw new UsageError(
      `Cannot use --max-delete "${text}": give a whole number from 0 to ${MAX_DELETE_LIMIT} ` +
        "(0 refuses every deletion)",
    );
  }
  return n;
}

/**
 * Parses `blit copy|mirror|move` arguments.
 *
 * @param operation The verb.
 * @param args Arguments after the verb.
 * @throws {UsageError} For unknown flags, missing paths or conflicting compare flags.
 * @returns The parsed arguments, or `"help"` when help was asked for.
 */
export function parseTransferArgs(
  operation: TransferOperation,
  args: string[],
): TransferArgs | "help" {
  const verb = `blit ${operation}`;
  // `--stats` alone prints the closing statistics; `--stats=DURATION` adds a line per interval.
  const argv = args.map((arg) => arg === "--stats" ? "--stats=end" : arg);
  const { values, positionals, tokens } = explainArgs(
    verb,
    () =>
      parseArgs({
        args: argv,
        options: TRANSFER_OPTIONS,
        allowPositionals: true,
        tokens: true,
        strict: true,
      }),
    { workers: parseWorkers, "max-delete": parseMaxDelete },
  );
  // `-h` alone is help; inside a group (`-avh`) it is rsync's "human-readable", which blit's
  // output always is.
  const helpAsked = tokens.some((token) =>
    token.kind === "option" && token.name === "help" &&
    (argv[token.index] === "-h" || argv[token.index] === "--help")
  );
  if (helpAsked) return "help";
  if (positionals.length < 2) {
    throw new UsageError(
      `Cannot ${operation}: expected SRC and DST, got ${positionals.length} path(s); usage: blit ${operation} [options] SRC... DST`,
    );
  }
  const effective = effectiveOperation(operation, values.delete ?? false);
  const workers = values.workers === undefined ? undefined : parseWorkers(values.workers);
  let maxDelete: number | null = null;
  if (values["max-delete"] !== undefined) {
    if (effective !== "mirror") {
      throw new UsageError(
        `Cannot use --max-delete with ${operation}: only mirror (or copy --delete) deletes`,
      );
    }
    maxDelete = parseMaxDelete(values["max-delete"]);
  }
  if (values["delete-excluded"] && effective !== "mirror") {
    throw new UsageError(
      `Cannot use --delete-excluded with ${operation}: it deletes, so use mirror or copy --delete`,
    );
  }
  const progressFlag = values.progress || values["progress-partial"];
  if (progressFlag && values["no-progress"]) {
    throw new UsageError("Cannot combine --progress with --no-progress: pick one");
  }
  if ((values["progress-partial"] || values.partial) && values["no-resume"]) {
    throw new UsageError(
      "Cannot combine -P/--partial (keep partial files) with --no-resume: pick one",
    );
  }
  const sizeOf = (flag: "min-size" | "max-size"): number | null => {
    const text = values[flag];
    return text === undefined ? null : parseSize(text, { flag: `--${flag}` });
  };
  return {
    operation: effective,
    sources: positionals.slice(0, -1),
    destination: positionals.at(-1) as string,
    compare: compareModeOf(values),
    ignoreExisting: values["ignore-existing"] ?? false,
    filters: filterRulesOf(tokens, values["files-from"]),
    dryRun: values["dry-run"] ?? false,
    verbose: values.verbose ?? false,
    itemize: values["itemize-changes"] ?? false,
    progress: progressFlag ? true : values["no-progress"] ? false : undefined,
    json: values.json ?? false,
    yes: values.yes ?? false,
    workers,
    noHistory: values["no-history"] ?? false,
    forceGrpc: values["force-grpc"] ?? false,
    wholeFile: values["whole-file"] ?? false,
    noResume: values["no-resume"] ?? false,
    maxDelete,
    keepSpecialBits: values["keep-special-bits"] ?? false,
    security: securityOf(values),
    quiet: values.quiet ?? false,
    update: values.update ?? false,
    minSize: sizeOf("min-size"),
    maxSize: sizeOf("max-size"),
    deleteExcluded: values["delete-excluded"] ?? false,
    bandwidthLimit: values.bwlimit === undefined ? null : parseBandwidthLimit(values.bwlimit),
    logFile: values["log-file"] ?? null,
    connectTimeoutMs: values.contimeout === undefined
      ? DEFAULT_CONNECT_TIMEOUT_MS
      : parseSeconds(values.contimeout, "--contimeout", false),
    idleTimeoutMs: values.timeout === undefined
      ? DEFAULT_IDLE_TIMEOUT_MS
      : parseSeconds(values.timeout, "--timeout", true),
    oneFileSystem: values["one-file-system"] ?? false,
    hardLinks: values["hard-links"] ?? false,
    noOwner: values["no-owner"] ?? false,
    backup: backupOf(values),
    statsEveryMs: values.stats === undefined
      ? null
      : values.stats === "end"
      ? 0
      : parseSeconds(values.stats, "--stats", false),
  };
}

/** `--contimeout` when not given: 10 s, as the issue and ssh's habits suggest. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** `--timeout` when not given: 60 s without progress. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/** Longest `--timeout`, `--contimeout` or `--stats` interval: one day. */
const MAX_SECONDS = 86_400;

/** `copy --delete` is a mirror (the same deletions, the same consent); `move` never deletes. */
function effectiveOperation(operation: TransferOperation, deleting: boolean): TransferOperation {
  if (!deleting) return operation;
  if (operation === "move") {
    throw new UsageError("Cannot use --delete with move: use mirror, then remove the source");
  }
  return "mirror";
}

/** The one compare mode the flags ask for. */
function compareModeOf(
  values: { checksum?: boolean; "size-only"?: boolean; "ignore-times"?: boolean },
): CompareMode {
  const modes = (["checksum", "size-only", "ignore-times"] as const).filter((k) => values[k]);
  if (modes.length > 1) {
    throw new UsageError(
      `Cannot combine --${modes[0]} with --${modes[1]}: pick one compare mode`,
    );
  }
  return modes[0] ?? "size-mtime";
}

/**
 * The filter rules in command-line order: `--include`/`--exclude` as given, the lines of
 * `--include-from`/`--exclude-from` where those flags stand, and the `--files-from` list first.
 */
function filterRulesOf(
  tokens: readonly ArgsToken[],
  filesFrom: string | undefined,
): FilterRule[] {
  const filters: FilterRule[] = [];
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const value = token.value ?? "";
    if (token.name === "include" || token.name === "exclude") {
      filters.push({ action: token.name, pattern: value });
    } else if (token.name === "include-from" || token.name === "exclude-from") {
      const action = token.name === "include-from" ? "include" : "exclude";
      for (const pattern of readListFile(value, `--${token.name}`)) {
        filters.push({ action, pattern });
      }
    }
  }
  if (filesFrom === undefined) return filters;
  return [...filesFromRules(readListFile(filesFrom, "--files-from")), ...filters];
}

/** `-b`, `--backup-dir DIR` (implies `-b`) and `--suffix SUFFIX` (needs one of them). */
function backupOf(
  values: { backup?: boolean; "backup-dir"?: string; suffix?: string },
): { dir?: string; suffix?: string } | null {
  const dir = values["backup-dir"];
  const suffix = values.suffix;
  if (!values.backup && dir === undefined) {
    if (suffix !== undefined) {
      throw new UsageError("Cannot use --suffix without -b or --backup-dir: add -b");
    }
    return null;
  }
  return { ...(dir === undefined ? {} : { dir }), ...(suffix === undefined ? {} : { suffix }) };
}

/** `--bwlimit RATE`: a bare number is KiB/s as in rsync; `0` is no limit. */
function parseBandwidthLimit(text: string): number | null {
  const rate = parseSize(text, { flag: "--bwlimit", unit: 1024 });
  return rate === 0 ? null : rate;
}

/** Seconds (`30`, `1.5`) or with a unit (`500ms`, `2m`), in milliseconds. */
function parseSeconds(text: string, flag: string, zeroAllowed: boolean): number {
  const match = /^([0-9]{1,6}(?:\.[0-9]{1,3})?)(ms|s|m|h)?$/.exec(text);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match?.[2] ?? "s"] ?? 1000;
  const ms = match ? Math.round(Number(match[1]) * scale) : NaN;
  if (!(ms <= MAX_SECONDS * 1000 && (ms > 0 || (zeroAllowed && ms === 0)))) {
    throw new UsageError(
      `Cannot use ${flag} "${text}": give seconds (or 500ms, 2m, 1h) ` +
        `${zeroAllowed ? "from 0 (none) " : "above 0 "}up to ${MAX_SECONDS}`,
    );
  }
  return ms;
}
