/**
 * `-H` / `--hard-links` through the real CLI and daemon, on every route (local, push, pull):
 * the names of a file with several names arrive as hard links of one file (its data sent once),
 * a second run finds them in place, a destination name that is a separate copy is linked again,
 * `-i` prints rsync's `hf+++++++++ NAME => FIRST`, a mirror keeps every name, a move removes
 * the source's names only once linked, and without `-H` the names stay separate files.
 *
 * @module
 */

import { deepStrictEqual, equal, match, notEqual } from "node:assert/strict";
import { startDaemon, type TestDaemon } from "./_daemon.ts";
import { assertNoStack, exists, makeTree, runBlit, withTempDir } from "./_helpers.ts";

/** Where a route reads and writes: the source tree's path, and the arguments naming both ends. */
interface Route {
  name: string;
  /** Where the test builds the source tree (a local directory, or one inside the module). */
  sourceDir: (dir: string) => string;
  /** Where the destination lands on disk. */
  destDir: (dir: string, tag: string) => string;
  /** The CLI arguments for the source and destination. */
  ends: (dir: string, tag: string, daemon: TestDaemon) => [string, string];
}

const ROUTES: Route[] = [
  {
    name: "local",
    sourceDir: (dir) => `${dir}/src`,
    destDir: (dir, tag) => `${dir}/${tag}`,
    ends: (dir, tag) => [`${dir}/src/`, `${dir}/${tag}`],
  },
  {
    name: "push",
    sourceDir: (dir) => `${dir}/src`,
    destDir: (dir, tag) => `${dir}/module/${tag}`,
    ends: (dir, tag, daemon) => [`${dir}/src/`, `${daemon.address}:/m/${tag}`],
  },
  {
    name: "pull",
    sourceDir: (dir) => `${dir}/module/src`,
    destDir: (dir, tag) => `${dir}/${tag}`,
    ends: (dir, tag, daemon) => [`${daemon.address}:/m/src/`, `${dir}/${tag}`],
  },
];

/** A source with one file under three names in three directories, and a file with one name. */
async function makeLinkedSource(root: string): Promise<void> {
  await makeTree(root, {
    "c.txt": "one file, three names\n",
    "d1/a.txt": "",
    "d2/b.txt": "",
    "solo.txt": "alone\n",
  });
  // The walk meets `c.txt` first (the root's group), so it is the first name.
  for (const name of ["d1/a.txt", "d2/b.txt"]) {
    await Deno.remove(`${root}/${name}`);
    await Deno.link(`${root}/c.txt`, `${root}/${name}`);
  }
}

const NAMES = ["c.txt", "d1/a.txt", "d2/b.txt"];

/** The inode numbers of the names under `root`. */
async function inodes(root: string, names: string[] = NAMES): Promise<number[]> {
  return await Promise.all(names.map(async (n) => (await Deno.lstat(`${root}/${n}`)).ino ?? -1));
}

/** Asserts the three names under `root` are one file with the source's text. */
async function assertLinked(root: string): Promise<void> {
  const [first, ...rest] = await inodes(root);
  deepStrictEqual(rest, [first, first], `${root}: the names are one file`);
  equal((await Deno.lstat(`${root}/c.txt`)).nlink, 3);
  equal(await Deno.readTextFile(`${root}/d2/b.txt`), "one file, three names\n");
  notEqual((await Deno.lstat(`${root}/solo.txt`)).ino, first);
}

function ok(r: { code: number; stdout: string; stderr: string }): string {
  equal(r.code, 0, r.stderr + r.stdout);
  assertNoStack(r.stderr);
  return r.stdout;
}

