/**
 * `blit check SRC DST` through the real CLI: local trees, a push (local SRC, daemon DST) and a
 * pull (daemon SRC, local DST) against a real `blitd`, the exact lines, the count, the exit
 * code, `--checksum`, `--json`, filters, and that neither side changed.
 *
 * @module
 */

import { deepEqual, equal, match } from "node:assert/strict";
import { startDaemon } from "./_daemon.ts";
import {
  assertNoStack,
  makeTree,
  readTree,
  runBlit,
  setMtime,
  type TreeEntry,
  type TreeSpec,
  withTempDir,
} from "./_helpers.ts";

/** One fixed time for every file, so that equal files are equal by size and mtime. */
const TIME = Date.UTC(2024, 0, 2, 3, 4, 5);

/** Creates a tree and gives every file the same mtime. */
async function makeTimedTree(root: string, spec: TreeSpec): Promise<void> {
  await Deno.mkdir(root, { recursive: true });
  await makeTree(root, spec);
  for (const [path, value] of Object.entries(spec)) {
    if (typeof value === "string") await setMtime(`${root}/${path}`, TIME);
  }
}

/** Both trees as they are, to check afterwards that nothing was written. */
async function snapshot(...roots: string[]): Promise<Record<string, TreeEntry>[]> {
  return await Promise.all(roots.map((root) => readTree(root)));
}

/** The source and destination of the "all three kinds" cases. */
const SOURCE: TreeSpec = {
  "same.txt": "same",
  "changed.txt": "new text",
  "only-src.txt": "s",
  "new-dir/deep/file.txt": "n",
  "link": { link: "same.txt" },
  "kind": { dir: true },
};
const DESTINATION: TreeSpec = {
  "same.txt": "same",
  "changed.txt": "old",
  "only-dst.txt": "d",
  "old-dir/inner/file.txt": "o",
  "link": { link: "elsewhere" },
  "kind": "a file where the source has a directory",
};
const EXPECTED_LINES = [
  "* changed.txt",
  "* kind",
  "* link",
  "+ new-dir",
  "+ new-dir/deep",
  "+ new-dir/deep/file.txt",
  "- old-dir",
  "- old-dir/inner",
  "- old-dir/inner/file.txt",
  "- only-dst.txt",
  "+ only-src.txt",
].join("\n") + "\n";

Deno.test("check: identical local trees exit 0 and print nothing but the count", async () => {
  await withTempDir(async (dir) => {
    const spec: TreeSpec = { "a.txt": "a", "sub/b.txt": "bb", "ln": { link: "a.txt" } };
    await makeTimedTree(`${dir}/src`, spec);
    await makeTimedTree(`${dir}/dst`, spec);
    const result = await runBlit(["check", `${dir}/src/`, `${dir}/dst`]);
    equal(result.code, 0, result.stderr);
    equal(result.stdout, "");
    equal(result.stderr, "identical\n");
    // Without the slash the directory itself is compared with DST/src, as mirror would place it.
    await makeTimedTree(`${dir}/parent/src`, spec);
    const placed = await runBlit(["check", `${dir}/src`, `${dir}/parent`]);
    equal(placed.code, 0, placed.stderr);
  });
});

Deno.test("check: local trees that differ in all three ways, exact lines, nothing written", async () => {
  await withTempDir(async (dir) => {
    await makeTimedTree(`${dir}/src`, SOURCE);
    await makeTimedTree(`${dir}/dst`, DESTINATION);
    const before = await snapshot(dir);
    const result = await runBlit(["check", `${dir}/src/`, `${dir}/dst`]);
    equal(result.code, 2, result.stderr);
    equal(result.stdout, EXPECTED_LINES);
    equal(result.stderr, "11 differences\n");
    deepEqual(await snapshot(dir), before);
  });
});

Deno.test("check: a destination that does not exist counts everything as only in the source", async () => {
  await withTempDir(async (dir) => {
    await makeTimedTree(`${dir}/src`, { "a.txt": "a", "sub/b.txt": "b" });
    const result = await runBlit(["check", `${dir}/src/`, `${dir}/missing/dst`]);
    equal(result.code, 2, result.stderr);
    equal(result.stdout, "+ .\n+ a.txt\n+ sub\n+ sub/b.txt\n");
    equal(result.stderr, "4 differences\n");
    equal(await Deno.stat(`${dir}/missing`).then(() => true, () => false), false);
  });
});

Deno.test("check: --checksum catches a same-size, same-mtime change the default misses", async () => {
  await withTempDir(async (dir) => {
    await makeTimedTree(`${dir}/src`, { "data.bin": "abcdef", "other.txt": "x" });
    await makeTimedTree(`${dir}/dst`, { "data.bin": "abcdeF", "other.txt": "x" });
    const quick = await runBlit(["check", `${dir}/src/`, `${dir}/dst`]);
    equal(quick.code, 0, quick.stderr);
    equal(quick.stderr, "identical\n");
    const thorough = await runBlit(["check", "-c", `${dir}/src/`, `${dir}/dst`]);
    equal(thorough.code, 2, thorough.stderr);
    equal(thorough.stdout, "* data.bin\n");
    equal(thorough.stderr, "1 difference\n");
    // Same content, another mtime: --checksum calls them equal, the default does not.
    await setMtime(`${dir}/dst/other.txt`, TIME + 60_000);
    equal((await runBlit(["check", `${dir}/src/`, `${dir}/dst`])).code, 2);
    const byContent = await runBlit([
      "check",
      "--checksum",
      "--exclude",
      "data.bin",
      `${dir}/src/`,
      `${dir}/dst`,
    ]);
    equal(byContent.code, 0, byContent.stderr);
  });
});

