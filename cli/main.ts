/**
 * The `blit` command: copy, mirror and move file trees.
 *
 * @module
 */

import { describeError, FatalError, UsageError } from "../core/errors.ts";
import { ExitCode } from "./exit_code.ts";
import { runTransferVerb, TRANSFER_HELP } from "./transfer.ts";

const VERSION = "0.1.0";

const HELP = `blit ${VERSION}: fast, safe file transfers

Usage:
  blit copy   [options] SRC DST
  blit mirror [options] SRC DST
  blit move   [options] SRC DST
  blit scan   [--wait SECONDS] [--json]
  blit list   HOST[:PORT] | HOST:/module/path
  blit diagnostics perf [--limit N] [--json] [--clear] [--disable|--enable]

Run "blit copy --help" for the transfer options.
`;

/**
 * Runs the CLI and returns its exit code; never throws.
 * @param argv Command-line arguments.
 * @returns The exit code.
 */
export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    switch (verb) {
      case "copy":
      case "mirror":
      case "move":
        return await runTransferVerb(verb, rest);
      case "scan":
        return await (await import("./scan.ts")).runScanVerb(rest);
      case "list":
        return await (await import("./list.ts")).runList(rest);
      case "diagnostics": {
        const { runDiagnostics } = await import("./diagnostics.ts");
        return await runDiagnostics(rest);
      }
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
    if (error instanceof UsageError || error instanceof FatalError) {
      console.error(`blit: ${error.message}`);
    } else if (
      error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
    ) {
      console.error(`blit: ${describeError(error)}`);
    } else {
      console.error(`blit: ${describeError(error)}`);
    }
    return ExitCode.Fatal;
  }
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}
