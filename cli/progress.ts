/**
 * A live progress line on stderr: percentage, bytes, files, rate over the last seconds, time
 * left and the large file being written, redrawn in place and cut to the terminal's width.
 *
 * @module
 */

import type { TransferStats } from "../core/stats.ts";
import { startRepeating, type Timer } from "../core/timer.ts";
import { formatProgress, type ProgressSnapshot } from "../cmdline/format_progress.ts";

/** How often the line is redrawn. */
const REDRAW_MS = 100;

/** The rate is averaged over about this long. */
const RATE_WINDOW_MS = 5_000;

/** Width used when the terminal's is unknown. */
const FALLBACK_COLUMNS = 80;

/** Erases from the cursor to the end of the line. */
const CLEAR_TO_END = "\x1b[K";

/** Options of {@linkcode ProgressLine}. */
export interface ProgressLineOptions {
  /**
   * Whether stderr is a screen (the line is cleared at the end) or a log (the last state stays,
   * on its own line).
   * @default {Deno.stderr.isTerminal()}
   */
  terminal?: boolean;
}

/**
 * Redraws one status line on stderr while a run is going: one write per redraw (`\r`, the line,
 * erase to the end of the line), at most the terminal's width less one column, re-read at each
 * redraw. Creating it marks the counters as watched, so engines report bytes within large files.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { TransferStats } from "../core/stats.ts";
 * import { ProgressLine } from "./progress.ts";
 * const stats = new TransferStats();
 * stats.plannedBytes = 2048;
 * stats.planned = 2;
 * stats.bytes = 1024;
 * stats.transferred = 1;
 * stats.walkDone = true;
 * const line = new ProgressLine(stats);
 * strictEqual(stats.watched, true);
 * strictEqual(line.text(80).startsWith("50%  1.0 KiB/2.0 KiB  1/2 files  "), true);
 * ```
 */
export class ProgressLine {
  readonly #stats: TransferStats;
  readonly #terminal: boolean;
  readonly #rate = new RateWindow();
  readonly #encoder = new TextEncoder();
  #timer: Timer | undefined;
  /** Whether a line is on screen (not yet cleared). */
  #drawn = false;
  #last = "";
  /** When the line was last drawn (`performance.now()`). */
  #drawnAt = -Infinity;

  /**
   * Creates a progress line over live counters.
   * @param stats The run's counters (marked as watched).
   * @param options Whether stderr is a terminal.
   */
  constructor(stats: TransferStats, options: ProgressLineOptions = {}) {
    this.#stats = stats;
    this.#terminal = options.terminal ?? Deno.stderr.isTerminal();
    stats.watched = true;
    this.#rate.add(stats.startedAt, 0);
  }

  /**
   * Starts redrawing every 100 ms, and at once unless the last drawing is more recent (a run
   * that prints many lines stops and starts the line around each).
   */
  start(): void {
    if (this.#timer !== undefined) return;
    if (performance.now() - this.#drawnAt >= REDRAW_MS) this.#draw();
    this.#timer = startRepeating(REDRAW_MS, () => this.#draw());
  }

  /**
   * Stops redrawing. On a terminal the line is erased and the cursor left at the start of the
   * empty line (what is printed next takes it); in a log the last state stays, ended by a newline.
   */
  stop(): void {
    if (this.#timer === undefined) return;
    this.#timer.cancel();
    this.#timer = undefined;
    if (!this.#terminal) {
      this.#draw();
      this.#write("\n");
    } else if (this.#drawn) {
      this.#write(`\r${CLEAR_TO_END}`);
    }
    this.#drawn = false;
    this.#last = "";
  }

  /**
   * Ends the line at the end of a run: on a terminal it is drawn once more, so that its last
   * state is the run's (a run may end between two redraws), then erased as by
   * {@linkcode ProgressLine.stop}; in a log, `stop` draws the last state already.
   */
  finish(): void {
    if (this.#timer === undefined) return;
    if (this.#terminal && this.#drawn) this.#draw();
    this.stop();
  }

  /**
   * Text of the line for the current counters (it samples them and records the rate).
   * @param width Columns of the terminal (the line takes at most one less).
   * @returns The line, without `\r` or escapes.
   */
  text(width: number): string {
    const stats = this.#stats;
    stats.sample();
    const now = performance.now();
    const bytesDone = stats.bytesDone;
    this.#rate.add(now, bytesDone);
    const snapshot: ProgressSnapshot = {
      bytesDone,
      plannedBytes: stats.plannedBytes,
      filesDone: stats.transferred,
      plannedFiles: stats.planned,
      scanDone: stats.walkDone,
      bytesPerSecond: this.#rate.perSecond(now, bytesDone),
      failed: stats.failed,
      current: stats.current,
    };
    return formatProgress(snapshot, width);
  }

  #draw(): void {
    this.#drawnAt = performance.now();
    const line = this.text(terminalColumns());
    if (line === this.#last && this.#drawn) return;
    this.#last = line;
    this.#drawn = true;
    this.#write(`\r${line}${this.#terminal ? CLEAR_TO_END : ""}`);
  }

  #write(text: string): void {
    try {
      Deno.stderr.writeSync(this.#encoder.encode(text));
    } catch { /* stderr closed: stop drawing */ }
  }
}

/** The terminal's width now (it may have been resized), or 80 when unknown. */
function terminalColumns(): number {
  try {
    const { columns } = Deno.consoleSize();
    return columns > 0 ? columns : FALLBACK_COLUMNS;
  } catch {
    return FALLBACK_COLUMNS;
  }
}

/** Samples kept: enough for the window at one sample per {@linkcode MIN_SAMPLE_MS}. */
const SAMPLES = 64;

/** Samples closer than this to the previous one are not kept (many redraws in a row). */
const MIN_SAMPLE_MS = 100;

/**
 * Byte counts over time in a fixed ring (no allocation per sample), for a rate averaged over
 * about {@linkcode RATE_WINDOW_MS}.
 */
class RateWindow {
  readonly #times = new Float64Array(SAMPLES);
  readonly #bytes = new Float64Array(SAMPLES);
  /** Index of the next sample; samples are `#next - #count` to `#next - 1`, modulo the ring. */
  #next = 0;
  #count = 0;

  add(time: number, bytes: number): void {
    if (this.#count > 0) {
      const newest = (this.#next + SAMPLES - 1) % SAMPLES;
      if (time - this.#times[newest]! < MIN_SAMPLE_MS) return;
    }
    this.#times[this.#next] = time;
    this.#bytes[this.#next] = bytes;
    this.#next = (this.#next + 1) % SAMPLES;
    this.#count = Math.min(SAMPLES, this.#count + 1);
  }

  /** Bytes per second from the newest sample at least a window old (else the oldest) to now. */
  perSecond(now: number, bytes: number): number | null {
    if (this.#count === 0) return null;
    let base = (this.#next + SAMPLES - this.#count) % SAMPLES;
    for (let i = 1; i < this.#count; i++) {
      const at = (base + 1) % SAMPLES;
      if (this.#times[at]! > now - RATE_WINDOW_MS) break;
      base = at;
    }
    const span = now - this.#times[base]!;
    if (span < 1) return null;
    return Math.max(0, bytes - this.#bytes[base]!) / (span / 1000);
  }
}
