/**
 * The `blit` command: copy, mirror and move file trees.
 *
 * Start-up time counts (every benchmark run pays it), so this module imports almost nothing:
 * each verb's module is loaded when that verb runs, and `--version` and `--help` run no engine
 * code. (`deno run` still reads and analyses the modules behind literal `import()`s before it
 * starts, npm packages included, unless the `lazy-dynamic-imports` unstable feature is on.)
 *
 * @module
 */

import { describeError, FatalError, printable, UsageError } from "../core/errors.ts";
import { stillAsking } from "../cmdline/confirm.ts";
import { enterInvocationDir } from "../cmdline/invocation_dir.ts";
import { ExitCode } from "../cmdline/exit_code.ts";
import { HELP, TRANSFER_HELP, VERSION } from "./help.ts";
import { isRemote } from "../core/endpoint.ts";
import { warmUpTls } from "../core/transport/tls_warmup.ts";
import { pendingWorkSettled } from "../core/pending_work.ts";

/** The verbs that transfer files. */
const TRANSFER_VERBS: ReadonlySet<string> = new Set(["copy", "mirror", "move"]);

/** Longest wait, after a transfer, for what it left to finish (see `pendingWorkSettled`). */
const FINISH_BEFORE_EXIT_MS = 60_000;

/** Verbs that connect to a daemon when an argument names one. */
const DAEMON_VERBS: ReadonlySet<string> = new Set(["copy", "mirror", "move", "list", "check"]);

/**
 * Runs the CLI and returns its exit code; never throws.
 * @param argv Command-line arguments.
 * @returns The exit code.
 */
export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  // The TLS set-up's first cost runs on another thread while this one loads the verb's modules.
  if (verb !== undefined && DAEMON_VERBS.has(verb) && namesDaemonOverTls(rest)) warmUpTls();
  try {
    switch (verb) {
      case "copy":
      case "mirror":
      case "move":
        return await (await import("./transfer.ts")).runTransferVerb(verb, rest);
      case "scan":
        return await (await import("../cmdline/scan_verb.ts")).runScanVerb(rest);
      case "list":
        return await (await import("./list.ts")).runList(rest);
      case "check":
        return await (await import("./check.ts")).runCheck(rest);
      case "diagnostics":
        return await (await import("./diagnostics.ts")).runDiagnostics(rest);
      case "keygen":
        return await (await import("./keygen.ts")).runKeygen(rest);
      case "known-hosts":
        return await (await import("./known_hosts.ts")).runKnownHosts(rest);
      case "help":
      case "--help":
      case "-h":
        console.log(
          rest[0] === "copy" || rest[0] === "mirror" || rest[0] === "move" ? TRANSFER_HELP : HELP,
        );
        return ExitCode.Ok;
      case "--version":
      case "-V":
        console.log(`blit ${VERSION}`);
        return ExitCode.Ok;
      case undefined:
        console.error(`blit: missing command; run "blit --help"`);
        return ExitCode.Fatal;
      default:
        console.error(`blit: Cannot run unknown command "${verb}": run "blit --help"`);
        return ExitCode.Fatal;
    }
  } catch (error) {
    // One line, never a stack trace; a text a daemon chose (a path, its message) is escaped.
    if (error instanceof UsageError || error instanceof FatalError) {
      console.error(`blit: ${printable(error.message)}`);
    } else {
      // Permission errors and everything else.
      console.error(`blit: ${printable(describeError(error))}`);
    }
    return ExitCode.Fatal;
  }
}

/** Whether the arguments name a daemon endpoint and do not turn TLS off (a guess: no parsing). */
function namesDaemonOverTls(args: readonly string[]): boolean {
  return !args.includes("--no-tls") && args.some((arg) => !arg.startsWith("-") && isRemote(arg));
}

if (import.meta.main) {
  // Under `deno task`, relative paths are the user's, not the checkout's.
  const cannotEnter = enterInvocationDir();
  if (cannotEnter !== null) {
    console.error(`blit: ${cannotEnter}`);
    Deno.exit(ExitCode.Fatal);
  }
  const code = await main(Deno.args);
  // A prompt the daemon withdrew may still be reading stdin, and a failed session may leave a
  // connection or a timer behind, either of which would keep the process alive.
  if (stillAsking() || code === ExitCode.Fatal) Deno.exit(code);
  // A transfer ends its process once what it left to finish is done (the control stream's last
  // frames, an old version's removal): Deno, ending on its own, may fsync its caches, which
  // waits for the disk after a large write (core/pending_work.ts). Other verbs let writes drain.
  if (TRANSFER_VERBS.has(Deno.args[0] ?? "")) {
    await pendingWorkSettled(FINISH_BEFORE_EXIT_MS);
    Deno.exit(code);
  }
  Deno.exitCode = code;
}
