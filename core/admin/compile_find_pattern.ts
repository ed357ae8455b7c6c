/**
 * The name matcher of `find`.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import { compileGlob } from "../glob.ts";
import { AdminError } from "./admin_error.ts";
import { ADMIN_LIMITS } from "./admin_limits.ts";

/**
 * Compiles a find pattern: a glob matched against one entry name, with `*` (any run), `?`
 * (one character), `[abc]`, `[a-z]`, `[!abc]`, `{a,b}` and `\` escapes; dot names match like
 * any other. This is the subset of picomatch's syntax that applies to a single name, matched in
 * linear time per alternative: picomatch's regular expressions backtrack exponentially on
 * patterns like `*a*a*a*a*a*b` (seconds per name), which would let one request stall the
 * daemon.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { compileFindPattern } from "./compile_find_pattern.ts";
 * const matches = compileFindPattern("*.{jpg,png}", true);
 * strictEqual(matches("IMG_01.JPG"), true);
 * strictEqual(matches("notes.txt"), false);
 * ```
 *
 * @param pattern The glob (`""` matches everything).
 * @param caseInsensitive Match case-insensitively.
 * @throws {AdminError} `invalid` for an over-long pattern, an unclosed `[`, or braces that
 * expand to too many alternatives.
 * @returns The name matcher.
 */
export function compileFindPattern(
  pattern: string,
  caseInsensitive: boolean,
): (name: string) => boolean {
  if (pattern === "") return () => true;
  if (pattern.length > ADMIN_LIMITS.patternChars) {
    throw new AdminError(
      "invalid",
      `Cannot use pattern: it is longer than ${ADMIN_LIMITS.patternChars} characters`,
    );
  }
  try {
    // A name has no "/": a pattern with one has more segments than a name and matches nothing.
    const matches = compileGlob(pattern, { caseInsensitive });
    return (name) => matches(name);
  } catch (error) {
    throw new AdminError("invalid", describeError(error));
  }
}
