/**
 * `-x` / `--one-file-system` through the real CLI and daemon: a tmpfs mounted inside the source
 * is announced as an empty directory and never entered, on a local run, a push and a pull; a
 * mirror keeps what the destination holds under the mount point. Needs root (to mount a tmpfs);
 * otherwise the tests are skipped with the reason printed.
 *
 * @module
 */

import { deepStrictEqual, equal } from "node:assert/strict";
import { startDaemon } from "./_daemon.ts";
import { assertNoStack, makeTree, readTree, runBlit, withTempDir } from "./_helpers.ts";
import { ContainedTree } from "../core/contained_tree.ts";
import { PlainTree } from "../core/tree.ts";
import { type WalkGroup, walkTree } from "../core/walk.ts";

/** Runs a command; returns its exit code and stderr. */
function run(command: string, args: string[]): { code: number; stderr: string } {
  try {
    const out = new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).outputSync();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
  } catch (error) {
    return { code: -1, stderr: error instanceof Error ? error.message : String(error) };
  }
}

/** Mounts a small tmpfs at `path` (an existing directory). */
function mountTmpfs(path: string): void {
  const r = run("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", path]);
  if (r.code !== 0) throw new Error(`Cannot mount a tmpfs at ${path}: ${r.stderr}`);
}

/** Unmounts `path`, if mounted (lazily when busy, so that a failing test never leaves it). */
function unmount(path: string): void {
  if (run("umount", [path]).code !== 0) run("umount", ["-l", path]);
}

