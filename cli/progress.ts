/**
 * A live progress line on stderr: files, bytes, rate and ETA.
 *
 * @module
 */

import type { TransferStats } from "../core/stats.ts";
import { formatBytes } from "../cmdline/format_bytes.ts";

/** Redraws one status line on stderr while a run is going. */
export class ProgressLine {
  #stats: TransferStats;
  #timer: ReturnType<typeof setInterval> | undefined;
  #encoder = new TextEncoder();
  #width = 0;

  /**
   * Creates a progress line over live counters.
   * @param stats The run's counters.
   */
  constructor(stats: TransferStats) {
    this.#stats = stats;
  }

  /** Starts redrawing every 200 ms. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#draw();
    this.#timer = setInterval(() => this.#draw(), 200);
  }

  /** Stops and clears the line. */
  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (!Deno.stderr.isTerminal()) {
      // A log, not a screen: leave the last state on its own line.
      this.#draw();
      this.#write("\n");
      this.#width = 0;
    } else if (this.#width > 0) this.#write(`\r${" ".repeat(this.#width)}\r`);
    this.#width = 0;
  }

  /**
   * Text of the line for the current counters.
   * @returns The line without a carriage return.
   */
  text(): string {
    const s = this.#stats;
    const elapsed = Math.max(0.001, (performance.now() - s.startedAt) / 1000);
    const rate = s.bytes / elapsed;
    let eta = "?";
    if (s.walkDone && rate > 0) {
      const remaining = Math.max(0, s.plannedBytes - s.bytes);
      eta = `${Math.ceil(remaining / rate)}s`;
    }
    const total = s.walkDone ? `${s.planned}` : `${s.planned}+`;
    return `${s.transferred}/${total} files  ${formatBytes(s.bytes)}  ` +
      `${formatBytes(rate)}/s  ETA ${eta}` + (s.failed > 0 ? `  ${s.failed} failed` : "");
  }

  #draw(): void {
    const line = this.text();
    const pad = Math.max(0, this.#width - line.length);
    this.#width = line.length;
    this.#write(`\r${line}${" ".repeat(pad)}`);
  }

  #write(text: string): void {
    try {
      Deno.stderr.writeSync(this.#encoder.encode(text));
    } catch { /* stderr closed: stop drawing */ }
  }
}
