/**
 * `blit diagnostics perf`: the local performance history.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";

/**
 * Runs `blit diagnostics SUBCOMMAND`.
 * @param argv Arguments after `diagnostics`.
 * @returns The exit code.
 */
export function runDiagnostics(argv: string[]): Promise<number> {
  throw new UsageError(`Cannot run diagnostics "${argv[0] ?? ""}": not available yet`);
}
