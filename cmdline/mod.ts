/**
 * The command-line kit that `blit`, `blit-utils` and `blitd` share: argument parsing and its
 * error messages, prompts, exit codes, formatting of bytes, durations and listings, and the
 * verb bodies that two commands run (`scan`, module and directory listings, the performance
 * history).
 *
 * The commands import each module by its own path, never this barrel, so that a verb loads only
 * what it uses (`blit --version` must stay fast).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { explainArgs, formatBytes, parseArgs } from "./mod.ts";
 * const { values } = explainArgs("blit-utils profile", () =>
 *   parseArgs({ args: ["--limit", "5"], options: { limit: { type: "string" } } }));
 * strictEqual(values.limit, "5");
 * strictEqual(formatBytes(1536), "1.5 KiB");
 * ```
 *
 * @module
 */

export * from "./confirm.ts";
export * from "./exit_code.ts";
export * from "./explain_args.ts";
export * from "./format_bytes.ts";
export * from "./format_daemons.ts";
export * from "./format_duration.ts";
export * from "./format_mode.ts";
export * from "./format_perf_record.ts";
export * from "./format_time.ts";
export * from "./parse_args.ts";
export * from "./parse_host_arg.ts";
export * from "./parse_limit.ts";
export * from "./parse_one_target.ts";
export * from "./parse_target.ts";
export * from "./parse_wait.ts";
export * from "./print_listing.ts";
export * from "./print_modules.ts";
export * from "./print_perf_history.ts";
export * from "./render_entry.ts";
export * from "./render_modules.ts";
export * from "./scan_verb.ts";
export * from "./security_flags.ts";
export * from "./with_client.ts";