/** Why the tests cannot run here, or `null` when a tmpfs can be mounted. */
function cannotMount(): string | null {
  if (Deno.build.os !== "linux") return "not Linux";
  if (Deno.uid() !== 0) return "not root (mounting a tmpfs needs root)";
  const dir = Deno.makeTempDirSync({ prefix: "blit-x-probe-" });
  try {
    const r = run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
    if (r.code !== 0) return `mount fails: ${r.stderr || `exit ${r.code}`}`;
    unmount(dir);
    return null;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const skipReason = cannotMount();
if (skipReason !== null) console.log(`one_file_system_test: skipped (${skipReason})`);

/** What the source holds outside the mount point, and inside it. */
const OUTSIDE = { "a.txt": "alpha", "sub/b.txt": "beta", "sub/deep/c.txt": "gamma" };
const INSIDE = { "inner.txt": "on tmpfs", "nested/d.txt": "delta on tmpfs" };

/**
 * Creates `root` with the files outside the mount point, mounts a tmpfs at `root/mnt` (recorded
 * in `mounts` at once, for the caller's `finally` to unmount) and fills it.
 */
async function sourceWithMount(root: string, mounts: string[]): Promise<void> {
  await makeTree(root, { ...OUTSIDE, "mnt": { dir: true } });
  const mount = `${root}/mnt`;
  mountTmpfs(mount);
  mounts.push(mount);
  await makeTree(mount, INSIDE);
}

/** Paths of the files under `root`, sorted. */
async function filesUnder(root: string): Promise<string[]> {
  const tree = await readTree(root);
  return Object.keys(tree).filter((path) => tree[path]?.kind === "file").sort();
}

/** Asserts a `--json` run succeeded with no failures; returns the summary. */
function succeeded(r: { code: number; stdout: string; stderr: string }): Record<string, unknown> {
  equal(r.code, 0, r.stderr);
  assertNoStack(r.stderr);
  const summary = JSON.parse(r.stdout) as Record<string, unknown>;
  equal(summary.files_failed, 0, r.stdout);
  return summary;
}

/** Asserts `dst` holds the files outside the mount and an empty `mnt` directory. */
async function assertStayedOnOneFileSystem(dst: string): Promise<void> {
  deepStrictEqual(await filesUnder(dst), Object.keys(OUTSIDE).sort());
  equal((await Deno.lstat(`${dst}/mnt`)).isDirectory, true, "the mount point is created");
  deepStrictEqual(await Array.fromAsync(Deno.readDir(`${dst}/mnt`)), []);
  equal(await Deno.readTextFile(`${dst}/sub/deep/c.txt`), "gamma");
}

Deno.test({
  name: "-x on a local run: the mount point is created empty, nothing under it is copied",
  ignore: skipReason !== null,
  fn: async (t) => {
    await withTempDir(async (dir) => {
      const mounts: string[] = [];
      try {
        await sourceWithMount(`${dir}/src`, mounts);
        await t.step("without -x the tmpfs is crossed (the mount is real)", async () => {
          succeeded(await runBlit(["copy", `${dir}/src/`, `${dir}/whole`, "--json"]));
          equal(await Deno.readTextFile(`${dir}/whole/mnt/nested/d.txt`), "delta on tmpfs");
        });
        await t.step("copy -x", async () => {
          const summary = succeeded(
            await runBlit(["copy", "-x", `${dir}/src/`, `${dir}/dst`, "--json"]),
          );
          equal(summary.outcome, "transferred");
          await assertStayedOnOneFileSystem(`${dir}/dst`);
        });
        await t.step(
          "mirror -x --yes keeps what the destination holds under the mount point",
          async () => {
            await makeTree(`${dir}/mirrored`, {
              "mnt/kept.txt": "destination's own",
              "mnt/deeper/kept2.txt": "also kept",
              "gone.txt": "not in the source",
            });
            const summary = succeeded(
              await runBlit([
                "mirror",
                "--one-file-system",
                "--yes",
                `${dir}/src/`,
                `${dir}/mirrored`,
                "--json",
              ]),
            );
            equal(summary.entries_deleted, 1, JSON.stringify(summary));
            deepStrictEqual(
              await filesUnder(`${dir}/mirrored`),
              [...Object.keys(OUTSIDE), "mnt/deeper/kept2.txt", "mnt/kept.txt"].sort(),
            );
            equal(await Deno.readTextFile(`${dir}/mirrored/mnt/kept.txt`), "destination's own");
          },
        );
      } finally {
        for (const mount of mounts) unmount(mount);
      }
    });
  },
});

Deno.test({
  name: "move -x: the files outside the mount move, the tmpfs is left alone",
  ignore: skipReason !== null,
  fn: async () => {
    await withTempDir(async (dir) => {
      const mounts: string[] = [];
      try {
        await sourceWithMount(`${dir}/src`, mounts);
        const summary = succeeded(
          await runBlit(["move", "-x", `${dir}/src/`, `${dir}/dst`, "--json"]),
        );
        equal(summary.sources_removed, Object.keys(OUTSIDE).length, JSON.stringify(summary));
        await assertStayedOnOneFileSystem(`${dir}/dst`);
        deepStrictEqual(await filesUnder(`${dir}/src`), Object.keys(INSIDE).map((p) => `mnt/${p}`));
      } finally {
        for (const mount of mounts) unmount(mount);
      }
    });
  },
});

Deno.test({
  name: "walkTree() with oneFileSystem lists a mount point and does not enter it",
  ignore: skipReason !== null,
  fn: async () => {
    await withTempDir(async (dir) => {
      const mounts: string[] = [];
      try {
        await sourceWithMount(`${dir}/src`, mounts);
        const root = await Deno.realPath(`${dir}/src`);
        for (const tree of [new PlainTree(root), ContainedTree.open(root)]) {
          const groups: WalkGroup[] = [];
          const errors: string[] = [];
          const walk = walkTree(tree, {
            filter: () => true,
            onError: (path, message) => errors.push(`${path}: ${message}`),
            oneFileSystem: true,
          });
          for await (const group of walk) groups.push(group);
          deepStrictEqual(errors, []);
          deepStrictEqual(groups.map((g) => g.dir), ["", "sub", "sub/deep"]);
          deepStrictEqual(groups[0]?.mountPoints, ["mnt"]);
          equal(groups.every((g) => g.complete), true);
        }
      } finally {
        for (const mount of mounts) unmount(mount);
      }
    });
  },
});

Deno.test({
  name: "-x through the daemon: push and pull stay on the source's file system",
  ignore: skipReason !== null,
  sanitizeResources: false,
  fn: async (t) => {
    await withTempDir(async (dir) => {
      await Deno.mkdir(`${dir}/mod`);
      const mounts: string[] = [];
      try {
        await sourceWithMount(`${dir}/src`, mounts);
        // Mounted before the daemon starts: with `confinement = auto` its server runs in a
        // private mount namespace (bubblewrap), which does not see a mount made after it started.
        await sourceWithMount(`${dir}/mod/tree`, mounts);
        const daemon = await startDaemon(dir, [{ name: "mod", path: `${dir}/mod` }]);
        try {
          await t.step("push: copy -x SRC/ daemon", async () => {
            succeeded(
              await runBlit([
                "copy",
                "-x",
                `${dir}/src/`,
                `${daemon.address}:/mod/pushed/`,
                "--json",
              ]),
            );
            await assertStayedOnOneFileSystem(`${dir}/mod/pushed`);
          });
          await t.step(
            "push: mirror -x --yes keeps the module's files under the mount point",
            async () => {
              await makeTree(`${dir}/mod/pushed`, { "mnt/kept.txt": "module's own", "x.txt": "x" });
              const summary = succeeded(
                await runBlit([
                  "mirror",
                  "-x",
                  "--yes",
                  `${dir}/src/`,
                  `${daemon.address}:/mod/pushed/`,
                  "--json",
                ]),
              );
              equal(summary.entries_deleted, 1, JSON.stringify(summary));
              deepStrictEqual(
                await filesUnder(`${dir}/mod/pushed`),
                [...Object.keys(OUTSIDE), "mnt/kept.txt"].sort(),
              );
            },
          );
          await t.step(
            "pull: the daemon's walk inside its module stays off the tmpfs",
            async () => {
              succeeded(
                await runBlit([
                  "copy",
                  "-x",
                  `${daemon.address}:/mod/tree/`,
                  `${dir}/pulled`,
                  "--json",
                ]),
              );
              await assertStayedOnOneFileSystem(`${dir}/pulled`);
            },
          );
          await t.step("pull without -x crosses it (the daemon sees the mount)", async () => {
            succeeded(
              await runBlit(["copy", `${daemon.address}:/mod/tree/`, `${dir}/whole`, "--json"]),
            );
            equal(await Deno.readTextFile(`${dir}/whole/mnt/inner.txt`), "on tmpfs");
          });
        } finally {
          await daemon.stop();
        }
      } finally {
        for (const mount of mounts) unmount(mount);
      }
    });
  },
});
