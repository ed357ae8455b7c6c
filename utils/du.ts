/**
 * `blit-utils du TARGET`: per-directory usage (bytes, files, dirs), streamed deepest first.
 *
 * @module
 */

import type { StreamEnd, UsageEntry } from "../core/admin/types.ts";
import { UsageError } from "../core/errors.ts";
import { explainArgs } from "../cmdline/explain_args.ts";
import { parseArgs } from "../cmdline/parse_args.ts";
import { parseTarget } from "../cmdline/parse_target.ts";
import { withClient } from "../cmdline/with_client.ts";
import { SECURITY_HELP, SECURITY_OPTIONS, securityOf } from "../cmdline/security_flags.ts";
import { usageLocal } from "./local.ts";
import { renderUsage } from "./render.ts";

/** Help of `blit-utils du`. */
export const DU_HELP = `Usage: blit-utils du TARGET [--max-depth N] [--json]

Totals TARGET (HOST:/module/path, HOST://path or a local directory): bytes,
files and directories, one line per directory as it is totalled, deepest first,
TARGET itself last.
  --max-depth N   show directories down to N levels below TARGET (default 0)
  --json          one JSON object per line:
                  {"path", "depth", "bytes", "files", "dirs", "errors"}
${SECURITY_HELP}
`;

/**
 * Parses `--max-depth`.
 * @param text The flag's value.
 * @returns A whole number from 0 to 4096.
 */
function parseDepth(text: string | undefined): number {
  if (text === undefined) return 0;
  const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n <= 4096)) {
    throw new UsageError(`Cannot use --max-depth "${text}": give a whole number from 0 to 4096`);
  }
  return n;
}

/**
 * Runs `blit-utils du`.
 * @param argv Arguments after `du`.
 * @returns The exit code: 0, or 2 when some entries could not be read.
 */
export async function runDu(argv: string[]): Promise<number> {
  const { values, positionals } = explainArgs("blit-utils du", () =>
    parseArgs({
      args: argv,
      options: {
        "max-depth": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        ...SECURITY_OPTIONS,
      },
      allowPositionals: true,
      strict: true,
    }), { "max-depth": parseDepth });
  if (values.help) {
    console.log(DU_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(`Cannot total: expected one TARGET, got ${positionals.length}`);
  }
  const maxDepth = parseDepth(values["max-depth"]);
  const target = parseTarget(positionals[0] as string);
  let errors = 0;
  const print = async (entries: AsyncGenerator<UsageEntry, StreamEnd>): Promise<StreamEnd> => {
    for (;;) {
      const step = await entries.next();
      if (step.done) return step.value;
      if (step.value.depth === 0) errors = step.value.errors;
      console.log(values.json ? JSON.stringify(step.value) : renderUsage(step.value));
    }
  };
  const end = target.kind === "local"
    ? await print(usageLocal(target.path, maxDepth))
    : await withClient(
      target.address,
      (client) => print(client.diskUsage(target.module, target.path, maxDepth)),
      securityOf(values),
    );
  if (end.truncated) console.error("blit-utils: the daemon cut the report at its limit");
  if (errors > 0) {
    console.error(`blit-utils: ${errors} entries could not be read; totals are a lower bound`);
    return 2;
  }
  return 0;
}
