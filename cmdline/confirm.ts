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

let reading = 0;

/**
 * Whether a question is still waiting for its answer (one the caller stopped waiting for: a
 * pending read of stdin keeps the process alive, so the command must exit explicitly).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { stillAsking } from "./confirm.ts";
 * strictEqual(stillAsking(), false);
 * ```
 *
 * @returns `true` while a read of the answer is pending.
 */
export function stillAsking(): boolean {
  return reading > 0;
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
  reading++;
  let n: number | null;
  try {
    n = await Deno.stdin.read(buffer);
  } finally {
    reading--;
  }
  if (n === null) return false;
  const answer = new TextDecoder().decode(buffer.subarray(0, n)).trim().toLowerCase();
  return answer === "y" || answer === "yes";
}
