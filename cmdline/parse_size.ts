/**
 * Sizes and rates as rsync users write them: `100`, `1.5M`, `10k`, `2G`, `4MB`.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";

const SIZE_REGEXP = /^([0-9]{1,15}(?:\.[0-9]{1,6})?)([kmgt]?)(i?b?)$/i;

const POWERS: Record<string, number> = { "": 0, k: 1, m: 2, g: 3, t: 4 };

/** How a bare number (no suffix) is read, and what the option is called in errors. */
export interface ParseSizeOptions {
  /** The option as written in messages, e.g. `--max-size`. */
  flag: string;
  /**
   * What a bare number counts: `1` = bytes (`--max-size`), `1024` = KiB (`--bwlimit`).
   * @default {1}
   */
  unit?: number;
}

/**
 * Parses a size: a number with an optional suffix `K`, `M`, `G` or `T`. As in rsync, a suffix
 * alone or with `iB` is a power of 1024 and with `B` (`KB`, `MB`) a power of 1000; case does not
 * matter. The result is rounded down to whole bytes.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseSize } from "./parse_size.ts";
 * strictEqual(parseSize("1.5M", { flag: "--max-size" }), 1_572_864);
 * strictEqual(parseSize("2kb", { flag: "--max-size" }), 2000);
 * strictEqual(parseSize("100", { flag: "--bwlimit", unit: 1024 }), 102_400);
 * ```
 *
 * @param text The size as typed.
 * @param options The option's name and the unit of a bare number.
 * @throws {UsageError} For anything else, or a size above 2^53 bytes.
 * @returns The size in bytes.
 */
export function parseSize(text: string, options: ParseSizeOptions): number {
  const { flag, unit = 1 } = options;
  const match = SIZE_REGEXP.exec(text);
  const suffix = match?.[2]?.toLowerCase() ?? "";
  const tail = match?.[3]?.toLowerCase() ?? "";
  // "100b" is bytes; "100ib" is nothing.
  const valid = match !== null && !(tail === "ib" && suffix === "") && tail !== "i";
  const base = suffix === "" ? (tail === "b" ? 1 : unit) : (tail === "b" ? 1000 : 1024);
  const bytes = valid
    ? Math.floor(Number(match[1]) * base ** (suffix === "" ? 1 : POWERS[suffix] ?? 0))
    : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new UsageError(
      `Cannot use ${flag} "${text}": give a number with an optional K, M, G or T suffix ` +
        `(1024-based; KB, MB… are 1000-based)${unit === 1 ? "" : `, a bare number is KiB`}`,
    );
  }
  return bytes;
}