Deno.test("check: --json prints one object; filters leave entries out", async () => {
  await withTempDir(async (dir) => {
    await makeTimedTree(`${dir}/src`, SOURCE);
    await makeTimedTree(`${dir}/dst`, DESTINATION);
    const result = await runBlit(["check", "--json", `${dir}/src/`, `${dir}/dst`]);
    equal(result.code, 2, result.stderr);
    deepEqual(JSON.parse(result.stdout), {
      identical: false,
      only_in_source: ["new-dir", "new-dir/deep", "new-dir/deep/file.txt", "only-src.txt"],
      only_in_destination: ["old-dir", "old-dir/inner", "old-dir/inner/file.txt", "only-dst.txt"],
      differ: ["changed.txt", "kind", "link"],
      counts: { only_in_source: 4, only_in_destination: 4, differ: 3, total: 11 },
    });
    const filtered = await runBlit([
      "check",
      "--json",
      "--include",
      "changed.txt",
      "--exclude",
      "*.txt",
      "--exclude",
      "*-dir/",
      `${dir}/src/`,
      `${dir}/dst`,
    ]);
    equal(filtered.code, 2, filtered.stderr);
    deepEqual(JSON.parse(filtered.stdout).differ, ["changed.txt", "kind", "link"]);
    equal(JSON.parse(filtered.stdout).counts.total, 3);
    const none = await runBlit([
      "check",
      "--json",
      "--exclude",
      "*",
      `${dir}/src/`,
      `${dir}/dst`,
    ]);
    equal(none.code, 0, none.stderr);
    deepEqual(JSON.parse(none.stdout), {
      identical: true,
      only_in_source: [],
      only_in_destination: [],
      differ: [],
      counts: { only_in_source: 0, only_in_destination: 0, differ: 0, total: 0 },
    });
  });
});

Deno.test("check: bad input is one Cannot line and exit 1", async () => {
  await withTempDir(async (dir) => {
    const cases: [string[], RegExp][] = [
      [["check", `${dir}/only-one`], /^blit: Cannot check: expected SRC and DST, got 1 path/],
      [["check", `${dir}/missing/`, dir], /^blit: Cannot find source .*: check the path\n$/],
      [["check", "--checksum", "--size-only", dir, dir], /^blit: Cannot combine --checksum/],
      [["check", "a:/m/x", "b:/m/y"], /^blit: Cannot check two daemons against each other/],
    ];
    for (const [args, expected] of cases) {
      const result = await runBlit(args);
      equal(result.code, 1, result.stderr);
      match(result.stderr, expected);
      equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
      assertNoStack(result.stderr);
    }
  });
});

Deno.test("check against a daemon: push and pull directions, nothing written on either side", async (t) => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/module`);
    const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/module` }]);
    try {
      await makeTimedTree(`${dir}/local`, SOURCE);
      await makeTimedTree(`${dir}/module/tree`, DESTINATION);
      await makeTimedTree(`${dir}/local-copy`, DESTINATION);
      const remote = `${daemon.address}:/m/tree`;
      const before = await snapshot(dir);

      await t.step("push: local SRC against daemon DST", async () => {
        const result = await runBlit(["check", `${dir}/local/`, remote]);
        equal(result.code, 2, result.stderr);
        equal(result.stdout, EXPECTED_LINES);
        equal(result.stderr, "11 differences\n");
        // The directory without a slash is compared with DST/<name>, which is missing there.
        const placed = await runBlit(["check", "--json", `${dir}/local`, remote]);
        equal(placed.code, 2, placed.stderr);
        equal(JSON.parse(placed.stdout).counts.only_in_source, 9);
        deepEqual(JSON.parse(placed.stdout).only_in_source.slice(0, 2), [".", "changed.txt"]);
        const same = await runBlit(["check", `${dir}/local-copy/`, `${remote}/`]);
        equal(same.code, 0, same.stderr);
        equal(same.stderr, "identical\n");
        const checksum = await runBlit(["check", "-c", `${dir}/local-copy/`, `${remote}/`]);
        equal(checksum.code, 0, checksum.stderr);
        // A file lands inside a remote directory, as a push would place it.
        const file = await runBlit(["check", `${dir}/local-copy/same.txt`, remote]);
        equal(file.code, 0, file.stderr);
        const other = await runBlit(["check", `${dir}/local/changed.txt`, `${remote}/same.txt`]);
        equal(other.code, 2, other.stderr);
        equal(other.stdout, "* .\n");
      });

      await t.step("pull: daemon SRC against local DST", async () => {
        const result = await runBlit(["check", `${remote}/`, `${dir}/local`]);
        equal(result.code, 2, result.stderr);
        // The same trees the other way round: + and - swap, * stays.
        equal(
          result.stdout,
          EXPECTED_LINES.replace(/^[+-]/gm, (mark) => mark === "+" ? "-" : "+")
            .split("\n").filter((line) => line !== "").sort((a, b) =>
              a.slice(2) < b.slice(2) ? -1 : 1
            ).join("\n") + "\n",
        );
        const same = await runBlit(["check", "--json", `${remote}/`, `${dir}/local-copy`]);
        equal(same.code, 0, same.stderr);
        equal(JSON.parse(same.stdout).identical, true);
      });

      deepEqual(await snapshot(dir), before, "nothing written on either side");
    } finally {
      await daemon.stop();
    }
  });
});
