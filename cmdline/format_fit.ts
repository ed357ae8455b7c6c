/**
 * Fits text into a number of terminal columns.
 *
 * One column per code point: wide (CJK) characters may take two on screen.
 *
 * @module
 */

/**
 * Shortens text to at most `max` columns by replacing its middle with `…` (a third of what is
 * kept from the start, the rest from the end: a path keeps its top and its file name).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { shortenMiddle } from "./format_fit.ts";
 * strictEqual(shortenMiddle("photos/2024/holiday/beach.jpg", 16), "photo…/beach.jpg");
 * strictEqual(shortenMiddle("short.txt", 16), "short.txt");
 * ```
 *
 * @param text The text.
 * @param max Columns available.
 * @returns The text, or its shortened form.
 */
export function shortenMiddle(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  if (max <= 0) return "";
  if (max === 1) return "…";
  const head = Math.floor((max - 1) / 3);
  const tail = max - 1 - head;
  return `${chars.slice(0, head).join("")}…${chars.slice(chars.length - tail).join("")}`;
}

/**
 * Cuts text to at most `max` columns (the end goes).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { cutToWidth } from "./format_fit.ts";
 * strictEqual(cutToWidth("45%  1.0 GiB", 3), "45%");
 * strictEqual(cutToWidth("ok", 10), "ok");
 * ```
 *
 * @param text The text.
 * @param max Columns available.
 * @returns The text's first `max` columns.
 */
export function cutToWidth(text: string, max: number): string {
  if (text.length <= max) return text;
  return Array.from(text).slice(0, Math.max(0, max)).join("");
}

/**
 * Columns a text takes (one per code point).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { columns } from "./format_fit.ts";
 * strictEqual(columns("a…b"), 3);
 * ```
 *
 * @param text The text.
 * @returns Its width in columns.
 */
export function columns(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
