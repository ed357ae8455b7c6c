/**
 * The entry of a `deno compile`d daemon server (`blitd compile-server`; see
 * install/server_binary.ts). Its first argument is baked in at compile time: the permission
 * flags it was built with. blitd starts it with the flags the current configuration needs; when
 * they differ it refuses to start (one line, exit 78, which blitd does not retry). Otherwise it
 * is `daemon/server.ts`: the handoff on standard input, then serving.
 *
 * `--version` (after the baked argument) prints one line and exits: blitd runs it once inside
 * the mount namespace to check that the namespace works.
 *
 * @module
 */

import { serverMain } from "../daemon/server.ts";
import { EXIT_NO_RESTART } from "../daemon/supervisor.ts";
import { describeError } from "../core/errors.ts";
import {
  COMPILED_PERMISSIONS_ARG,
  EXPECTED_PERMISSIONS_ARG,
  permissionMismatch,
  readFlagList,
} from "./server_binary.ts";

/**
 * Checks the compiled server's arguments before it serves.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { checkServerArgs } from "./compiled_server.ts";
 * const flags = '["--allow-read=/srv"]';
 * strictEqual(
 *   checkServerArgs([`--compiled-permissions=${flags}`, `--expected-permissions=${flags}`]),
 *   "serve",
 * );
 * ```
 *
 * @param args The process's arguments (the baked one first).
 * @returns "serve", "version", or one line starting "Cannot" that says why it may not start.
 */
export function checkServerArgs(args: readonly string[]): "serve" | "version" | string {
  const compiled = readFlagList(args[0], COMPILED_PERMISSIONS_ARG);
  if (compiled === null) {
    return `Cannot start the compiled server: it was not built by "blitd compile-server" (its ` +
      `first argument is not ${COMPILED_PERMISSIONS_ARG}[…]); build it with that command`;
  }
  if (args[1] === "--version") return "version";
  const expected = readFlagList(args[1], EXPECTED_PERMISSIONS_ARG);
  if (expected === null || args.length !== 2) {
    return "Cannot start the compiled server by hand: blitd starts it; set BLITD_SERVER_BINARY " +
      "for blitd instead";
  }
  const mismatch = permissionMismatch(compiled, expected);
  if (mismatch === null) return "serve";
  return `Cannot start the compiled server: it was compiled for the permissions of another ` +
    `configuration (${mismatch}); build it again for this one with "blitd compile-server ` +
    `--config FILE -o PATH" (the same flags as blitd)`;
}

if (import.meta.main) {
  const verdict = checkServerArgs(Deno.args);
  if (verdict === "version") {
    console.log(`blitd-server (compiled): ${Deno.args[0]}`);
    Deno.exit(0);
  }
  if (verdict !== "serve") {
    console.error(`blitd: ${verdict}`);
    Deno.exit(EXIT_NO_RESTART);
  }
  try {
    Deno.exit(await serverMain());
  } catch (error) {
    console.error(`blitd: ${describeError(error)}`);
    Deno.exit(1);
  }
}
