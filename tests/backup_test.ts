/**
 * Backups (`-b`, `--backup-dir DIR`, `--suffix SUFFIX`) through the real CLI, on every route:
 * local, push (local SRC → daemon module) and pull (daemon SRC → local DST) against a real
 * `blitd` on 127.0.0.1. Replaced files keep their old bytes beside them or under the backup
 * directory, mirror's deletions are moved there instead of lost, the backup directory survives
 * the next mirror, a backup directory outside the destination is refused before anything is
 * written, and a link inside a module cannot lead a backup out of it.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startDaemon, type TestDaemon } from "./_daemon.ts";
import {
  assertNoStack,
  makeTree,
  readTree,
  runBlit,
  setMtime,
  type TreeSpec,
  withTempDir,
} from "./_helpers.ts";

/** The source's files' time, and the older time of the destination's old versions. */
const NEW_TIME = Date.UTC(2024, 5, 1, 12, 0, 0);
const OLD_TIME = Date.UTC(2020, 0, 1, 0, 0, 0);

/** One route: how the CLI names both sides, and where they are on disk. */
interface Route {
  name: string;
  /** The source as typed (contents of the directory: trailing slash). */
  srcArg: string;
  /** The destination as typed. */
  dstArg: string;
  /** The source directory on disk. */
  srcDisk: string;
  /** The destination directory on disk. */
  dstDisk: string;
}

/** The three routes of one case, under `dir`, with the daemon's module at `dir/module`. */
function routes(dir: string, daemon: TestDaemon, label: string): Route[] {
  const remote = `${daemon.address}:/m`;
  return [
    {
      name: "local",
      srcArg: `${dir}/${label}-local-src/`,
      dstArg: `${dir}/${label}-local-dst`,
      srcDisk: `${dir}/${label}-local-src`,
      dstDisk: `${dir}/${label}-local-dst`,
    },
    {
      name: "push",
      srcArg: `${dir}/${label}-push-src/`,
      dstArg: `${remote}/${label}-push-dst`,
      srcDisk: `${dir}/${label}-push-src`,
      dstDisk: `${dir}/module/${label}-push-dst`,
    },
    {
      name: "pull",
      srcArg: `${remote}/${label}-pull-src/`,
      dstArg: `${dir}/${label}-pull-dst`,
      srcDisk: `${dir}/module/${label}-pull-src`,
      dstDisk: `${dir}/${label}-pull-dst`,
    },
  ];
}

/** Creates a tree whose files all carry `time`. */
async function makeTimedTree(root: string, spec: TreeSpec, time: number): Promise<void> {
  await Deno.mkdir(root, { recursive: true });
  await makeTree(root, spec);
  for (const [path, value] of Object.entries(spec)) {
    if (typeof value === "string") await setMtime(`${root}/${path}`, time);
  }
}

/** Rewrites one source file with new bytes and a newer time. */
async function rewrite(path: string, text: string, time: number): Promise<void> {
  await Deno.writeTextFile(path, text);
  await setMtime(path, time);
}

/** The files of a tree, path → text (links and directories left out). */
async function filesOf(root: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const [path, entry] of Object.entries(await readTree(root))) {
    if (entry.kind === "file") files[path] = entry.content ?? "";
  }
  return files;
}

/** Runs the CLI and asserts it succeeded. */
async function blitOk(args: string[]): Promise<void> {
  const result = await runBlit(args);
  equal(result.code, 0, `${args.join(" ")}\n${result.stderr}`);
  assertNoStack(result.stderr);
}

/** Starts a daemon exporting `dir/module` as `m`, runs `body`, and stops it. */
async function withDaemon(
  dir: string,
  body: (daemon: TestDaemon) => Promise<void>,
): Promise<void> {
  await Deno.mkdir(`${dir}/module`);
  const daemon = await startDaemon(dir, [{ name: "m", path: `${dir}/module` }]);
  try {
    await body(daemon);
  } finally {
    await daemon.stop();
  }
}

