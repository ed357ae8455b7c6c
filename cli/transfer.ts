/**
 * `blit copy|mirror|move`: flag wiring plus one call into the engine.
 *
 * Only what every local run needs is imported up front: the progress line and the native hasher
 * are loaded when a run uses them, and `core/transfer.ts` loads the remote engine for remote runs
 * only.
 *
 * @module
 */

import { isRemote } from "../core/endpoint.ts";
import { describeError, printable } from "../core/errors.ts";
import { appendPerfRecord, recordFromSummary } from "../core/perf_history.ts";
import type { ConsentAnswer } from "../core/session/role.ts";
import { TransferStats } from "../core/stats.ts";
import { removeTemporariesInFlight } from "../core/temporaries_in_flight.ts";
import { transfer } from "../core/transfer.ts";
import type { TransferOperation } from "../core/types.ts";
import { parseTransferArgs, type TransferArgs } from "./args.ts";
import { exitCodeFor } from "../cmdline/exit_code.ts";
import { TRANSFER_HELP } from "./help.ts";
import { lazyHasher } from "./hasher.ts";
import { canAsk, confirm } from "../cmdline/confirm.ts";
import { renderEvent, renderItemized, renderStatistics, renderSummary } from "./render.ts";
import { intervalLine, openRunLog } from "./run_log.ts";
import { startRepeating } from "../core/timer.ts";

export { TRANSFER_HELP };

/** Paths a deletion prompt lists before it only counts. */
const PROMPT_PATHS = 10;

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
  const showProgress = !args.json && !args.quiet && (args.progress ?? Deno.stderr.isTerminal());
  const log = args.logFile === null ? null : openRunLog(args.logFile);
  log?.line(`${operation} ${args.sources.join(" ")} ${args.destination}: started`);
  const progress = showProgress ? new (await import("./progress.ts")).ProgressLine(stats) : null;
  const encoder = new TextEncoder();
  // With --json, stdout carries the one summary object: action lines go to stderr.
  const lines = args.json ? Deno.stderr : Deno.stdout;
  const out = (line: string): void => {
    log?.line(line);
    if (args.quiet || !(args.verbose || args.itemize || args.dryRun)) return;
    progress?.stop();
    lines.writeSync(encoder.encode(`${line}\n`));
    progress?.start();
  };
  const interval = args.statsEveryMs
    ? startRepeating(args.statsEveryMs, () => {
      const line = intervalLine(stats);
      log?.line(line);
      progress?.stop();
      console.error(line);
      progress?.start();
    })
    : undefined;
  /** Consent, asked after planning with the paths, the same for local, push and pull. */
  const confirmDeletions = async (
    paths: readonly string[],
    total: number,
    signal?: AbortSignal,
  ): Promise<ConsentAnswer> => {
    if (args.yes) return { granted: true };
    if (!canAsk()) return { granted: false, refusal: "no-terminal" };
    progress?.stop();
    // The paths come from the destination (a daemon, on a push): escaped.
    const shown = paths.slice(0, PROMPT_PATHS).map((p) => `  ${printable(p)}`).join("\n");
    const more = total > PROMPT_PATHS ? `\n  … and ${total - PROMPT_PATHS} more` : "";
    console.error(
      `${operation} will delete ${total} entr${total === 1 ? "y" : "ies"}:\n${shown}${more}`,
    );
    // A daemon may stop waiting (its consent deadline): then the question is withdrawn.
    const withdrawn = new Promise<null>((resolve) => {
      signal?.addEventListener("abort", () => resolve(null), { once: true });
    });
    const granted = await Promise.race([confirm("Delete them?"), withdrawn]);
    progress?.start();
    if (granted === null) {
      console.error("\n(the daemon stopped waiting for an answer: nothing deleted)");
      return { granted: false, refusal: "timeout" };
    }
    return granted ? { granted: true } : { granted: false, refusal: "declined" };
  };
  progress?.start();
  // Ctrl-C: one line, the progress line ended, exit 130. Partial files stay (what was written
  // of a large file is resumed by the next run), and a daemon keeps its own; the ordinary
  // temporaries being written are removed (as rsync does without --partial).
  const interrupt = (): void => {
    progress?.stop();
    const done = stats.transferred;
    // The terminal echoed "^C" on the current line (the progress line was cleared above).
    const newline = progress === null && Deno.stderr.isTerminal() ? "\n" : "";
    // What is being written under an ordinary temporary name goes; partial files stay.
    removeTemporariesInFlight();
    const kept = args.noResume ? "" : "; partial files kept for resume";
    console.error(`${newline}interrupted: ${done} file${done === 1 ? "" : "s"} done${kept}`);
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupt);
  let summary;
  try {
    summary = await transfer(args.operation, args.sources, args.destination, {
      compare: args.compare,
      ignoreExisting: args.ignoreExisting,
      dryRun: args.dryRun,
      filters: args.filters,
      maxDelete: args.maxDelete,
      stats,
      ...(args.workers !== undefined ? { copyWorkers: args.workers } : {}),
      ...(args.compare === "checksum" || operation === "move" ? { hasher: lazyHasher() } : {}),
      ...(args.verbose || args.itemize || args.dryRun || log !== null
        ? {
          onEvent: (event) =>
            out(
              args.itemize
                ? renderItemized(event, { pushing: isRemote(args.destination) })
                : renderEvent(event, args.dryRun),
            ),
        }
        : {}),
      update: args.update,
      minSize: args.minSize,
      maxSize: args.maxSize,
      deleteExcluded: args.deleteExcluded,
      bandwidthLimit: args.bandwidthLimit,
      connectTimeoutMs: args.connectTimeoutMs,
      idleTimeoutMs: args.idleTimeoutMs,
      oneFileSystem: args.oneFileSystem,
      hardLinks: args.hardLinks,
      ...(args.noOwner ? { keepOwner: false } : {}),
      backup: args.backup,
      forceGrpc: args.forceGrpc,
      wholeFile: args.wholeFile,
      resume: !args.noResume,
      ...(args.keepSpecialBits ? { keepSpecialBits: true } : {}),
      security: args.security,
      warn: (line) => {
        log?.line(line);
        progress?.stop();
        console.error(line);
      },
      confirmDeletions,
    });
  } catch (error) {
    log?.line(`failed: ${describeError(error)}`);
    log?.close();
    throw error;
  } finally {
    // Only when set: the first use of a timer global loads Deno's timers (~10 ms of start-up).
    interval?.cancel();
    Deno.removeSignalListener("SIGINT", interrupt);
    progress?.finish();
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
  const closing = renderSummary(summary);
  if (args.json) console.log(JSON.stringify(summary));
  else if (!args.quiet) console.error(closing);
  else if (summary.files_failed > 0 || summary.deletions_skipped_reason) {
    // Quiet: only what went wrong (the lines after the first).
    console.error(closing.split("\n").slice(1).join("\n"));
  }
  const statistics = args.statsEveryMs !== null || log !== null ? renderStatistics(summary) : "";
  if (args.statsEveryMs !== null && !args.json) console.error(statistics);
  if (log !== null) {
    log.line(closing);
    log.line(statistics);
    log.close();
  }
  return exitCodeFor(summary);
}
