/**
 * Include and exclude rules, rsync style, compiled into one predicate.
 *
 * @module
 */

import { compileGlob } from "./glob.ts";

/** One filter rule, in the order given on the command line. */
export interface FilterRule {
  /** Whether a match includes or excludes the entry. */
  action: "include" | "exclude";
  /** The glob as given (`*.log`, `build/`, `/top/only`, `**\/cache`). */
  pattern: string;
}

/**
 * Decides whether an entry takes part in a transfer.
 *
 * @param path Relative POSIX path under the transfer root.
 * @param isDir Whether the entry is a directory.
 * @returns `true` when the entry is included.
 */
export type EntryFilter = (path: string, isDir: boolean) => boolean;

interface CompiledRule {
  include: boolean;
  dirOnly: boolean;
  anchored: boolean;
  test: (text: string) => boolean;
}

/**
 * Compiles filter rules into one predicate. The first rule that matches decides; an entry no rule
 * matches is included. A pattern without `/` matches the entry's name at any depth; a pattern with
 * a `/` (other than a trailing one) matches the whole relative path, a leading `/` anchoring it to
 * the transfer root; a trailing `/` matches directories only. `*` stays inside one path segment,
 * `**` crosses segments. Excluding a directory excludes everything below it (the walker does not
 * descend into it). Globs are matched in linear time (`core/glob.ts`), so a pattern sent by a
 * client cannot stall a daemon.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { compileFilter } from "./filter.ts";
 * const keep = compileFilter([
 *   { action: "include", pattern: "keep.log" },
 *   { action: "exclude", pattern: "*.log" },
 * ]);
 * strictEqual(keep("a/b/x.log", false), false);
 * strictEqual(keep("a/keep.log", false), true);
 * strictEqual(keep("a/x.txt", false), true);
 * ```
 *
 * @param rules The rules in command-line order.
 * @throws {TypeError} For an empty pattern.
 * @returns A predicate over relative paths.
 */
export function compileFilter(rules: readonly FilterRule[]): EntryFilter {
  if (rules.length === 0) return acceptAll;
  for (const rule of rules) {
    if (rule.pattern.replace(/^\/+|\/+$/g, "").length === 0) {
      throw new TypeError(
        `Cannot use the ${rule.action} pattern "${rule.pattern}": give a glob such as "*.tmp"`,
      );
    }
  }
  const compiled: CompiledRule[] = rules.map(compileRule);
  return (path: string, isDir: boolean): boolean => {
    const slash = path.lastIndexOf("/");
    const name = slash < 0 ? path : path.slice(slash + 1);
    for (const rule of compiled) {
      if (rule.dirOnly && !isDir) continue;
      if (rule.test(rule.anchored ? path : name)) return rule.include;
    }
    return true;
  };
}

function acceptAll(): boolean {
  return true;
}

function compileRule(rule: FilterRule): CompiledRule {
  let pattern = rule.pattern;
  const dirOnly = pattern.endsWith("/");
  if (dirOnly) pattern = pattern.replace(/\/+$/, "");
  const anchored = pattern.includes("/");
  if (pattern.startsWith("/")) pattern = pattern.slice(1);
  if (pattern.length === 0) {
    throw new TypeError(
      `Cannot use the ${rule.action} pattern "${rule.pattern}": it matches nothing`,
    );
  }
  const matcher = compileGlob(pattern);
  return { include: rule.action === "include", dirOnly, anchored, test: matcher };
}
