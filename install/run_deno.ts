/**
 * Runs one `deno install`, `deno uninstall` or `deno compile` for the installer, its chatter
 * captured, its failure turned into one line.
 *
 * @module
 */

/**
 * Runs a Deno command with its output captured; on failure throws one line with Deno's first
 * error line.
 *
 * @example Usage
 * ```ts ignore
 * await runDeno(["deno", "uninstall", "-g", "blit"], "uninstall blit", { fix: "retry" });
 * ```
 *
 * @param command The program and its arguments.
 * @param what What is being done, for the message ("install blit").
 * @param advice What the user can do about a failure, for the message.
 * @throws {Error} If Deno cannot be started or fails.
 * @returns When it succeeded.
 */
export async function runDeno(
  command: readonly string[],
  what: string,
  advice: { fix: string },
): Promise<void> {
  const [program = "deno", ...args] = command;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    }).output();
  } catch (error) {
    throw new Error(
      `Cannot ${what}: "${program}" cannot be run (${
        error instanceof Error ? error.message : String(error)
      }); put Deno on PATH`,
    );
  }
  if (output.success) return;
  const text = new TextDecoder().decode(output.stderr);
  const first = text.split("\n").find((line) => line.startsWith("error:")) ??
    text.split("\n").find((line) => line.trim() !== "") ?? `exit ${output.code}`;
  throw new Error(
    `Cannot ${what}: ${first.replace(/^error:\s*/, "")}; ${advice.fix}`,
  );
}
