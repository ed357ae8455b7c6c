/**
 * Results of a bench run: the JSON shape, medians, and the printed table of medians and ratios.
 *
 * @module
 */

/** All timed runs of one column (tool) on one workload. */
export interface ColumnResult {
  /** Column header, e.g. `"rsync -a"`. */
  label: string;
  /** Wall-clock seconds of the successful runs, in run order. */
  seconds: number[];
  /** One message per failed run (non-zero exit or wrong destination contents). */
  failures: string[];
  /** Median of `seconds`, or `null` when any run failed or none ran. */
  median: number | null;
  /** Fastest run, or `null`. */
  min: number | null;
  /** Slowest run, or `null`. */
  max: number | null;
}

/** One row of the table. */
export interface WorkloadResult {
  /** Workload id, e.g. `"b"`. */
  id: string;
  /** `local` or `remote` (loopback daemon). */
  section: "local" | "remote";
  /** Description with sizes. */
  title: string;
  /** Columns in table order. */
  columns: ColumnResult[];
}

/** The whole report, as written by `--json`. */
export interface BenchReport {
  /** ISO time the run started. */
  started: string;
  /** `full` or `quick`. */
  preset: string;
  /** Runs per tool and workload. */
  runs: number;
  /** Work directory. */
  dir: string;
  /** Whether the page cache was dropped before each run. */
  droppedCaches: boolean;
  /** Machine and tool versions. */
  environment: Record<string, string>;
  /** Skipped tools, pitfalls and other remarks. */
  notes: string[];
  /** Rows. */
  results: WorkloadResult[];
}

/**
 * Median of a list of numbers.
 * @param values Samples.
 * @returns The median, or `null` for an empty list.
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { median } from "./report.ts";
 * assertEquals(median([3, 1, 2]), 2);
 * assertEquals(median([4, 1, 2, 3]), 2.5);
 * ```
 */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] ?? 0;
  return sorted.length % 2 === 1 ? hi : ((sorted[mid - 1] ?? 0) + hi) / 2;
}

/**
 * Summarises a column's samples.
 * @param label Column header.
 * @param seconds Successful run times.
 * @param failures Failure messages.
 * @returns The column result; a column with failures has no median, so no number is shown for
 *   a tool that did not do the job.
 */
export function summarise(label: string, seconds: number[], failures: string[]): ColumnResult {
  const ok = failures.length === 0 && seconds.length > 0;
  return {
    label,
    seconds,
    failures,
    median: ok ? median(seconds) : null,
    min: ok ? Math.min(...seconds) : null,
    max: ok ? Math.max(...seconds) : null,
  };
}

/**
 * Formats seconds for the table.
 * @param s Seconds.
 * @returns E.g. `"0.331 s"` or `"2.76 s"`.
 */
export function formatSeconds(s: number): string {
  return s < 1 ? `${s.toFixed(3)} s` : `${s.toFixed(2)} s`;
}

function cell(column: ColumnResult | undefined): string {
  if (column === undefined) return "–";
  if (column.failures.length > 0) return "FAIL";
  return column.median === null ? "–" : formatSeconds(column.median);
}

/**
 * Renders medians and ratios as an aligned text table. Each ratio divides one column's median by
 * another's (e.g. `blit/cp -a` below 1 means blit was faster).
 * @param rows Workloads of one section.
 * @param ratios Pairs of column labels: `[numerator, denominator]`.
 * @returns The table, one line per workload plus a header.
 */
export function renderTable(
  rows: readonly WorkloadResult[],
  ratios: ReadonlyArray<readonly [string, string]>,
): string {
  const labels: string[] = [];
  for (const row of rows) {
    for (const c of row.columns) if (!labels.includes(c.label)) labels.push(c.label);
  }
  const pairs = ratios.filter(([a, b]) => labels.includes(a) && labels.includes(b));
  const header = ["workload", ...labels, ...pairs.map(([a, b]) => `${a}/${b}`)];
  const lines: string[][] = [header];
  for (const row of rows) {
    const byLabel = new Map(row.columns.map((c) => [c.label, c]));
    const cells = pairs.map(([a, b]) => {
      const top = byLabel.get(a)?.median;
      const bottom = byLabel.get(b)?.median;
      if (top === undefined || top === null || bottom === undefined || bottom === null) return "–";
      return `${(top / bottom).toFixed(2)}x`;
    });
    lines.push([`(${row.id})`, ...labels.map((l) => cell(byLabel.get(l))), ...cells]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((line) => (line[i] ?? "").length)));
  return lines.map((line) =>
    line.map((text, i) => (i === 0 ? text.padEnd(widths[i] ?? 0) : text.padStart(widths[i] ?? 0)))
      .join("  ")
  ).join("\n");
}
