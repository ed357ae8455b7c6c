/**
 * Text rendering of the admin verbs' results (`--json` prints the plain objects instead).
 *
 * @module
 */

import type {
  EntryType,
  FoundEntry,
  ListedEntry,
  ModuleSummary,
  SpaceReport,
  UsageEntry,
} from "../core/admin_client.ts";
import { formatBytes } from "../cli/render.ts";

const TYPE_CHARS: Record<EntryType, string> = { file: "-", dir: "d", symlink: "l", other: "?" };

/**
 * Formats permission bits as `rwxr-xr-x`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { formatMode } from "./render.ts";
 * strictEqual(formatMode(0o754), "rwxr-xr--");
 * ```
 *
 * @param mode Permission bits.
 * @returns Nine characters.
 */
export function formatMode(mode: number): string {
  let out = "";
  for (let shift = 6; shift >= 0; shift -= 3) {
    const bits = (mode >> shift) & 7;
    out += `${bits & 4 ? "r" : "-"}${bits & 2 ? "w" : "-"}${bits & 1 ? "x" : "-"}`;
  }
  return out;
}

/**
 * Formats an ISO time as local `YYYY-MM-DD HH:MM`.
 * @param iso An ISO 8601 time.
 * @returns The short local time.
 */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  const two = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${
    two(d.getMinutes())
  }`;
}

/**
 * Renders one listed entry as an `ls -l`-like line.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { renderEntry } from "./render.ts";
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

/**
 * Renders the modules of a daemon, one per line: name, `rw`/`ro`, comment.
 * @param modules The modules.
 * @returns The lines.
 */
export function renderModules(modules: readonly ModuleSummary[]): string[] {
  const width = Math.max(4, ...modules.map((m) => m.name.length));
  return modules.map((m) =>
    `${m.name.padEnd(width)}  ${m.read_only ? "ro" : "rw"}  ${m.comment}`.trimEnd()
  );
}

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
