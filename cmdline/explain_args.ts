/**
 * Turns the errors of an argument parser into one-line usage errors.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import { ParseArgsError } from "./parse_args.ts";

/** Checks of numeric options by long name: each throws its range error for a bad value. */
export type NumericChecks = Readonly<Record<string, (value: string) => unknown>>;

/**
 * Runs an argument parser and turns the errors of `parseArgs` (the one in `./parse_args.ts`, or
 * `node:util`'s, which words them the same) into one-line {@linkcode UsageError}s that end with
 * a hint to run `VERB --help`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { explainArgs } from "./explain_args.ts";
 * import { parseArgs } from "./parse_args.ts";
 * const parse = (args: string[]) =>
 *   explainArgs("blit scan", () =>
 *     parseArgs({ args, options: { json: { type: "boolean" } } }));
 * strictEqual(parse(["--json"]).values.json, true);
 * throws(() => parse(["--jsn"]), {
 *   name: "UsageError",
 *   message: `Cannot use unknown option "--jsn": run "blit scan --help"`,
 * });
 * ```
 *
 * @example A negative number for a numeric option gets that option's range error
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { UsageError } from "../core/errors.ts";
 * import { explainArgs } from "./explain_args.ts";
 * import { parseArgs } from "./parse_args.ts";
 * const depth = (text: string): number => {
 *   if (!/^[0-9]+$/.test(text)) throw new UsageError(`Cannot use --depth "${text}": give 0 or more`);
 *   return Number(text);
 * };
 * throws(
 *   () =>
 *     explainArgs("blit-utils du", () =>
 *       parseArgs({ args: ["--depth", "-5"], options: { depth: { type: "string" } } }), {
 *       depth,
 *     }),
 *   { message: `Cannot use --depth "-5": give 0 or more` },
 * );
 * ```
 *
 * @param verb The command and verb, for the hint in error messages (`blit VERB --help`).
 * @param parse Calls `parseArgs`.
 * @param numeric Checks of the numeric options: a value such as `-5` given as a separate
 *   argument (which the parser calls ambiguous) is passed to the option's check, so that the
 *   user reads the option's range.
 * @throws {UsageError} Whatever `parse` throws, reworded: an unknown option, an option without
 *   its value, an extra argument, a value starting with `-`, or anything else as "Cannot parse
 *   arguments: …".
 * @returns What `parse` returned.
 */
export function explainArgs<T>(verb: string, parse: () => T, numeric: NumericChecks = {}): T {
  try {
    return parse();
  } catch (error) {
    if (
      error instanceof ParseArgsError && error.option !== undefined && error.value !== undefined
    ) {
      const { option, value } = error;
      const check = Object.hasOwn(numeric, option) ? numeric[option] : undefined;
      if (check !== undefined && /^-[0-9.]/.test(value)) check(value);
      throw new UsageError(
        `Cannot use --${option} ${JSON.stringify(value)}: a value that starts with "-" must be ` +
          `attached, as --${option}=${value}; run "${verb} --help"`,
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    const unknown = message.match(/Unknown option '([^']+)'/);
    if (unknown) {
      throw new UsageError(`Cannot use unknown option "${unknown[1]}": run "${verb} --help"`);
    }
    const missing = message.match(/Option '([^']+)' argument missing/);
    if (missing) {
      throw new UsageError(
        `Cannot use option "${missing[1]}" without a value: run "${verb} --help"`,
      );
    }
    const positional = message.match(/Unexpected argument '([^']+)'/);
    if (positional) {
      throw new UsageError(`Cannot use extra argument "${positional[1]}": run "${verb} --help"`);
    }
    throw new UsageError(`Cannot parse arguments: ${message.split("\n", 1)[0]}`);
  }
}
