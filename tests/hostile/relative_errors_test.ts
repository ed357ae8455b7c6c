/**
 * Issue #11: errors showed clients the daemon's absolute paths. A refusal read `Cannot resolve
 * path "loop" under "/srv/…/module": too many links`, and failure lists carried what the
 * operating system said (`readdir '/srv/…/lnk'`, a full disk naming the module's real path).
 *
 * The rule now: every text the daemon sends a client (refusals, session aborts, failure lists,
 * admin errors) names paths relative to the module; the daemon's own log keeps the full text.
 * Each case runs the real `blit` or `blit-utils` against a real `blitd` and checks that neither
 * the output nor the `--json` summary holds the module's absolute path.
 *
 * @module
 */

import { match, ok, strictEqual } from "node:assert/strict";
import { startDaemon, type TestDaemon } from "../_daemon.ts";
import { runBlit, type RunResult, runUtils, withTempDir } from "../_helpers.ts";

/** Asserts that a run's output does not name any of `paths`, and shows the output if it does. */
function assertHides(result: RunResult, paths: readonly string[], what: string): void {
  const output = `${result.stdout}\n${result.stderr}`;
  for (const path of paths) {
    ok(!output.includes(path), `${what} names the daemon's path ${path}:\n${output}`);
  }
}

/** Mounts a tiny tmpfs at `dir`; returns why not when this machine does not allow it. */
async function mountTiny(dir: string): Promise<string | null> {
  try {
    const result = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=64k,nr_inodes=16", "tmpfs", dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (result.success) return null;
    return `mount -t tmpfs failed: ${new TextDecoder().decode(result.stderr).trim()}`;
  } catch (error) {
    return `mount is not available: ${error instanceof Error ? error.message : error}`;
  }
}

Deno.test({
  name: "hostile: a client never reads the daemon's absolute paths in errors",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await withTempDir(async (dir) => {
      const module = `${dir}/module`;
      const full = `${dir}/full`;
      const client = `${dir}/client`;
      await Deno.mkdir(`${module}/src`, { recursive: true });
      await Deno.writeTextFile(`${module}/src/a.txt`, "a\n");
      await Deno.symlink("loop", `${module}/loop`);
      await Deno.symlink("/etc", `${module}/esc`);
      await Deno.mkdir(`${client}/tree/sub/deeper`, { recursive: true });
      for (let i = 0; i < 24; i++) {
        await Deno.writeFile(`${client}/tree/f${i}.bin`, new Uint8Array(8192).fill(i));
      }
      await Deno.mkdir(full);
      const noTmpfs = await mountTiny(full);
      const hidden = [module, await Deno.realPath(module), full];
      const daemon: TestDaemon = await startDaemon(dir, [
        { name: "m", path: module },
        { name: "full", path: full },
      ]);
      const host = daemon.address;
      try {
        await t.step("a pull through a link loop is refused with a module path", async () => {
          const result = await runBlit(["copy", `${host}:/m/loop/`, `${client}/pulled`]);
          strictEqual(result.code, 1, result.stderr);
          match(result.stderr, /"loop"/);
          assertHides(result, hidden, "the refusal");
        });
        await t.step("a pull through a link out of the module is refused likewise", async () => {
          const result = await runBlit(["copy", `${host}:/m/esc/x`, `${client}/pulled`]);
          strictEqual(result.code, 1, result.stderr);
          assertHides(result, hidden, "the refusal");
        });
        await t.step("a push through a link loop is refused likewise", async () => {
          const result = await runBlit(["copy", `${client}/tree/`, `${host}:/m/loop/x/`, "--json"]);
          strictEqual(result.code === 1 || result.code === 2, true, result.stderr);
          assertHides(result, hidden, "the refusal");
        });
        await t.step("admin calls through a link loop name module paths", async () => {
          for (const args of [["find", `${host}:/m/loop/`], ["du", `${host}:/m/loop/`]]) {
            const result = await runUtils(args);
            strictEqual(result.code, 1, `${args.join(" ")}: ${result.stderr}`);
            assertHides(result, hidden, `blit-utils ${args[0]}`);
          }
        });
        await t.step({
          name: "a push onto a full disk lists failures with module paths only",
          ignore: noTmpfs !== null,
          fn: async () => {
            const result = await runBlit(["copy", `${client}/tree/`, `${host}:/full/`, "--json"]);
            strictEqual(result.code, 2, `${result.stdout}\n${result.stderr}`);
            const summary = JSON.parse(result.stdout) as { failures: { path: string }[] };
            ok(summary.failures.length > 0, result.stdout);
            assertHides(result, hidden, "the failure list");
          },
        });
        if (noTmpfs !== null) console.log(`skipped the full-disk case: ${noTmpfs}`);
        await t.step("the daemon's own log keeps the full path", () => {
          ok(daemon.log().includes(module), daemon.log());
        });
      } finally {
        await daemon.stop();
        if (noTmpfs === null) {
          await new Deno.Command("umount", { args: [full] }).output().catch(() => null);
        }
      }
    });
  },
});
