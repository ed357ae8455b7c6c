/**
 * `blit-utils rm TARGET`: removes a file, link or directory tree inside a writable module.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import { canAsk, confirm } from "../cmdline/confirm.ts";
import { explainArgs } from "../cmdline/explain_args.ts";
import { parseArgs } from "../cmdline/parse_args.ts";
import { parseRemoteTarget } from "../cmdline/parse_target.ts";
import { withClient } from "../cmdline/with_client.ts";
import { SECURITY_HELP, SECURITY_OPTIONS, securityOf } from "../cmdline/security_flags.ts";

/** Help of `blit-utils rm`. */
export const RM_HELP = `Usage: blit-utils rm TARGET [--yes] [--dry-run] [--json]

Removes TARGET (HOST:/module/path) and, for a directory, everything under it.
Refused on read-only modules and on a module's root. Asks first on a terminal;
without a terminal it needs --yes.
  -y, --yes       remove without asking
  -n, --dry-run   count what would be removed, remove nothing
  --json          print {"target", "removed", "dry_run"}
${SECURITY_HELP}
`;

function plural(n: number): string {
  return `${n} entr${n === 1 ? "y" : "ies"}`;
}

/**
 * Runs `blit-utils rm`.
 * @param argv Arguments after `rm`.
 * @returns The exit code: 0, or 1 when refused or declined.
 */
export async function runRm(argv: string[]): Promise<number> {
  const { values, positionals } = explainArgs("blit-utils rm", () =>
    parseArgs({
      args: argv,
      options: {
        yes: { type: "boolean", short: "y" },
        "dry-run": { type: "boolean", short: "n" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        ...SECURITY_OPTIONS,
      },
      allowPositionals: true,
      strict: true,
    }));
  if (values.help) {
    console.log(RM_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(`Cannot remove: expected one TARGET, got ${positionals.length}`);
  }
  const text = positionals[0] as string;
  const target = parseRemoteTarget(text, "remove");
  if (target.path === "") {
    throw new UsageError(
      `Cannot remove "${text}": it is the root of a module, name an entry inside it`,
    );
  }
  const dryRun = values["dry-run"] ?? false;
  const security = securityOf(values);
  return await withClient(target.address, async (client) => {
    // A dry run first: it checks the module, the path and writability, and counts.
    const count = await client.remove(target.module, target.path, true);
    if (!dryRun && !values.yes) {
      if (!canAsk()) {
        throw new UsageError(
          `Cannot remove "${text}" (${plural(count)}) without confirmation: pass --yes`,
        );
      }
      if (!(await confirm(`Remove "${text}" (${plural(count)})?`))) {
        console.error("blit-utils: nothing removed");
        return 1;
      }
    }
    const removed = dryRun ? count : await client.remove(target.module, target.path, false);
    if (values.json) {
      console.log(JSON.stringify({ target: text, removed, dry_run: dryRun }));
    } else {
      console.log(`${dryRun ? "would remove" : "removed"} ${plural(removed)}: ${text}`);
    }
    return 0;
  }, security);
}
