/**
 * The contained tree's per-session checks (`core/verified_dirs.ts`, `core/contained_dir.ts`):
 * directories verified once and checked again at every use, entries that must be the ones seen,
 * removals through a name of the session's own, and the path limits.
 *
 * @module
 */

import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { ContainedTree } from "../core/contained_tree.ts";
import { PathEscapeError, PathInvalidError } from "../core/errors.ts";
import { MAX_WIRE_PATH_DEPTH, validateWirePath } from "../core/paths.ts";
import { lstatOrNull, PlainTree, TEMP_PREFIX } from "../core/tree.ts";
import { withTempDir } from "./_helpers.ts";

/** A real temporary directory (no link in its path) with `spec` files in it. */
async function planted(dir: string, spec: Record<string, string>): Promise<string> {
  const root = await Deno.realPath(dir);
  for (const [path, text] of Object.entries(spec)) {
    await Deno.mkdir(`${root}/${path}`.slice(0, `${root}/${path}`.lastIndexOf("/")), {
      recursive: true,
    });
    await Deno.writeTextFile(`${root}/${path}`, text);
  }
  return root;
}

/** Exchanges `a` for a link to `target` (the directory itself moves to `a.moved`). */
function swapForLink(a: string, target: string): void {
  Deno.renameSync(a, `${a}.moved`);
  Deno.symlinkSync(target, a);
}

Deno.test("contained dir: a directory verified once is checked, not walked, and never replaced", async (t) => {
  await withTempDir(async (dir) => {
    const root = await planted(dir, { "a/b/x.txt": "inside", "outside/b/x.txt": "outside" });
    const tree = ContainedTree.open(root);
    await t.step("a link in place of a verified directory is refused at the next open", () => {
      const b = tree.dir("a/b");
      equal(b.stat("x.txt")?.size, 6);
      swapForLink(`${root}/a`, `${root}/outside`);
      throws(() => tree.dir("a/b"), PathEscapeError);
      throws(() => b.openRead("x.txt"), /changed/);
      throws(() => b.list(), /changed during the session/);
      Deno.removeSync(`${root}/a`);
      Deno.renameSync(`${root}/a.moved`, `${root}/a`);
      equal(tree.dir("a/b").stat("x.txt")?.size, 6, "the same directory back is accepted");
    });
    await t.step("another real directory in its place is refused too", () => {
      Deno.renameSync(`${root}/a`, `${root}/a.old`);
      Deno.mkdirSync(`${root}/a/b`, { recursive: true });
      throws(() => tree.dir("a/b"), /changed during the session/);
      Deno.removeSync(`${root}/a`, { recursive: true });
      Deno.renameSync(`${root}/a.old`, `${root}/a`);
    });
    await t.step("a directory this session removed is verified afresh", () => {
      const top = tree.dir("");
      top.mkdir("fresh", 0o755);
      tree.dir("fresh");
      top.remove("fresh");
      top.mkdir("fresh", 0o755);
      equal(tree.dir("fresh").list().length, 0);
    });
  });
});

Deno.test("contained dir: reads and removals take only the entry that was seen", async (t) => {
  await withTempDir(async (dir) => {
    const root = await planted(dir, {
      "m/d/x.txt": "inside",
      "m/d/y.txt": "inside too",
      "m/d/sub/z.txt": "z",
      "m/d/full/w.txt": "w",
    });
    const tree = ContainedTree.open(`${root}/m`);
    const d = tree.dir("d");
    for (const item of d.list()) d.stat(item.name);
    await t.step("a file replaced after it was listed is not read, nor removed", () => {
      Deno.writeTextFileSync(`${root}/m/d/new.txt`, "replacement");
      Deno.renameSync(`${root}/m/d/new.txt`, `${root}/m/d/x.txt`);
      throws(() => d.openRead("x.txt"), /changed since it was listed/);
      throws(() => d.remove("x.txt"), /changed since it was listed/);
      equal(Deno.readTextFileSync(`${root}/m/d/x.txt`), "replacement");
    });
    await t.step("a file read is the file that was checked", () => {
      using file = d.openRead("y.txt");
      equal(file.statSync().size, 10);
    });
    await t.step("removals leave no name of their own behind", () => {
      d.remove("y.txt");
      d.remove("sub", { recursive: true });
      throws(() => d.remove("full"), /not empty/i);
      deepStrictEqual(
        Array.from(Deno.readDirSync(`${root}/m/d`)).map((e) => e.name).sort(),
        ["full", "x.txt"],
      );
      equal(Deno.readTextFileSync(`${root}/m/d/full/w.txt`), "w");
    });
    await t.step("a temporary is created, written and renamed into place", () => {
      const temp = d.createTemp("t.txt", 0o644);
      temp.file.writeSync(new TextEncoder().encode("temp"));
      temp.file.close();
      d.rename(temp.name, "t.txt");
      equal(Deno.readTextFileSync(`${root}/m/d/t.txt`), "temp");
    });
    await t.step("the directory itself is never removed nor read as another entry", () => {
      throws(() => d.remove(""), PathInvalidError);
      equal(d.stat("")?.kind, "dir");
    });
  });
});

