/**
 * Asking the user to confirm on a terminal.
 *
 * @module
 */

/**
 * Whether both stdin and stderr are terminals, so a question can be asked and answered.
 * @returns `true` on an interactive terminal.
 */
export function canAsk(): boolean {
  return Deno.stdin.isTerminal() && Deno.stderr.isTerminal();
}

/**
 * Asks a yes/no question on stderr and reads one line from stdin.
 * @param question The question, without the `[y/N]` suffix.
 * @returns `true` for an answer starting with `y`.
 */
export async function confirm(question: string): Promise<boolean> {
  await Deno.stderr.write(new TextEncoder().encode(`${question} [y/N] `));
  const buffer = new Uint8Array(256);
  const n = await Deno.stdin.read(buffer);
  if (n === null) return false;
  const answer = new TextDecoder().decode(buffer.subarray(0, n)).trim().toLowerCase();
  return answer === "y" || answer === "yes";
}
