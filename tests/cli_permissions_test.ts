/**
 * The `blit` task must grant every Deno permission, unscoped: with any permission missing or
 * scoped, Deno resolves every path an fs op touches with `realpath` (~15 `readlink` calls per
 * copied file, measured with `strace -c -f`), which made small-file copies ~1.25× slower.
 */

import { deepStrictEqual as deepEqual } from "node:assert/strict";
import { blitTaskFlags } from "./_helpers.ts";

const EVERY_PERMISSION = [
  "--allow-env",
  "--allow-ffi",
  "--allow-import",
  "--allow-net",
  "--allow-read",
  "--allow-run",
  "--allow-sys",
  "--allow-write",
];

Deno.test("the blit task grants every permission, unscoped", () => {
  const flags = blitTaskFlags().filter((flag) => flag.startsWith("--allow-") || flag === "-A");
  if (flags.includes("-A") || flags.includes("--allow-all")) return;
  deepEqual(flags.toSorted(), EVERY_PERMISSION);
});

Deno.test("a blit run really has every permission granted", async () => {
  const flags = blitTaskFlags();
  const probe = `const names = ${JSON.stringify(EVERY_PERMISSION.map((f) => f.slice(8)))};
    const denied = names.filter((name) => Deno.permissions.querySync({ name }).state !== "granted");
    console.log(JSON.stringify(denied));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", ...flags.filter((f) => f.startsWith("--allow-")), probe],
    stdout: "piped",
    stderr: "piped",
  }).output();
  deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), []);
});
