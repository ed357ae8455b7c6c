/**
 * Text rendering of the admin verbs' results that only `blit-utils` prints (`--json` prints the
 * plain objects instead); listings and modules are rendered by `cmdline/`.
 *
 * @module
 */

import type { FoundEntry, SpaceReport, UsageEntry } from "../core/admin/types.ts";
import { formatBytes } from "../cmdline/format_bytes.ts";

/**
 * Renders one find match: its path, with a final `/` for a directory.
 * @param entry The match.
 * @returns The line.
 */
export function renderFound(entry: FoundEntry): string {
  return entry.type === "dir" ? `${entry.path}/` : entry.path;
}

/**
 * Renders one directory's totals: bytes, files, dirs, path (`.` for the module root).
 * @param entry The totals.
 * @returns The line.
 */
export function renderUsage(entry: UsageEntry): string {
  const errors = entry.errors > 0 ? `  (${entry.errors} unreadable)` : "";
  return `${formatBytes(entry.bytes).padStart(10)}  ${String(entry.files).padStart(8)} files  ${
    String(entry.dirs).padStart(6)
  } dirs  ${entry.path === "" ? "." : entry.path}${errors}`;
}

/**
 * Renders a filesystem's capacity.
 * @param label What was measured (the target).
 * @param space The capacity.
 * @returns The line.
 */
export function renderSpace(label: string, space: SpaceReport): string {
  // As df(1): the share of the space usable by the daemon that is in use.
  const usable = space.used_bytes + space.free_bytes;
  const percent = usable > 0 ? Math.ceil((space.used_bytes * 100) / usable) : 0;
  return `${label}: total ${formatBytes(space.total_bytes)}, used ${
    formatBytes(space.used_bytes)
  } (${percent}%), free ${formatBytes(space.free_bytes)}`;
}
