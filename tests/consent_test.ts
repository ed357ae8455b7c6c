/**
 * Consent to mirror deletions, asked the same way on every route: after planning, on the
 * terminal, with the paths that would go — local→local, push (the daemon waits while the person
 * decides) and pull. Driven through the real CLI under script(1), which gives it a terminal.
 *
 * @module
 */

import { equal, match, ok } from "node:assert/strict";
import { startDaemon } from "./_daemon.ts";
import {
  blitTaskFlags,
  makeTree,
  readTree,
  REPO,
  testConfigHome,
  withTempDir,
} from "./_helpers.ts";

/** Runs `blit ARGS` on a terminal, typing `reply` at the prompt. */
async function onTerminal(args: string[], reply: string): Promise<{ code: number; out: string }> {
  const command = [Deno.execPath(), "run", ...blitTaskFlags(), `${REPO}/cli/main.ts`, ...args]
    .map((w) => `'${w}'`).join(" ");
  const { code, stdout } = await new Deno.Command("bash", {
    args: ["-c", `printf '${reply}\\n' | script -qefc "$0" /dev/null`, command],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", XDG_CONFIG_HOME: testConfigHome() },
  }).output();
  return { code, out: new TextDecoder().decode(stdout) };
}

async function hasScript(): Promise<boolean> {
  const found = await new Deno.Command("sh", {
    args: ["-c", "command -v script"],
    stdout: "null",
  }).output();
  return found.success;
}

Deno.test("mirror asks for consent after planning, with the paths, on every route", async (t) => {
  if (!(await hasScript())) {
    console.log("  (script(1) is not installed: terminal consent not tested)");
    return;
  }
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/module`);
    const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/module` }]);
    try {
      const routes = [
        { name: "local", src: `${dir}/src/`, dst: `${dir}/dst`, at: `${dir}/dst` },
        {
          name: "push",
          src: `${dir}/src/`,
          dst: `${daemon.address}:/m/dst/`,
          at: `${dir}/module/dst`,
        },
        {
          name: "pull",
          src: `${daemon.address}:/m/src/`,
          dst: `${dir}/pulled`,
          at: `${dir}/pulled`,
        },
      ];
      await makeTree(`${dir}/module/src`, { "new.txt": "n", "keep.txt": "k" });
      await makeTree(`${dir}/src`, { "new.txt": "n", "keep.txt": "k" });
      for (const route of routes) {
        await t.step(route.name, async () => {
          await makeTree(route.at, { "keep.txt": "k", "old/one.txt": "1", "two.txt": "2" });
          const declined = await onTerminal(["mirror", route.src, route.dst], "n");
          equal(declined.code, 2, declined.out);
          // A directory to delete is one entry, listed once (its contents go with it).
          match(declined.out, /mirror will delete 2 entries:\r?\n {2}two\.txt\r?\n {2}old\r?\n/);
          match(declined.out, /Delete them\? \[y\/N\]/);
          match(declined.out, /deletions skipped: 2 deletion\(s\) were not confirmed/);
          const after = await readTree(route.at);
          ok(after["new.txt"], "the copy happened before the question");
          ok(after["two.txt"] && after["old/one.txt"], "nothing deleted");

          const agreed = await onTerminal(["mirror", route.src, route.dst], "y");
          equal(agreed.code, 0, agreed.out);
          match(agreed.out, /mirror will delete 2 entries:/);
          equal(Object.keys(await readTree(route.at)).sort().join(","), "keep.txt,new.txt");
        });
      }
    } finally {
      await daemon.stop();
    }
  });
});
