/**
 * Glob matching in linear time: `*`, `?`, `[abc]`, `[a-z]`, `[!abc]`, `{a,b}`, `\\` escapes and
 * `**` across directories. Regular-expression globs (picomatch and friends) backtrack
 * exponentially on patterns like `*a*a*a*a*a*b`; a daemon that compiles patterns sent by clients
 * must not, so blit matches globs with this module everywhere.
 *
 * @module
 */

/** Longest pattern accepted, in characters. */
export const MAX_PATTERN_CHARS = 1024;

/** Most alternatives a pattern's `{a,b}` groups may expand to. */
const MAX_BRACE_EXPANSIONS = 256;

/** One token of a name glob: a wildcard, or a test for one character. */
type GlobToken = "*" | ((char: string) => boolean);

function badPattern(pattern: string, reason: string): TypeError {
  return new TypeError(`Cannot use pattern ${JSON.stringify(pattern)}: ${reason}`);
}

/** Expands `{a,b}` groups (nested too) into plain alternatives; `\{` stays literal. */
function expandBraces(pattern: string, whole: string): string[] {
  let depth = 0;
  let open = -1;
  const commas: number[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") i++;
    else if (c === "{") {
      if (depth++ === 0) open = i;
    } else if (c === "}" && depth > 0) {
      if (--depth === 0) {
        if (commas.length === 0) {
          open = -1;
          continue; // "{x}" is literal
        }
        const head = pattern.slice(0, open);
        const tail = pattern.slice(i + 1);
        const cuts = [open, ...commas, i];
        const out: string[] = [];
        for (let k = 0; k + 1 < cuts.length; k++) {
          const middle = pattern.slice((cuts[k] as number) + 1, cuts[k + 1]);
          for (const rest of expandBraces(`${head}${middle}${tail}`, whole)) {
            out.push(rest);
            if (out.length > MAX_BRACE_EXPANSIONS) {
              throw badPattern(whole, `its {...} groups expand to over ${MAX_BRACE_EXPANSIONS}`);
            }
          }
        }
        return out;
      }
    } else if (c === "," && depth === 1) commas.push(i);
  }
  return [pattern];
}

/** Splits a string into code points (a `?` matches one, surrogate pairs included). */
function codePoints(text: string): string[] {
  return Array.from(text);
}

/** Parses one brace-free glob into tokens. */
function tokenize(glob: string, fold: (c: string) => string, whole: string): GlobToken[] {
  const chars = codePoints(glob);
  const tokens: GlobToken[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === "*") {
      if (tokens.at(-1) !== "*") tokens.push("*");
    } else if (c === "?") {
      tokens.push(() => true);
    } else if (c === "[") {
      let j = i + 1;
      const negate = chars[j] === "!" || chars[j] === "^";
      if (negate) j++;
      const ranges: [string, string][] = [];
      let first = true;
      for (; j < chars.length && (first || chars[j] !== "]"); j++, first = false) {
        let lo = chars[j] as string;
        if (lo === "\\" && j + 1 < chars.length) lo = chars[++j] as string;
        let hi = lo;
        if (chars[j + 1] === "-" && j + 2 < chars.length && chars[j + 2] !== "]") {
          hi = chars[j + 2] as string;
          if (hi === "\\" && j + 3 < chars.length) hi = chars[++j + 2] as string;
          j += 2;
        }
        ranges.push([fold(lo), fold(hi)]);
      }
      if (j >= chars.length) throw badPattern(whole, "a '[' has no closing ']'");
      i = j;
      tokens.push((char) => ranges.some(([lo, hi]) => char >= lo && char <= hi) !== negate);
    } else {
      const literal = c === "\\" && i + 1 < chars.length ? chars[++i] as string : c;
      const folded = fold(literal);
      tokens.push((char) => char === folded);
    }
  }
  return tokens;
}

/** Matches code points against tokens in O(names x tokens): a star never backtracks twice. */
function matchTokens(tokens: readonly GlobToken[], name: readonly string[]): boolean {
  let t = 0;
  let i = 0;
  let starToken = -1;
  let starChar = 0;
  while (i < name.length) {
    const token = tokens[t];
    if (token === "*") {
      starToken = t++;
      starChar = i;
    } else if (token !== undefined && token(name[i] as string)) {
      t++;
      i++;
    } else if (starToken >= 0) {
      t = starToken + 1;
      i = ++starChar;
    } else return false;
  }
  while (tokens[t] === "*") t++;
  return t === tokens.length;
}

/** Options of {@linkcode compileGlob}. */
export interface GlobOptions {
  /**
   * Compare without regard to case.
   * @default {false}
   */
  caseInsensitive?: boolean;
}

type Segment = "**" | GlobToken[];

function matchSegments(pattern: readonly Segment[], path: readonly string[][]): boolean {
  // Dynamic programming over (pattern segment, path segment): O(P x S) segment matches.
  const seen = new Set<number>();
  const width = path.length + 1;
  const visit = (p: number, s: number): boolean => {
    const key = p * width + s;
    if (seen.has(key)) return false;
    seen.add(key);
    if (p === pattern.length) return s === path.length;
    const segment = pattern[p] as Segment;
    if (segment === "**") {
      for (let k = s; k <= path.length; k++) if (visit(p + 1, k)) return true;
      return false;
    }
    return s < path.length && matchTokens(segment, path[s] as string[]) && visit(p + 1, s + 1);
  };
  return visit(0, 0);
}

/**
 * Compiles a glob into a predicate over `/`-separated paths. `*` and `?` never match `/`; a
 * `**` segment matches any number of directories; dot names match like any other.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { compileGlob } from "./glob.ts";
 * strictEqual(compileGlob("src/**\/*.{ts,js}")("src/a/b/c.ts"), true);
 * strictEqual(compileGlob("*.log")("a/x.log"), false);
 * strictEqual(compileGlob("*a*a*a*a*a*b")("a".repeat(200)), false);
 * ```
 *
 * @param pattern The glob.
 * @param options Case handling.
 * @throws {TypeError} For an over-long pattern, an unclosed `[`, or braces that expand too far.
 * @returns The matcher.
 */
export function compileGlob(pattern: string, options: GlobOptions = {}): (path: string) => boolean {
  const { caseInsensitive = false } = options;
  if (pattern.length > MAX_PATTERN_CHARS) {
    throw badPattern(pattern.slice(0, 40), `it is longer than ${MAX_PATTERN_CHARS} characters`);
  }
  const fold = caseInsensitive ? (c: string) => c.toLowerCase() : (c: string) => c;
  const alternatives: Segment[][] = expandBraces(pattern, pattern).map((glob) =>
    glob.split("/").map((part): Segment => part === "**" ? "**" : tokenize(part, fold, pattern))
  );
  return (path: string): boolean => {
    const segments = (caseInsensitive ? path.toLowerCase() : path).split("/").map(codePoints);
    return alternatives.some((segs) => matchSegments(segs, segments));
  };
}
