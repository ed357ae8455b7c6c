/**
 * `--log-file` and `--stats=DURATION`: the lines a run leaves for later reading.
 *
 * @module
 */

import { describeError, printable, UsageError } from "../core/errors.ts";
import type { TransferStats } from "../core/stats.ts";
import { formatBytes } from "../cmdline/format_bytes.ts";

/** An open `--log-file`: each line is appended at once, with the time and the process id. */
export interface RunLog {
  /** Appends one line (control characters escaped). */
  line(text: string): void;
  /** Closes the file. */
  close(): void;
}

/**
 * Opens (creating it with mode 0600 if needed) a log file for appending.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { openRunLog } from "./run_log.ts";
 * const path = Deno.makeTempFileSync();
 * const log = openRunLog(path);
 * log.line("copy a b: started");
 * log.close();
 * ok(/^\d{4}-\d\d-\d\dT.*Z \[\d+\] copy a b: started\n$/.test(Deno.readTextFileSync(path)));
 * Deno.removeSync(path);
 * ```
 *
 * @param path The file.
 * @throws {UsageError} When it cannot be opened.
 * @returns The log.
 */
export function openRunLog(path: string): RunLog {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { append: true, create: true, mode: 0o600 });
  } catch (error) {
    throw new UsageError(`Cannot open --log-file "${path}": ${describeError(error)}`);
  }
  const encoder = new TextEncoder();
  let open = true;
  return {
    line(text: string): void {
      if (!open) return;
      const stamp = `${new Date().toISOString()} [${Deno.pid}] `;
      const body = text.split("\n").map((part) => stamp + printable(part)).join("\n");
      const bytes = encoder.encode(`${body}\n`);
      try {
        let offset = 0;
        while (offset < bytes.byteLength) offset += file.writeSync(bytes.subarray(offset));
      } catch {
        open = false; // a full disk must not end the transfer
      }
    },
    close(): void {
      if (!open) return;
      open = false;
      file.close();
    },
  };
}

/**
 * The one-line summary `--stats=DURATION` prints at each interval.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { TransferStats } from "../core/stats.ts";
 * import { intervalLine } from "./run_log.ts";
 * strictEqual(intervalLine(new TransferStats()), "stats: 0 file(s) 0 B transferred, 0 failed");
 * ```
 *
 * @param stats The run's counters.
 * @returns The line.
 */
export function intervalLine(stats: TransferStats): string {
  return `stats: ${stats.transferred} file(s) ${formatBytes(stats.bytes)} transferred, ` +
    `${stats.failed} failed`;
}