Deno.test("contained dir: a subtree is pinned to the directory its path led to", async () => {
  await withTempDir(async (dir) => {
    const root = await planted(dir, { "m/d/x.txt": "inside", "other/x.txt": "outside" });
    const tree = ContainedTree.open(`${root}/m`);
    const sub = tree.sub("d");
    swapForLink(`${root}/m/d`, `${root}/other`);
    throws(() => sub.dir("").list(), /changed during the session/);
    throws(() => tree.sub("d"), PathEscapeError);
  });
});

Deno.test("contained dir: paths over the limits are refused by name", async () => {
  await withTempDir(async (dir) => {
    const root = await Deno.realPath(dir);
    const tree = ContainedTree.open(root);
    const deep = Array(MAX_WIRE_PATH_DEPTH + 1).fill("a").join("/");
    throws(() => validateWirePath(deep), /deeper than 1024 levels/);
    throws(() => tree.dir(deep), /deeper than 1024 levels/);
    // Directories whose path nearly fills PATH_MAX: one more long name does not fit.
    const name = "n".repeat(250);
    const rel = Array(16).fill(name).join("/");
    await Deno.mkdir(`${root}/${rel}`, { recursive: true });
    const full = tree.dir(rel);
    throws(
      () => full.stat(name),
      (error: unknown) =>
        error instanceof PathInvalidError && /PATH_MAX/.test(error.message) &&
        !error.message.includes(root),
    );
    ok(full.stat("short") === null, "a short name still fits");
  });
});

Deno.test("setAside(): the old version leaves its name for the rename, then goes; or comes back", async (t) => {
  for (const kind of ["plain", "contained"] as const) {
    await t.step(kind, async () => {
      await withTempDir(async (dir) => {
        const root = await planted(dir, { "d/f.bin": "old", "d/new.tmp": "new" });
        const tree = kind === "plain" ? new PlainTree(root) : ContainedTree.open(root);
        const d = tree.dir("d");
        const names = () => [...Deno.readDirSync(`${root}/d`)].map((e) => e.name).sort();
        const aside = d.setAside!("f.bin");
        const extra = names().filter((n) => n.startsWith(TEMP_PREFIX));
        equal(extra.length, 1, `names: ${names()}`);
        equal(lstatOrNull(`${root}/d/f.bin`), null);
        equal(Deno.readTextFileSync(`${root}/d/${extra[0]}`), "old");
        d.rename("new.tmp", "f.bin");
        equal(Deno.readTextFileSync(`${root}/d/f.bin`), "new");
        await aside.release();
        deepStrictEqual(names(), ["f.bin"]);
        // A failed replacement puts the old version back; it never takes a name another took.
        const again = d.setAside!("f.bin");
        again.putBack();
        deepStrictEqual(names(), ["f.bin"]);
        equal(Deno.readTextFileSync(`${root}/d/f.bin`), "new");
        const third = d.setAside!("f.bin");
        Deno.writeTextFileSync(`${root}/d/f.bin`, "another");
        third.putBack();
        equal(Deno.readTextFileSync(`${root}/d/f.bin`), "another");
        equal(names().filter((n) => n.startsWith(TEMP_PREFIX)).length, 1);
        throws(() => d.setAside!("missing"));
        // Not a regular file: refused, and left where it was.
        Deno.mkdirSync(`${root}/d/sub`);
        throws(() => d.setAside!("sub"));
        equal(Deno.statSync(`${root}/d/sub`).isDirectory, true);
      });
    });
  }
});
