/**
 * Parses the arguments of the transfer verbs into engine options.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import type { FilterRule } from "../core/filter.ts";
import type { CompareMode, TransferOperation } from "../core/types.ts";
import { explainArgs } from "../cmdline/explain_args.ts";
import { parseArgs } from "../cmdline/parse_args.ts";
import { SECURITY_OPTIONS, securityOf } from "../cmdline/security_flags.ts";
import type { ConnectionSecurity } from "../core/client_security.ts";

/** The parsed command line of `blit copy|mirror|move`. */
export interface TransferArgs {
  /** The verb. */
  operation: TransferOperation;
  /** Source as given. */
  source: string;
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
}

const TRANSFER_OPTIONS = {
  checksum: { type: "boolean", short: "c" },
  "size-only": { type: "boolean" },
  "ignore-times": { type: "boolean", short: "I" },
  "ignore-existing": { type: "boolean" },
  exclude: { type: "string", multiple: true },
  include: { type: "string", multiple: true },
  "dry-run": { type: "boolean", short: "n" },
  verbose: { type: "boolean", short: "v" },
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
  const { values, positionals, tokens } = explainArgs(
    `blit ${operation}`,
    () =>
      parseArgs({
        args,
        options: TRANSFER_OPTIONS,
        allowPositionals: true,
        tokens: true,
        strict: true,
      }),
    { workers: parseWorkers, "max-delete": parseMaxDelete },
  );
  if (values.help) return "help";
  if (positionals.length < 2) {
    throw new UsageError(
      `Cannot ${operation}: expected SRC and DST, got ${positionals.length} path(s); usage: blit ${operation} [options] SRC DST`,
    );
  }
  if (positionals.length > 2) {
    throw new UsageError(
      `Cannot ${operation}: expected exactly SRC and DST, got ${positionals.length} paths; quote paths with spaces`,
    );
  }
  const modes = (["checksum", "size-only", "ignore-times"] as const).filter((k) => values[k]);
  if (modes.length > 1) {
    throw new UsageError(
      `Cannot combine --${modes[0]} with --${modes[1]}: pick one compare mode`,
    );
  }
  const compare: CompareMode = values.checksum
    ? "checksum"
    : values["size-only"]
    ? "size-only"
    : values["ignore-times"]
    ? "ignore-times"
    : "size-mtime";
  const filters: FilterRule[] = [];
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    if (token.name !== "include" && token.name !== "exclude") continue;
    filters.push({ action: token.name, pattern: token.value ?? "" });
  }
  const workers = values.workers === undefined ? undefined : parseWorkers(values.workers);
  let maxDelete: number | null = null;
  if (values["max-delete"] !== undefined) {
    if (operation !== "mirror") {
      throw new UsageError(`Cannot use --max-delete with ${operation}: only mirror deletes`);
    }
    maxDelete = parseMaxDelete(values["max-delete"]);
  }
  if (values.progress && values["no-progress"]) {
    throw new UsageError("Cannot combine --progress with --no-progress: pick one");
  }
  return {
    operation,
    source: positionals[0] as string,
    destination: positionals[1] as string,
    compare,
    ignoreExisting: values["ignore-existing"] ?? false,
    filters,
    dryRun: values["dry-run"] ?? false,
    verbose: values.verbose ?? false,
    progress: values.progress ? true : values["no-progress"] ? false : undefined,
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
  };
}
