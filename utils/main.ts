/**
 * The `blit-utils` command: admin verbs against blit daemons (and local paths where it makes
 * sense): `scan`, `list`, `ls`, `find`, `du`, `df`, `rm`, `completions`, `profile`.
 *
 * Run from a checkout as `deno task blit-utils VERB ...`.
 *
 * @module
 */

import { AdminCallError } from "../core/admin_client.ts";
import { describeError, FatalError, UsageError } from "../core/errors.ts";
import { enterInvocationDir } from "../cmdline/invocation_dir.ts";

const VERSION = "0.1.0";

/** Help of `blit-utils`. */
export const UTILS_HELP = `blit-utils ${VERSION}: inspect and maintain blit daemons

Usage:
  blit-utils scan [--wait SECONDS] [--json]          daemons on the local network
  blit-utils list HOST[:PORT] [--json]               modules of a daemon
  blit-utils ls TARGET [--json]                      one directory
  blit-utils find TARGET [--pattern GLOB] [--files|--dirs] [--case-insensitive]
                  [--limit N] [--json]               search by name (streamed)
  blit-utils du TARGET [--max-depth N] [--json]      usage per directory (streamed)
  blit-utils df HOST:/module/ [--json]               free space of a module's filesystem
  blit-utils rm TARGET [--yes] [--dry-run] [--json]  remove in a writable module
  blit-utils completions bash|zsh|fish               shell completion script
  blit-utils profile [--limit N] [--json]            local performance history

TARGET is HOST:/module/path, HOST:PORT:/module/path, HOST://path (the daemon's
default root) or, for ls, find and du, a local path. Run "blit-utils VERB --help"
for a verb's options.
`;

type Verb = (argv: string[]) => Promise<number>;

/** Loads a verb's module only when it runs. */
const VERBS: Record<string, () => Promise<Verb>> = {
  scan: async () => (await import("./scan.ts")).runScan,
  list: async () => (await import("./list.ts")).runList,
  ls: async () => (await import("./ls.ts")).runLs,
  find: async () => (await import("./find.ts")).runFind,
  du: async () => (await import("./du.ts")).runDu,
  df: async () => (await import("./df.ts")).runDf,
  rm: async () => (await import("./rm.ts")).runRm,
  completions: async () => (await import("./completions.ts")).runCompletions,
  profile: async () => (await import("./profile.ts")).runProfile,
  __complete: async () => (await import("./completions.ts")).runComplete,
};

/**
 * Runs `blit-utils` and returns its exit code; never throws. Errors print one line on stderr.
 * @param argv Command-line arguments.
 * @returns The exit code: 0 done, 1 bad input or a failed call, 2 partial results.
 */
export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    if (verb === undefined) {
      console.error(`blit-utils: Cannot run without a verb: run "blit-utils --help"`);
      return 1;
    }
    if (verb === "--help" || verb === "-h" || verb === "help") {
      const topic = rest[0];
      if (topic !== undefined && topic in VERBS && !topic.startsWith("_")) {
        return await (await (VERBS[topic] as () => Promise<Verb>)())(["--help"]);
      }
      console.log(UTILS_HELP);
      return 0;
    }
    if (verb === "--version" || verb === "-V") {
      console.log(`blit-utils ${VERSION}`);
      return 0;
    }
    const load = VERBS[verb];
    if (load === undefined) {
      console.error(`blit-utils: Cannot run unknown verb "${verb}": run "blit-utils --help"`);
      return 1;
    }
    return await (await load())(rest);
  } catch (error) {
    if (error instanceof Deno.errors.BrokenPipe) return 0; // e.g. piped into head
    if (
      error instanceof UsageError || error instanceof FatalError ||
      error instanceof AdminCallError
    ) {
      console.error(`blit-utils: ${error.message}`);
    } else {
      console.error(`blit-utils: ${describeError(error)}`);
    }
    return 1;
  }
}

if (import.meta.main) {
  try {
    // Under `deno task`, relative paths are the user's, not the checkout's.
    const cannotEnter = enterInvocationDir();
    if (cannotEnter !== null) {
      console.error(`blit-utils: ${cannotEnter}`);
      Deno.exit(1);
    }
    Deno.exitCode = await main(Deno.args);
  } catch (error) {
    console.error(`blit-utils: ${describeError(error)}`);
    Deno.exitCode = 1;
  }
}
