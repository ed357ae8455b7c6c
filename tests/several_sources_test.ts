/**
 * Several sources in one command (`blit copy a b/ file.txt DST`) through the real CLI and
 * daemon, on every route (local, push, pull): one session whose root merges the sources, each
 * landing as it would alone in the directory DST (`a` as `DST/a`, `b/` as DST's contents); the
 * first source wins where two hold the same path, directories of the same path merge; a mirror
 * deletes what none of them holds and leaves DST's own mode alone; a move removes what it
 * copied; sources on two sides, or a missing one, are refused with one line.
 *
 * @module
 */

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { startDaemon, type TestDaemon } from "./_daemon.ts";
import { assertNoStack, exists, makeTree, readTree, runBlit, withTempDir } from "./_helpers.ts";

/** Where a route's sources live and how the CLI names them and the destination. */
interface Route {
  name: string;
  /** The directory the sources are built in. */
  home: (dir: string) => string;
  /** The CLI's name of a source under `home`. */
  source: (dir: string, daemon: TestDaemon, rel: string) => string;
  /** The CLI's name of the destination `tag`. */
  destination: (dir: string, daemon: TestDaemon, tag: string) => string;
  /** Where the destination `tag` is on disk. */
  landed: (dir: string, tag: string) => string;
}

const ROUTES: Route[] = [
  {
    name: "local",
    home: (dir) => `${dir}/src`,
    source: (dir, _daemon, rel) => `${dir}/src/${rel}`,
    destination: (dir, _daemon, tag) => `${dir}/${tag}`,
    landed: (dir, tag) => `${dir}/${tag}`,
  },
  {
    name: "push",
    home: (dir) => `${dir}/src`,
    source: (dir, _daemon, rel) => `${dir}/src/${rel}`,
    destination: (_dir, daemon, tag) => `${daemon.address}:/m/${tag}`,
    landed: (dir, tag) => `${dir}/module/${tag}`,
  },
  {
    name: "pull",
    home: (dir) => `${dir}/module/src`,
    source: (_dir, daemon, rel) => `${daemon.address}:/m/src/${rel}`,
    destination: (dir, _daemon, tag) => `${dir}/${tag}`,
    landed: (dir, tag) => `${dir}/${tag}`,
  },
];

/** Three sources: a directory `a`, a directory `b` (its contents), a file; `shared/` in both. */
const SOURCES = {
  "a/one.txt": "a's one",
  "a/shared/from-a.txt": "a's shared",
  "b/two.txt": "b's two",
  "b/shared/from-b.txt": "b's shared",
  "b/shared/clash.txt": "b's clash",
  "c/shared/clash.txt": "c's clash",
  "c/three.txt": "c's three",
  "file.txt": "a file",
};

/** What `copy a b/ c/ file.txt DST` leaves: files only, relative to DST. */
const MERGED = {
  "a/one.txt": "a's one",
  "a/shared/from-a.txt": "a's shared",
  "two.txt": "b's two",
  "shared/from-b.txt": "b's shared",
  "shared/clash.txt": "b's clash", // b/ comes before c/: the first source wins
  "three.txt": "c's three",
  "file.txt": "a file",
};

/** The files under `root` with their text. */
async function filesOf(root: string): Promise<Record<string, string>> {
  const tree = await readTree(root);
  const out: Record<string, string> = {};
  for (const [path, entry] of Object.entries(tree)) {
    if (entry.kind === "file") out[path] = await Deno.readTextFile(`${root}/${path}`);
  }
  return out;
}

function ok(r: { code: number; stdout: string; stderr: string }): Record<string, unknown> {
  equal(r.code, 0, r.stderr + r.stdout);
  assertNoStack(r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

for (const route of ROUTES) {
  Deno.test(`several sources on a ${route.name} run: merged, mirrored, moved`, async () => {
    await withTempDir(async (dir) => {
      await Deno.mkdir(`${dir}/module`);
      const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/module` }]);
      try {
        await makeTree(route.home(dir), SOURCES);
        const src = (rel: string) => route.source(dir, daemon, rel);
        const picks = [src("a"), src("b/"), src("c/"), src("file.txt")];

        const copy = ok(
          await runBlit(["copy", "--json", ...picks, route.destination(dir, daemon, "dst")]),
        );
        equal(copy.files_failed, 0);
        equal(copy.files_transferred, Object.keys(MERGED).length);
        deepStrictEqual(await filesOf(route.landed(dir, "dst")), MERGED);
        const again = ok(
          await runBlit(["copy", "--json", ...picks, route.destination(dir, daemon, "dst")]),
        );
        equal(again.files_transferred, 0, "a second run finds everything in place");

        // Mirror: what no source holds goes; DST keeps its own mode (no source's directory).
        const mirrored = route.landed(dir, "mirrored");
        await makeTree(mirrored, { "stale.txt": "gone after the mirror", "two.txt": "old" });
        await Deno.chmod(mirrored, 0o750);
        const mirror = ok(
          await runBlit([
            "mirror",
            "--yes",
            "--json",
            ...picks,
            route.destination(dir, daemon, "mirrored"),
          ]),
        );
        equal(mirror.entries_deleted, 1);
        deepStrictEqual(await filesOf(mirrored), MERGED);
        equal((await Deno.stat(mirrored)).mode! & 0o777, 0o750);

        // Move: every source file copied is removed; `a` itself goes, `b/`'s and `c/`'s
        // directories stay (their contents travelled), and c's clash.txt, never sent, stays.
        ok(await runBlit(["move", "--json", ...picks, route.destination(dir, daemon, "moved")]));
        deepStrictEqual(await filesOf(route.landed(dir, "moved")), MERGED);
        deepStrictEqual(await filesOf(route.home(dir)), { "c/shared/clash.txt": "c's clash" });
        deepStrictEqual(
          Object.keys(await readTree(route.home(dir))).sort(),
          ["b", "c", "c/shared", "c/shared/clash.txt"],
        );
      } finally {
        await daemon.stop();
      }
    });
  });
}

Deno.test("several sources: two sides, or a missing one, are refused with one line", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/module`);
    await makeTree(`${dir}/src`, { "a/x.txt": "x" });
    const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/module` }]);
    try {
      const mixed = await runBlit([
        "copy",
        `${dir}/src/a`,
        `${daemon.address}:/m/a`,
        `${dir}/dst`,
      ]);
      equal(mixed.code, 1, mixed.stderr);
      assertNoStack(mixed.stderr);
      match(mixed.stderr, /Cannot take sources from two places at once/);
      equal(mixed.stderr.trim().split("\n").length, 1, mixed.stderr);

      const missing = await runBlit(["copy", `${dir}/src/a`, `${dir}/src/nope`, `${dir}/dst`]);
      equal(missing.code, 1, missing.stderr);
      assertNoStack(missing.stderr);
      match(missing.stderr, /nope/);
      equal(await exists(`${dir}/dst`), false);

      const remoteMissing = await runBlit([
        "copy",
        `${daemon.address}:/m/`,
        `${daemon.address}:/m/nope`,
        `${dir}/dst`,
      ]);
      equal(remoteMissing.code, 1, remoteMissing.stderr);
      assertNoStack(remoteMissing.stderr);
      match(remoteMissing.stderr, /nope/);
    } finally {
      await daemon.stop();
    }
  });
});