Deno.test("backup: copy -b keeps the replaced file as NAME~, --suffix names it, on every route", async (t) => {
  await withTempDir(async (dir) => {
    await withDaemon(dir, async (daemon) => {
      for (const route of routes(dir, daemon, "suffix")) {
        await t.step(route.name, async () => {
          await makeTimedTree(route.srcDisk, { "a.txt": "new A", "sub/b.txt": "same" }, NEW_TIME);
          await makeTimedTree(route.dstDisk, { "a.txt": "old A", "sub/b.txt": "same" }, OLD_TIME);
          await setMtime(`${route.dstDisk}/sub/b.txt`, NEW_TIME);

          await blitOk(["copy", "-b", route.srcArg, route.dstArg]);
          deepEqual(await filesOf(route.dstDisk), {
            "a.txt": "new A",
            "a.txt~": "old A",
            "sub/b.txt": "same", // not replaced: no backup
          });

          await rewrite(`${route.srcDisk}/a.txt`, "newest A", NEW_TIME + 60_000);
          await blitOk(["copy", "-b", "--suffix", ".bak", route.srcArg, route.dstArg]);
          deepEqual(await filesOf(route.dstDisk), {
            "a.txt": "newest A",
            "a.txt.bak": "new A",
            "a.txt~": "old A",
            "sub/b.txt": "same",
          });
        });
      }
    });
  });
});

Deno.test("backup: mirror --backup-dir moves replaced and deleted entries under DIR, and keeps DIR", async (t) => {
  await withTempDir(async (dir) => {
    await withDaemon(dir, async (daemon) => {
      for (const route of routes(dir, daemon, "dir")) {
        await t.step(route.name, async () => {
          await makeTimedTree(route.srcDisk, {
            "a.txt": "new A",
            "sub/b.txt": "new B",
            "keep.txt": "k",
          }, NEW_TIME);
          await makeTimedTree(route.dstDisk, {
            "a.txt": "old A",
            "sub/b.txt": "old B",
            "keep.txt": "k",
            "gone.txt": "gone",
            "sub/gone-too.txt": "gone too",
            "gdir/x/f.txt": "deep",
          }, OLD_TIME);
          await setMtime(`${route.dstDisk}/keep.txt`, NEW_TIME);

          await blitOk(["mirror", "--yes", "--backup-dir", "old", route.srcArg, route.dstArg]);
          deepEqual(await filesOf(route.dstDisk), {
            "a.txt": "new A",
            "keep.txt": "k",
            "old/a.txt": "old A",
            "old/gdir/x/f.txt": "deep",
            "old/gone.txt": "gone",
            "old/sub/b.txt": "old B",
            "old/sub/gone-too.txt": "gone too",
            "sub/b.txt": "new B",
          });
          // The emptied directory was removed, not kept empty.
          equal((await readTree(route.dstDisk))["gdir"], undefined);

          // The next mirror leaves the backup directory alone, and replaces an older backup.
          await rewrite(`${route.srcDisk}/a.txt`, "newest A", NEW_TIME + 60_000);
          await blitOk(["mirror", "--yes", "--backup-dir", "old/", route.srcArg, route.dstArg]);
          deepEqual(await filesOf(route.dstDisk), {
            "a.txt": "newest A",
            "keep.txt": "k",
            "old/a.txt": "new A",
            "old/gdir/x/f.txt": "deep",
            "old/gone.txt": "gone",
            "old/sub/b.txt": "old B",
            "old/sub/gone-too.txt": "gone too",
            "sub/b.txt": "new B",
          });
        });
      }
    });
  });
});

Deno.test("backup: mirror -b keeps deleted entries beside them, and never deletes NAME~", async () => {
  await withTempDir(async (dir) => {
    await makeTimedTree(`${dir}/src`, { "a.txt": "a" }, NEW_TIME);
    await makeTimedTree(`${dir}/dst`, {
      "a.txt": "a",
      "gone.txt": "gone",
      "gdir/f.txt": "f",
      "earlier.txt~": "an older backup",
    }, OLD_TIME);
    await setMtime(`${dir}/dst/a.txt`, NEW_TIME);
    await blitOk(["mirror", "--yes", "-b", `${dir}/src/`, `${dir}/dst`]);
    deepEqual(await filesOf(`${dir}/dst`), {
      "a.txt": "a",
      "earlier.txt~": "an older backup",
      "gdir~/f.txt": "f",
      "gone.txt~": "gone",
    });
    // Nothing left to delete: the backups are protected (rsync's `P *~`).
    await blitOk(["mirror", "--yes", "-b", `${dir}/src/`, `${dir}/dst`]);
    equal(Object.keys(await filesOf(`${dir}/dst`)).length, 4);
  });
});

