/**
 * Issue #11: mode bits applied as sent. A push or a pull of an entry with mode `0o6777` gave
 * `-rwsrwsrwx root` files on the receiving side (the daemon runs as root), so whoever may write
 * a module could plant setuid programs there, and a daemon could plant them on a pulling client.
 *
 * The rule now (`receivedMode` in `core/session/plan.ts`, one place for every route): what a
 * daemon's module receives loses its setuid, setgid and sticky bits unless the module says
 * `keep_special_bits = true` (`root_keep_special_bits` for the default root); what a pull
 * receives loses them unless the client passes `--keep-special-bits`; a local copy keeps them,
 * as `rsync -a` does. Every run here is the real `blit` against a real `blitd`.
 *
 * @module
 */

import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { startDaemon, TEST_USER, type TestDaemon } from "../_daemon.ts";
import { runBlit, type RunResult, withTempDir } from "../_helpers.ts";

/** Mode of each entry of the source tree (relative paths; `""` is the root directory). */
const SOURCE_MODES: Record<string, number> = {
  "": 0o755,
  "suid.bin": 0o6777,
  "setuid.sh": 0o4755,
  "plain.txt": 0o640,
  "shared": 0o2775,
  "shared/f.txt": 0o644,
  "tmp": 0o1777,
  "tmp/g.txt": 0o2664,
};

/** The same tree with setuid, setgid and sticky bits dropped. */
const MASKED: Record<string, number> = Object.fromEntries(
  Object.entries(SOURCE_MODES).map(([path, mode]) => [path, mode & 0o777]),
);

/** Builds the source tree under `root` (modes set after the contents, deepest first). */
async function buildSource(root: string): Promise<void> {
  await Deno.mkdir(`${root}/shared`, { recursive: true });
  await Deno.mkdir(`${root}/tmp`, { recursive: true });
  for (const path of Object.keys(SOURCE_MODES)) {
    if (path !== "" && !(path === "shared" || path === "tmp")) {
      await Deno.writeTextFile(`${root}/${path}`, `contents of ${path}\n`);
    }
  }
  const deepestFirst = Object.keys(SOURCE_MODES).sort((a, b) => b.length - a.length);
  for (const path of deepestFirst) {
    await Deno.chmod(path === "" ? root : `${root}/${path}`, SOURCE_MODES[path] as number);
  }
  deepStrictEqual(await modesOf(root), SOURCE_MODES, "the source tree was built as declared");
}

/** The permission bits (with special bits) of every entry of the tree at `root`. */
async function modesOf(root: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const walk = async (abs: string, rel: string): Promise<void> => {
    const info = await Deno.lstat(abs);
    out[rel] = (info.mode ?? 0) & 0o7777;
    if (!info.isDirectory) return;
    for await (const entry of Deno.readDir(abs)) {
      await walk(`${abs}/${entry.name}`, rel === "" ? entry.name : `${rel}/${entry.name}`);
    }
  };
  await walk(root, "");
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** Octal text of a mode table, for readable failures. */
function octal(modes: Record<string, number>): Record<string, string> {
  return Object.fromEntries(Object.entries(modes).map(([p, m]) => [p, `0o${m.toString(8)}`]));
}

/** Runs `blit copy` and checks it succeeded. */
async function copy(args: string[]): Promise<RunResult> {
  const result = await runBlit(["copy", ...args, "--no-history"]);
  strictEqual(result.code, 0, `blit copy ${args.join(" ")}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** Asserts the modes of the tree at `root`. */
async function assertModes(root: string, want: Record<string, number>, what: string) {
  deepStrictEqual(octal(await modesOf(root)), octal(want), what);
}

Deno.test({
  name: "hostile: a daemon module and a pulling client drop setuid, setgid and sticky bits",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await withTempDir(async (dir) => {
      await buildSource(`${dir}/src`);
      await Deno.mkdir(`${dir}/m`);
      await buildSource(`${dir}/m/src`);
      const daemon: TestDaemon = await startDaemon(dir, [{ name: "m", path: `${dir}/m` }]);
      try {
        await t.step("push: the module drops them", async () => {
          await copy([`${dir}/src/`, `${daemon.address}:/m/pushed/`]);
          await assertModes(`${dir}/m/pushed`, MASKED, "pushed into a module");
        });
        await t.step("push with --keep-special-bits: the module still decides", async () => {
          await copy([`${dir}/src/`, `${daemon.address}:/m/asked/`, "--keep-special-bits"]);
          await assertModes(`${dir}/m/asked`, MASKED, "the client cannot override the module");
        });
        await t.step("pull: the client drops them", async () => {
          await copy([`${daemon.address}:/m/src/`, `${dir}/pulled`]);
          await assertModes(`${dir}/pulled`, MASKED, "pulled from a module");
        });
        await t.step("local: a local copy keeps them, as rsync -a does", async () => {
          await copy([`${dir}/src/`, `${dir}/local`]);
          await assertModes(`${dir}/local`, SOURCE_MODES, "copied locally");
        });
      } finally {
        await daemon.stop();
      }
    });
  },
});

Deno.test({
  name: "hostile: keep_special_bits, root_keep_special_bits and --keep-special-bits keep them",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await withTempDir(async (dir) => {
      await buildSource(`${dir}/src`);
      await Deno.mkdir(`${dir}/m`);
      await buildSource(`${dir}/m/src`);
      await Deno.mkdir(`${dir}/k`);
      await Deno.mkdir(`${dir}/root`);
      const daemon = await startDaemon(
        dir,
        [
          { name: "m", path: `${dir}/m` },
          { name: "k", path: `${dir}/k`, keepSpecialBits: true },
        ],
        [
          `root = "${dir}/root"`,
          `root_users = ["${TEST_USER}"]`,
          "root_keep_special_bits = true",
        ],
      );
      try {
        await t.step("push to a module with keep_special_bits = true", async () => {
          await copy([`${dir}/src/`, `${daemon.address}:/k/pushed/`]);
          await assertModes(`${dir}/k/pushed`, SOURCE_MODES, "pushed into a keeping module");
        });
        await t.step("push to a default root with root_keep_special_bits = true", async () => {
          await copy([`${dir}/src/`, `${daemon.address}://pushed/`]);
          await assertModes(`${dir}/root/pushed`, SOURCE_MODES, "pushed into a keeping root");
        });
        await t.step("pull with --keep-special-bits", async () => {
          await copy([`${daemon.address}:/m/src/`, `${dir}/pulled`, "--keep-special-bits"]);
          await assertModes(`${dir}/pulled`, SOURCE_MODES, "pulled with the flag");
        });
        await t.step("the daemon warns about the modules that keep them", () => {
          const log = daemon.log();
          strictEqual(/module "k" keeps setuid, setgid and sticky bits/.test(log), true, log);
          strictEqual(/the default root keeps setuid, setgid and sticky bits/.test(log), true, log);
        });
      } finally {
        await daemon.stop();
      }
    });
  },
});
