/**
 * Parses the command line of a verb that takes `--json`, `--help` and exactly one target.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import { explainArgs } from "./explain_args.ts";
import { parseArgs } from "./parse_args.ts";
import type { ConnectionSecurity } from "../core/client_security.ts";
import { SECURITY_OPTIONS, securityOf } from "./security_flags.ts";

/** The arguments of a verb that takes `--json`, `--help` and exactly one target. */
export interface OneTargetArgs {
  /** The target as given. */
  target: string;
  /** Print JSON. */
  json: boolean;
  /** The key and trust flags. */
  security: ConnectionSecurity;
}

/** What {@linkcode parseOneTarget} prints for `--help` and names in its error. */
export interface OneTargetOptions {
  /** The verb's help text, printed on stdout for `--help`. */
  help: string;
  /** What TARGET is (`"HOST[:PORT]"`), for the error when there is not exactly one. */
  expected: string;
}

/**
 * Parses `VERB [--json] TARGET` (the shape of `blit list`, `blit-utils ls`, `df`, …), printing
 * the help text for `--help`.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual, throws } from "node:assert/strict";
 * import { parseOneTarget } from "./parse_one_target.ts";
 * const options = { help: "Usage: blit-utils df HOST:/module/", expected: "HOST:/module/" };
 * deepStrictEqual(parseOneTarget("blit-utils df", ["--json", "nas:/pub/"], options), {
 *   target: "nas:/pub/",
 *   json: true,
 *   security: {},
 * });
 * throws(() => parseOneTarget("blit-utils df", [], options), {
 *   message: "Cannot run blit-utils df: expected HOST:/module/, got 0 arguments",
 * });
 * ```
 *
 * @param verb The command and verb, for messages (`"blit-utils df"`).
 * @param argv Arguments after the verb.
 * @param options The help text and what TARGET is.
 * @throws {UsageError} For unknown flags or not exactly one target.
 * @returns The target and `--json`, or `null` when help was printed.
 */
export function parseOneTarget(
  verb: string,
  argv: string[],
  options: OneTargetOptions,
): OneTargetArgs | null {
  const { values, positionals } = explainArgs(verb, () =>
    parseArgs({
      args: argv,
      options: {
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        ...SECURITY_OPTIONS,
      },
      allowPositionals: true,
      strict: true,
    }));
  if (values.help) {
    console.log(options.help);
    return null;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      `Cannot run ${verb}: expected ${options.expected}, got ${positionals.length} arguments`,
    );
  }
  return {
    target: positionals[0] as string,
    json: values.json ?? false,
    security: securityOf(values),
  };
}
