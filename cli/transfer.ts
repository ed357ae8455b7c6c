/**
 * `blit copy|mirror|move`: flag wiring plus one call into the engine.
 *
 * Only what every local run needs is imported up front: the progress line and the native hasher
 * are loaded when a run uses them, and `core/transfer.ts` loads the remote engine for remote runs
 * only.
 *
 * @module
 */

import { isRemote } from "../core/remote_path.ts";
import { appendPerfRecord, recordFromSummary } from "../core/perf_history.ts";
import { TransferStats } from "../core/stats.ts";
import { transfer } from "../core/transfer.ts";
import type { TransferOperation } from "../core/types.ts";
import { parseTransferArgs, type TransferArgs } from "./args.ts";
import { exitCodeFor } from "./exit_code.ts";
import { TRANSFER_HELP } from "./help.ts";
import { lazyHasher } from "./hasher.ts";
import { canAsk, confirm } from "./prompt.ts";
import { renderEvent, renderSummary } from "./render.ts";

export { TRANSFER_HELP };

/**
 * Runs a transfer verb.
 * @param operation The verb.
 * @param argv Arguments after the verb.
 * @returns The process exit code.
 */
export async function runTransferVerb(
  operation: TransferOperation,
  argv: string[],
): Promise<number> {
  const parsed = parseTransferArgs(operation, argv);
  if (parsed === "help") {
    console.log(TRANSFER_HELP);
    return 0;
  }
  const args: TransferArgs = parsed;
  const stats = new TransferStats();
  const showProgress = !args.json && (args.progress ?? Deno.stderr.isTerminal());
  const progress = showProgress ? new (await import("./progress.ts")).ProgressLine(stats) : null;
  const encoder = new TextEncoder();
  const out = (line: string): void => {
    progress?.stop();
    Deno.stdout.writeSync(encoder.encode(`${line}\n`));
    progress?.start();
  };
  progress?.start();
  let allowDelete = args.yes;
  if (
    operation === "mirror" && !args.yes && !args.dryRun && isRemote(args.destination) && canAsk()
  ) {
    progress?.stop();
    allowDelete = await confirm(
      `mirror may delete entries in ${args.destination} that are absent from the source; allow deletions?`,
    );
  }
  let summary;
  try {
    summary = await transfer(operation, args.source, args.destination, {
      compare: args.compare,
      ignoreExisting: args.ignoreExisting,
      dryRun: args.dryRun,
      filters: args.filters,
      stats,
      ...(args.workers !== undefined ? { copyWorkers: args.workers } : {}),
      ...(args.compare === "checksum" || operation === "move" ? { hasher: lazyHasher() } : {}),
      ...(args.verbose || args.dryRun
        ? { onEvent: (event) => out(renderEvent(event, args.dryRun)) }
        : {}),
      forceGrpc: args.forceGrpc,
      allowDelete,
      warn: (line) => {
        progress?.stop();
        console.error(line);
      },
      confirmDeletions: async (paths) => {
        if (args.yes) return true;
        if (!canAsk()) return false;
        progress?.stop();
        const shown = paths.slice(0, 10).map((p) => `  ${p}`).join("\n");
        const more = paths.length > 10 ? `\n  … and ${paths.length - 10} more` : "";
        console.error(
          `mirror will delete ${paths.length} entr${
            paths.length === 1 ? "y" : "ies"
          }:\n${shown}${more}`,
        );
        return await confirm("Delete them?");
      },
    });
  } finally {
    progress?.stop();
  }
  if (summary.deletions_skipped_reason?.endsWith("not confirmed") && !canAsk() && !args.yes) {
    summary.deletions_skipped_reason += ": not a terminal; pass --yes to delete without asking";
  }
  if (!args.dryRun && !args.noHistory) {
    const transport = stats.strategy.transport;
    appendPerfRecord(
      recordFromSummary(
        summary,
        transport === "push" || transport === "pull" ? transport : "local",
        stats.strategy,
      ),
    );
  }
  if (args.json) console.log(JSON.stringify(summary));
  else console.error(renderSummary(summary));
  return exitCodeFor(summary);
}
