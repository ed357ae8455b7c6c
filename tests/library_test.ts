/**
 * The library API as a script uses it: without the permissions it needs, a call fails with one
 * line that names the flag to add, never a stack trace from inside the engine; with them, it
 * works. And `mirror()` deletes nothing unless the caller passes consent.
 *
 * @module
 */

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { mirror } from "../mod.ts";
import { makeTree, readTree, REPO, withTempDir } from "./_helpers.ts";

async function runScript(flags: string[], args: string[]): Promise<string> {
  const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${REPO}/tests/fixtures/library_copy.ts`, ...args],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(stdout).trim();
  equal(new TextDecoder().decode(stderr).trim(), "", "nothing on stderr");
  return text;
}

Deno.test("library calls without their permissions fail with one line naming the flag", async (t) => {
  await withTempDir(async (dir) => {
    await makeTree(`${dir}/src`, { "a.txt": "a" });
    await t.step("no read permission", async () => {
      const out = await runScript([], [`${dir}/src`, `${dir}/out`]);
      match(out, /^error \w+: .*--allow-read/);
      equal(out.split("\n").length, 1);
    });
    await t.step("no write permission", async () => {
      const out = await runScript(["--allow-read"], [`${dir}/src`, `${dir}/out`]);
      match(out, /^error \w+: .*--allow-write/);
      equal(out.split("\n").length, 1);
    });
    await t.step("no network permission for a daemon", async () => {
      const out = await runScript(
        ["--allow-read", "--allow-write", "--allow-env", "--allow-sys"],
        [`${dir}/src`, "127.0.0.1:9:/m/"],
      );
      match(out, /^error \w+: .*--allow-net/);
    });
    await t.step("with them, it works", async () => {
      const out = await runScript(["--allow-read", "--allow-write"], [`${dir}/src`, `${dir}/out`]);
      equal(out, "outcome transferred");
    });
  });
});

Deno.test("mirror() deletes nothing without explicit consent", async () => {
  await withTempDir(async (dir) => {
    await makeTree(`${dir}/src`, { "a.txt": "a" });
    await makeTree(`${dir}/dst`, { "a.txt": "a", "extra.txt": "e" });
    const refused = await mirror(`${dir}/src/`, `${dir}/dst`);
    equal(refused.entries_deleted, 0);
    match(refused.deletions_skipped_reason ?? "", /no consent was given/);
    ok((await readTree(`${dir}/dst`))["extra.txt"]);
    const agreed = await mirror(`${dir}/src/`, `${dir}/dst`, {
      confirmDeletions: () => Promise.resolve(true),
    });
    equal(agreed.entries_deleted, 1);
    deepStrictEqual(Object.keys(await readTree(`${dir}/dst`)), ["a.txt"]);
  });
});
