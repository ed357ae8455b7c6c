/**
 * Renders one entry of a directory listing as a line of text.
 *
 * @module
 */

import type { EntryType, ListedEntry } from "../core/admin/types.ts";
import { formatBytes } from "./format_bytes.ts";
import { formatMode } from "./format_mode.ts";
import { formatTime } from "./format_time.ts";

const TYPE_CHARS: Record<EntryType, string> = { file: "-", dir: "d", symlink: "l", other: "?" };

/**
 * Renders one listed entry as an `ls -l`-like line: type and mode, size (`-` for a directory),
 * local time, name (`name/` for a directory, `name -> target` for a link).
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { renderEntry } from "./render_entry.ts";
 * const line = renderEntry({
 *   name: "docs",
 *   type: "dir",
 *   size: 0,
 *   mtime: "2024-06-01T12:00:00.000Z",
 *   mode: 0o755,
 * });
 * ok(line.startsWith("drwxr-xr-x"));
 * ok(line.endsWith(" docs/"));
 * ```
 *
 * @param entry The entry.
 * @returns The line.
 */
export function renderEntry(entry: ListedEntry): string {
  const size = entry.type === "dir" ? "-" : formatBytes(entry.size);
  const name = entry.type === "dir"
    ? `${entry.name}/`
    : entry.type === "symlink"
    ? `${entry.name} -> ${entry.link_target ?? ""}`
    : entry.name;
  return `${TYPE_CHARS[entry.type]}${formatMode(entry.mode)} ${size.padStart(10)}  ${
    formatTime(entry.mtime)
  }  ${name}`;
}