for (const route of ROUTES) {
  Deno.test(`-H on a ${route.name} run: names linked, kept, relinked, itemized`, async () => {
    await withTempDir(async (dir) => {
      await Deno.mkdir(`${dir}/module`);
      const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/module` }]);
      try {
        await makeLinkedSource(route.sourceDir(dir));
        const [src, dst] = route.ends(dir, "dst", daemon);
        const out = route.destDir(dir, "dst");

        const first = ok(await runBlit(["copy", "-H", "-i", src, dst]));
        match(first, /^hf\+{9} d1\/a\.txt => c\.txt$/m);
        match(first, /^hf\+{9} d2\/b\.txt => c\.txt$/m);
        match(first, /^[<>]f\+{9} c\.txt$/m);
        equal(first.match(/^[<>]f/gm)?.length, 2, `data of two files only:\n${first}`);
        await assertLinked(out);

        const again = ok(await runBlit(["copy", "-H", "-i", src, dst]));
        equal(again.match(/^(hf|[<>]f)/gm), null, `nothing to do:\n${again}`);
        await assertLinked(out);

        // A separate copy under a second name (same bytes and time) is linked again.
        const stale = `${out}/d2/b.txt`;
        const { mtime } = await Deno.lstat(stale);
        await Deno.remove(stale);
        await Deno.writeTextFile(stale, "one file, three names\n");
        await Deno.utime(stale, mtime as Date, mtime as Date);
        const relinked = ok(await runBlit(["copy", "-H", "-i", src, dst]));
        match(relinked, /^hf\.{9} d2\/b\.txt => c\.txt$/m);
        await assertLinked(out);

        // Without -H the names arrive as separate files.
        const [src2, plain] = route.ends(dir, "plain", daemon);
        ok(await runBlit(["copy", src2, plain]));
        const separate = await inodes(route.destDir(dir, "plain"));
        equal(new Set(separate).size, 3, "three separate files");
      } finally {
        await daemon.stop();
      }
    });
  });

  Deno.test(`-H on a ${route.name} mirror and move: every name kept, sources removed`, async () => {
    await withTempDir(async (dir) => {
      await Deno.mkdir(`${dir}/module`);
      const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/module` }]);
      try {
        const source = route.sourceDir(dir);
        await makeLinkedSource(source);
        const [src, dst] = route.ends(dir, "mirrored", daemon);
        const out = route.destDir(dir, "mirrored");
        await makeTree(out, { "extra.txt": "only here" });
        const json = JSON.parse(ok(await runBlit(["mirror", "-H", "--yes", "--json", src, dst])));
        equal(json.files_failed, 0);
        equal(json.entries_deleted, 1);
        equal(json.bytes_transferred, "one file, three names\n".length + "alone\n".length);
        await assertLinked(out);

        const [from, to] = route.ends(dir, "moved", daemon);
        ok(await runBlit(["move", "-H", from, to]));
        await assertLinked(route.destDir(dir, "moved"));
        for (const name of [...NAMES, "solo.txt"]) {
          equal(await exists(`${source}/${name}`), false, `${name} removed from the source`);
        }
      } finally {
        await daemon.stop();
      }
    });
  });
}

Deno.test("-H: a dry run lists the links and makes nothing", async () => {
  await withTempDir(async (dir) => {
    await makeLinkedSource(`${dir}/src`);
    const out = ok(await runBlit(["copy", "-H", "-n", "-i", `${dir}/src/`, `${dir}/dst`]));
    match(out, /^hf\+{9} d1\/a\.txt => c\.txt$/m);
    equal(await exists(`${dir}/dst`), false);
  });
});

Deno.test("-H: a link whose first name was left as it was fails, naming why", async () => {
  await withTempDir(async (dir) => {
    await makeLinkedSource(`${dir}/src`);
    await makeTree(`${dir}/dst`, { "c.txt": "another version\n" });
    const r = await runBlit(["copy", "-H", "--ignore-existing", `${dir}/src/`, `${dir}/dst`]);
    equal(r.code, 2, r.stderr);
    assertNoStack(r.stderr);
    match(
      r.stderr,
      /d1\/a\.txt: Cannot make the hard link to "c\.txt": it does not hold this file's version/,
    );
    equal(await Deno.readTextFile(`${dir}/dst/c.txt`), "another version\n");
    equal(await exists(`${dir}/dst/d1/a.txt`), false);
    equal(await Deno.readTextFile(`${dir}/dst/solo.txt`), "alone\n");
  });
});
