/**
 * Asking the user to confirm on a terminal: {@linkcode canAsk} tells whether a question can be
 * asked, {@linkcode confirm} asks it.
 *
 * @module
 */

/**
 * Whether both stdin and stderr are terminals, so a question can be asked and answered.
 *
 * @example Usage
 * ```ts ignore
 * import { canAsk, confirm } from "./confirm.ts";
 * if (canAsk() && await confirm("Delete 3 entries?")) {
 *   // delete them
 * }
 * ```
 *
 * @returns `true` on an interactive terminal.
 */
export function canAsk(): boolean {
  return Deno.stdin.isTerminal() && Deno.stderr.isTerminal();
}

/**
 * Asks a yes/no question on stderr and reads one line from stdin.
 *
 * @example Usage
 * ```ts ignore
 * import { confirm } from "./confirm.ts";
 * const remove = await confirm(`Remove "nas:/pub/old" (12 entries)?`); // prints "… [y/N] "
 * ```
 *
 * @param question The question, without the `[y/N]` suffix.
 * @returns `true` for the answer `y` or `yes` (any case); `false` for anything else or end of
 *   input.
 */
export async function confirm(question: string): Promise<boolean> {
  await Deno.stderr.write(new TextEncoder().encode(`${question} [y/N] `));
  const buffer = new Uint8Array(256);
  const n = await Deno.stdin.read(buffer);
  if (n === null) return false;
  const answer = new TextDecoder().decode(buffer.subarray(0, n)).trim().toLowerCase();
  return answer === "y" || answer === "yes";
}
