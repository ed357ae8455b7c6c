/**
 * `blit-utils find TARGET`: entries whose name matches a glob, streamed as found.
 *
 * @module
 */

import type { FoundEntry, StreamEnd } from "../core/admin/types.ts";
import { UsageError } from "../core/errors.ts";
import { explainArgs } from "../cmdline/explain_args.ts";
import { parseArgs } from "../cmdline/parse_args.ts";
import { parseLimit } from "../cmdline/parse_limit.ts";
import { parseTarget } from "../cmdline/parse_target.ts";
import { withClient } from "../cmdline/with_client.ts";
import { SECURITY_HELP, SECURITY_OPTIONS, securityOf } from "../cmdline/security_flags.ts";
import { findLocal } from "./local.ts";
import { renderFound } from "./render.ts";

/** Help of `blit-utils find`. */
export const FIND_HELP =
  `Usage: blit-utils find TARGET [--pattern GLOB] [--files|--dirs] [--case-insensitive]
                       [--limit N] [--json]

Searches TARGET (HOST:/module/path, HOST://path or a local directory) and prints
each entry whose name matches, as it is found (directories end with '/').
  --pattern GLOB        glob matched against names: * ? [abc] [!a-z] {a,b}
                        (default: everything; dot names match too)
  --files               files and links only
  --dirs                directories only
  -i, --case-insensitive
  --limit N             stop after N results (a daemon stops at 10000 at most)
  --json                one JSON object per line: {"path", "type", "size", "mtime"}
${SECURITY_HELP}
`;

/**
 * Runs `blit-utils find`.
 * @param argv Arguments after `find`.
 * @returns The exit code: 0, or 2 when some directories could not be read.
 */
export async function runFind(argv: string[]): Promise<number> {
  const { values, positionals } = explainArgs("blit-utils find", () =>
    parseArgs({
      args: argv,
      options: {
        pattern: { type: "string" },
        files: { type: "boolean" },
        dirs: { type: "boolean" },
        "case-insensitive": { type: "boolean", short: "i" },
        limit: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        ...SECURITY_OPTIONS,
      },
      allowPositionals: true,
      strict: true,
    }), { limit: (text) => parseLimit(text, 0) });
  if (values.help) {
    console.log(FIND_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(`Cannot search: expected one TARGET, got ${positionals.length}`);
  }
  if (values.files && values.dirs) {
    throw new UsageError("Cannot combine --files with --dirs: pick one, or neither for both");
  }
  const limit = parseLimit(values.limit, 0);
  const query = {
    pattern: values.pattern ?? "",
    kind: values.files ? "files" as const : values.dirs ? "dirs" as const : "all" as const,
    caseInsensitive: values["case-insensitive"] ?? false,
    limit,
  };
  const target = parseTarget(positionals[0] as string);
  const print = async (results: AsyncGenerator<FoundEntry, StreamEnd>): Promise<StreamEnd> => {
    let count = 0;
    for (;;) {
      const step = await results.next();
      if (step.done) {
        if (step.value.truncated || (limit > 0 && count >= limit)) {
          console.error(`blit-utils: find stopped after ${count} results`);
        }
        return step.value;
      }
      count++;
      console.log(values.json ? JSON.stringify(step.value) : renderFound(step.value));
    }
  };
  const end = target.kind === "local"
    ? await print(findLocal(target.path, query))
    : await withClient(
      target.address,
      (client) => print(client.find({ module: target.module, path: target.path, ...query })),
      securityOf(values),
    );
  if (end.errors > 0) {
    console.error(`blit-utils: ${end.errors} directories could not be read`);
    return 2;
  }
  return 0;
}
