/**
 * Reads the files behind `--exclude-from`, `--include-from` and `--files-from`.
 *
 * @module
 */

import { describeError, UsageError } from "../core/errors.ts";
import type { FilterRule } from "../core/filter.ts";

/** Largest list file read (a list is text; a bigger file is a mistake). */
export const MAX_LIST_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Splits a list file's text as rsync does: one item per line (`\r\n` too), blank lines and lines
 * starting with `#` or `;` skipped.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { listLines } from "./read_rule_file.ts";
 * deepStrictEqual(listLines("*.o\n# comment\n\n;x\r\nbuild/\n"), ["*.o", "build/"]);
 * ```
 *
 * @param text The file's text.
 * @returns The items in order.
 */
export function listLines(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line !== "" && !/^[#;]/.test(line));
}

/**
 * Reads a list file (`-` reads standard input).
 *
 * @param path The file as given.
 * @param flag The option, for messages.
 * @throws {UsageError} When the file cannot be read or is too large.
 * @returns The items.
 */
export function readListFile(path: string, flag: string): string[] {
  let bytes: Uint8Array;
  try {
    bytes = path === "-" ? readStdin() : Deno.readFileSync(path);
  } catch (error) {
    throw new UsageError(`Cannot read ${flag} "${path}": ${describeError(error)}`);
  }
  if (bytes.byteLength > MAX_LIST_FILE_BYTES) {
    throw new UsageError(
      `Cannot read ${flag} "${path}": it is larger than ${MAX_LIST_FILE_BYTES} bytes`,
    );
  }
  return listLines(new TextDecoder().decode(bytes));
}

function readStdin(): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    const n = Deno.stdin.readSync(buffer);
    if (n === null || n === 0) break;
    chunks.push(buffer.slice(0, n));
    total += n;
    if (total > MAX_LIST_FILE_BYTES) break;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Escapes glob characters so that a path matches only itself. */
function literalGlob(path: string): string {
  return path.replace(/[\\*?[\]{}]/g, (c) => `\\${c}`);
}

/**
 * Turns a `--files-from` list into filter rules: each listed path, its parent directories, and
 * everything under a listed directory are included, and nothing else. Leading `/` and `./` are
 * dropped (paths are relative to the source, as in rsync); `..` is refused.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { compileFilter } from "../core/filter.ts";
 * import { filesFromRules } from "./read_rule_file.ts";
 * const keep = compileFilter(filesFromRules(["a/b.txt", "./docs/"]));
 * deepStrictEqual(
 *   ["a", "a/b.txt", "a/c.txt", "docs", "docs/x/y", "z"].map((p) => keep(p, !p.includes("."))),
 *   [true, true, false, true, true, false],
 * );
 * ```
 *
 * @param paths The listed paths.
 * @throws {UsageError} For a path with a `..` component.
 * @returns The rules, to go before any other filter rule.
 */
export function filesFromRules(paths: readonly string[]): FilterRule[] {
  const rules: FilterRule[] = [];
  const parents = new Set<string>();
  for (const raw of paths) {
    const parts = raw.split("/").filter((part) => part !== "" && part !== ".");
    if (parts.includes("..")) {
      throw new UsageError(`Cannot use --files-from entry "${raw}": ".." is not allowed`);
    }
    if (parts.length === 0) continue;
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (parents.has(parent)) continue;
      parents.add(parent);
      rules.push({ action: "include", pattern: `/${literalGlob(parent)}/` });
    }
    const path = literalGlob(parts.join("/"));
    rules.push({ action: "include", pattern: `/${path}` });
    rules.push({ action: "include", pattern: `/${path}/**` });
  }
  rules.push({ action: "exclude", pattern: "*" });
  return rules;
}
