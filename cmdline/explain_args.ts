/**
 * Turns the errors of an argument parser into one-line usage errors.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";

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
 * @param verb The command and verb, for the hint in error messages (`blit VERB --help`).
 * @param parse Calls `parseArgs`.
 * @throws {UsageError} Whatever `parse` throws, reworded: an unknown option, an option without
 *   its value, an extra argument, or anything else as "Cannot parse arguments: …".
 * @returns What `parse` returned.
 */
export function explainArgs<T>(verb: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
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