Deno.test("backup: a dry run moves nothing", async () => {
  await withTempDir(async (dir) => {
    await makeTimedTree(`${dir}/src`, { "a.txt": "new A" }, NEW_TIME);
    await makeTimedTree(`${dir}/dst`, { "a.txt": "old A", "gone.txt": "gone" }, OLD_TIME);
    const before = await readTree(`${dir}/dst`);
    await blitOk(["mirror", "--yes", "-n", "--backup-dir", "old", `${dir}/src/`, `${dir}/dst`]);
    await blitOk(["copy", "-n", "-b", `${dir}/src/`, `${dir}/dst`]);
    deepEqual(await readTree(`${dir}/dst`), before);
  });
});

Deno.test("backup: --backup-dir outside the destination is refused before anything is written", async (t) => {
  await withTempDir(async (dir) => {
    await withDaemon(dir, async (daemon) => {
      for (const route of routes(dir, daemon, "escape")) {
        await t.step(route.name, async () => {
          await makeTimedTree(route.srcDisk, { "a.txt": "new A" }, NEW_TIME);
          await makeTimedTree(route.dstDisk, { "a.txt": "old A", "gone.txt": "g" }, OLD_TIME);
          const before = await readTree(dir);
          for (const backupDir of ["../escape", "/abs/escape"]) {
            const result = await runBlit([
              "mirror",
              "--yes",
              "--backup-dir",
              backupDir,
              route.srcArg,
              route.dstArg,
            ]);
            equal(result.code, 1, result.stderr);
            const lines = result.stderr.trimEnd().split("\n");
            equal(lines.length, 1, result.stderr);
            match(lines[0] ?? "", /^blit: Cannot use --backup-dir /);
            assertNoStack(result.stderr);
          }
          deepEqual(await readTree(dir), before);
        });
      }
    });
  });
});

Deno.test("backup: a link in the module cannot lead a push's backups outside it", async () => {
  await withTempDir(async (dir) => {
    await withDaemon(dir, async (daemon) => {
      await Deno.mkdir(`${dir}/outside`);
      await makeTimedTree(`${dir}/src`, { "a.txt": "new A" }, NEW_TIME);
      await makeTimedTree(`${dir}/module/dst`, { "a.txt": "old A", "gone.txt": "g" }, OLD_TIME);
      await Deno.symlink(`${dir}/outside`, `${dir}/module/dst/old`);
      await Deno.mkdir(`${dir}/module/dst/via`);
      await Deno.symlink(`${dir}/outside`, `${dir}/module/dst/via/link`);
      for (const backupDir of ["old", "via/link/deeper"]) {
        const result = await runBlit([
          "mirror",
          "--yes",
          "--backup-dir",
          backupDir,
          `${dir}/src/`,
          `${daemon.address}:/m/dst`,
        ]);
        ok(result.code !== 0, `the backup must be refused:\n${result.stderr}`);
        match(result.stderr, /a\.txt.*Cannot keep a backup of the old version/);
        assertNoStack(result.stderr);
        // Nothing outside the module, and the old version stays in place.
        deepEqual(await readTree(`${dir}/outside`), {});
        deepEqual(await filesOf(`${dir}/module/dst`), { "a.txt": "old A", "gone.txt": "g" });
      }
      // The links themselves are never deleted, as the backup directory (or on its way).
      equal((await Deno.lstat(`${dir}/module/dst/old`)).isSymlink, true);
      equal((await Deno.lstat(`${dir}/module/dst/via/link`)).isSymlink, true);
    });
  });
});
