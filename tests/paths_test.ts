import {
  deepStrictEqual as assertEquals,
  ok as assert,
  rejects as assertRejects,
  strictEqual,
  throws as assertThrows,
} from "node:assert/strict";
import { join } from "node:path";
import {
  ContainedRoot,
  fromLocalRelative,
  MAX_COMPONENT_BYTES,
  PathEscapeError,
  PathInvalidError,
  resolveUnder,
  toWirePath,
  validateWirePath,
} from "../core/paths.ts";

/** Lists every path under `dir`, sorted, to prove that nothing changed there. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(current: string, prefix: string): Promise<void> {
    for await (const entry of Deno.readDir(current)) {
      const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      out.push(rel);
      if (entry.isDirectory) await walk(join(current, entry.name), rel);
    }
  }
  await walk(dir, "");
  return out.sort();
}

Deno.test("validateWirePath()", async (t) => {
  await t.step("returns the components of a clean path", () => {
    assertEquals(validateWirePath("a/b/c.txt"), ["a", "b", "c.txt"]);
    assertEquals(validateWirePath("file"), ["file"]);
    assertEquals(validateWirePath(".hidden/..dots/x."), [".hidden", "..dots", "x."]);
  });

  await t.step("returns no component for the root", () => {
    assertEquals(validateWirePath(""), []);
  });

  await t.step("keeps unicode names as received", () => {
    assertEquals(validateWirePath("héllo/日本語/🎉.txt"), ["héllo", "日本語", "🎉.txt"]);
    // NFD and NFC spellings stay distinct: no normalisation.
    assertEquals(validateWirePath("e\u0301"), ["e\u0301"]);
  });

  await t.step("rejects every malformed path with PathInvalidError", () => {
    const bad = [
      "/etc/passwd",
      "/",
      "..",
      "../x",
      "a/../../etc",
      "a/..",
      ".",
      "./a",
      "a/./b",
      "a//b",
      "a/",
      "a/b/",
      "a\0b",
      "a\\b",
      "..\\..\\windows",
      "a/\ud800b",
    ];
    for (const rel of bad) {
      assertThrows(
        () => validateWirePath(rel),
        PathInvalidError,
        `accepted ${JSON.stringify(rel)}`,
      );
    }
  });

  await t.step("names the reason in the message", () => {
    assertThrows(() => validateWirePath("/etc"), /Cannot use path "\/etc": it is absolute/);
    assertThrows(() => validateWirePath("a/../b"), /"\.\." segment/);
    assertThrows(() => validateWirePath("a//b"), /empty component/);
    assertThrows(() => validateWirePath("a/"), /ends with a slash/);
    assertThrows(() => validateWirePath("a\0"), /NUL/);
    assertThrows(() => validateWirePath("a\\b"), /backslash/);
  });

  await t.step("keeps the offending path on the error", () => {
    try {
      validateWirePath("x/../y");
      assert(false, "no error");
    } catch (error) {
      assert(error instanceof PathInvalidError);
      assert(error instanceof TypeError);
      strictEqual(error.name, "PathInvalidError");
      strictEqual(error.path, "x/../y");
    }
  });

  await t.step("limits a component to 255 UTF-8 bytes", () => {
    assertEquals(validateWirePath("a".repeat(255)).length, 1);
    assertThrows(() => validateWirePath("a".repeat(256)), PathInvalidError);
    assertEquals(validateWirePath("€".repeat(85)).length, 1); // 255 bytes
    assertThrows(() => validateWirePath("€".repeat(86)), /longer than 255 bytes/); // 258 bytes
    assertEquals(validateWirePath("🎉".repeat(63)).length, 1); // 252 bytes
    assertThrows(() => validateWirePath("🎉".repeat(64)), PathInvalidError); // 256 bytes
  });

  await t.step("limits the whole path to 4096 UTF-8 bytes", () => {
    const full = [...Array(15).fill("b".repeat(255)), "c".repeat(200)];
    const path4096 = [...full, "d".repeat(55)].join("/"); // 15 * 255 + 200 + 55 + 16 slashes
    assertEquals(validateWirePath(path4096).length, 17);
    assertThrows(() => validateWirePath(`${path4096}d`), /longer than 4096 bytes/);
    assertThrows(() => validateWirePath(`${"é/".repeat(1365)}é`), PathInvalidError); // 4097 bytes
    assertThrows(() => validateWirePath("x".repeat(1_000_000)), PathInvalidError);
  });

  await t.step("escapes and truncates the path in the message", () => {
    assertThrows(() => validateWirePath("a\nb\0"), (error: unknown) => {
      assert(error instanceof PathInvalidError);
      assert(!error.message.includes("\n"));
      return true;
    });
    assertThrows(() => validateWirePath("/" + "x".repeat(5000)), (error: unknown) => {
      assert(error instanceof PathInvalidError);
      assert(error.message.length < 300);
      strictEqual(error.path.length, 5001);
      return true;
    });
  });
});

Deno.test("resolveUnder()", async (t) => {
  await t.step("joins a clean path lexically", () => {
    strictEqual(resolveUnder("/srv/m", "a/b.txt"), "/srv/m/a/b.txt");
    strictEqual(resolveUnder("/srv/m/", "a"), "/srv/m/a");
  });

  await t.step("returns the root for the empty path", () => {
    strictEqual(resolveUnder("/srv/m", ""), "/srv/m");
    strictEqual(resolveUnder("/srv/m/", ""), "/srv/m");
    strictEqual(resolveUnder("/", ""), "/");
    strictEqual(resolveUnder("/", "etc"), "/etc");
  });

  await t.step("rejects escapes and bad syntax", () => {
    assertThrows(() => resolveUnder("/srv/m", "../etc/passwd"), PathInvalidError);
    assertThrows(() => resolveUnder("/srv/m", "/etc/passwd"), PathInvalidError);
    assertThrows(() => resolveUnder("/srv/m", "a/./b"), PathInvalidError);
  });
});

Deno.test("toWirePath()", async (t) => {
  await t.step("joins components with slashes", () => {
    strictEqual(toWirePath(["a", "b", "c.txt"]), "a/b/c.txt");
    strictEqual(toWirePath(["日本語"]), "日本語");
    strictEqual(toWirePath([]), "");
  });

  await t.step("round-trips with validateWirePath()", () => {
    strictEqual(toWirePath(validateWirePath("x/y z/.w")), "x/y z/.w");
  });

  await t.step("rejects bad components", () => {
    for (const components of [[""], ["a", ""], ["a/b"], [".."], ["."], ["a\\b"], ["a\0"]]) {
      assertThrows(() => toWirePath(components), PathInvalidError, components.join("|"));
    }
  });
});

Deno.test("fromLocalRelative()", async (t) => {
  await t.step("converts a local relative path", () => {
    strictEqual(fromLocalRelative("a/b.txt"), "a/b.txt");
    strictEqual(fromLocalRelative(""), "");
    strictEqual(fromLocalRelative("."), "");
  });

  await t.step("rejects paths that leave or are absolute", () => {
    assertThrows(() => fromLocalRelative("../x"), PathInvalidError);
    assertThrows(() => fromLocalRelative("/abs"), PathInvalidError);
  });
});

Deno.test("ContainedRoot", async (t) => {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "blit-" }));
  try {
    const rootDir = join(base, "root");
    const outside = join(base, "outside");
    await Deno.mkdir(join(rootDir, "dir", "sub"), { recursive: true });
    await Deno.mkdir(join(rootDir, "deep", "dir"), { recursive: true });
    await Deno.mkdir(join(rootDir, "deep", "y"), { recursive: true });
    await Deno.mkdir(outside);
    await Deno.writeTextFile(join(rootDir, "dir", "file.txt"), "inside");
    await Deno.writeTextFile(join(rootDir, "deep", "y", "f.txt"), "physical");
    await Deno.writeTextFile(join(outside, "secret.txt"), "secret");
    // Links leaving the root.
    await Deno.symlink(outside, join(rootDir, "out"));
    await Deno.symlink("../outside", join(rootDir, "out-rel"));
    await Deno.symlink("../../outside", join(rootDir, "dir", "up"));
    await Deno.symlink("..", join(rootDir, "dotdot"));
    await Deno.symlink(join(outside, "missing"), join(rootDir, "out-missing"));
    await Deno.symlink("/etc", join(rootDir, "etc"));
    await Deno.symlink(join(outside, "secret.txt"), join(rootDir, "dir", "secret-link"));
    // A chain that bounces outside, then back in.
    await Deno.symlink(join(rootDir, "dir"), join(outside, "back"));
    await Deno.symlink(join(outside, "back"), join(rootDir, "bounce"));
    // Links that stay inside.
    await Deno.symlink("dir", join(rootDir, "in-rel"));
    await Deno.symlink(join(rootDir, "dir"), join(rootDir, "in-abs"));
    await Deno.symlink("in-rel", join(rootDir, "chain"));
    await Deno.symlink("file.txt", join(rootDir, "dir", "file-link"));
    await Deno.symlink("../deep/dir", join(rootDir, "dir", "x"));
    await Deno.symlink("x/../y", join(rootDir, "dir", "phys"));
    // Dangling links and a loop.
    await Deno.symlink("nowhere", join(rootDir, "dangling"));
    await Deno.symlink("loop-b", join(rootDir, "loop-a"));
    await Deno.symlink("loop-a", join(rootDir, "loop-b"));
    const outsideBefore = await snapshot(outside);
    const root = await ContainedRoot.open(rootDir);

    await t.step("open() records the real path of the root", async () => {
      strictEqual(root.path, rootDir);
      const alias = join(base, "alias");
      await Deno.symlink(rootDir, alias);
      strictEqual((await ContainedRoot.open(alias)).path, rootDir);
      strictEqual(ContainedRoot.openSync(alias).path, rootDir);
      await Deno.remove(alias);
    });

    await t.step("open() refuses a file and a missing path", async () => {
      await assertRejects(
        ContainedRoot.open(join(rootDir, "dir", "file.txt")),
        Deno.errors.NotADirectory,
      );
      await assertRejects(ContainedRoot.open(join(base, "nope")), Deno.errors.NotFound);
    });

    await t.step("resolveExisting() joins clean paths", async () => {
      strictEqual(await root.resolveExisting(""), rootDir);
      strictEqual(await root.resolveExisting("dir/file.txt"), join(rootDir, "dir", "file.txt"));
      strictEqual(root.resolveExistingSync("dir/sub"), join(rootDir, "dir", "sub"));
    });

    await t.step("resolvers reject bad syntax before touching the disk", async () => {
      for (const rel of ["../outside/secret.txt", "/etc/passwd", "in-rel/../out", "a//b", "d/"]) {
        await assertRejects(root.resolveExisting(rel), PathInvalidError, rel);
        await assertRejects(root.resolveForCreate(rel), PathInvalidError, rel);
        await assertRejects(root.mkdirContained(rel), PathInvalidError, rel);
        assertThrows(() => root.resolveExistingSync(rel), PathInvalidError, rel);
      }
    });

    await t.step("a link to a directory outside is refused for reads", async () => {
      for (const rel of ["out/secret.txt", "out-rel/secret.txt", "dir/up/secret.txt"]) {
        await assertRejects(root.resolveExisting(rel), PathEscapeError, rel);
        await assertRejects(root.resolveExistingFollow(rel), PathEscapeError, rel);
        assertThrows(() => root.resolveExistingSync(rel), PathEscapeError, rel);
      }
      await assertRejects(root.resolveExisting("etc/passwd"), PathEscapeError);
      await assertRejects(root.resolveExisting("dotdot/outside/secret.txt"), PathEscapeError);
    });

    await t.step("the escape error names the wire path and the root", async () => {
      await assertRejects(root.resolveExisting("out/secret.txt"), (error: unknown) => {
        assert(error instanceof PathEscapeError);
        strictEqual(error.name, "PathEscapeError");
        strictEqual(error.path, "out/secret.txt");
        strictEqual(error.root, rootDir);
        assert(error.message.startsWith(`Cannot resolve path "out/secret.txt" under "`));
        return true;
      });
    });

    await t.step("a link to a missing outside path is an escape too (no probing)", async () => {
      await assertRejects(root.resolveExisting("out-missing/x"), PathEscapeError);
      await assertRejects(root.resolveExistingFollow("out-missing"), PathEscapeError);
    });

    await t.step("a link to a directory outside is refused for writes", async () => {
      await assertRejects(root.resolveForCreate("out/newfile"), PathEscapeError);
      await assertRejects(root.resolveForCreate("out/secret.txt"), PathEscapeError);
      await assertRejects(root.resolveForCreate("etc/newfile"), PathEscapeError);
      assertThrows(() => root.resolveForCreateSync("out-rel/newfile"), PathEscapeError);
      await assertRejects(root.resolveForCreate("dir/up/a/b/newfile"), PathEscapeError);
    });

    await t.step("mkdirContained() refuses to create through an outside link", async () => {
      await assertRejects(root.mkdirContained("out/newdir"), PathEscapeError);
      await assertRejects(root.mkdirContained("out"), PathEscapeError);
      assertThrows(() => root.mkdirContainedSync("out-rel/a/b"), PathEscapeError);
      await assertRejects(root.mkdirContained("out-missing"), PathEscapeError);
      await assertRejects(root.mkdirContained("dotdot/x"), PathEscapeError);
    });

    await t.step("a chain that bounces outside and back in is refused", async () => {
      await assertRejects(root.resolveExisting("bounce/file.txt"), PathEscapeError);
      await assertRejects(root.resolveForCreate("bounce/new"), PathEscapeError);
      await assertRejects(root.mkdirContained("bounce/new"), PathEscapeError);
      await assertRejects(root.resolveExistingFollow("bounce"), PathEscapeError);
    });

    await t.step("nothing outside the root was read into or written", async () => {
      assertEquals(await snapshot(outside), outsideBefore);
      strictEqual(await Deno.readTextFile(join(outside, "secret.txt")), "secret");
    });

    await t.step("links to directories inside the root are followed", async () => {
      const file = join(rootDir, "dir", "file.txt");
      strictEqual(await root.resolveExisting("in-rel/file.txt"), file);
      strictEqual(await root.resolveExisting("in-abs/file.txt"), file);
      strictEqual(await root.resolveExisting("chain/file.txt"), file);
      strictEqual(root.resolveExistingSync("chain/sub"), join(rootDir, "dir", "sub"));
      strictEqual(await root.resolveForCreate("in-rel/new.txt"), join(rootDir, "dir", "new.txt"));
    });

    await t.step("`..` in a link target applies to the physical directory", async () => {
      // dir/phys -> x/../y with dir/x -> ../deep/dir: the kernel reaches deep/y, not dir/y.
      const expected = join(rootDir, "deep", "y", "f.txt");
      strictEqual(await root.resolveExisting("dir/phys/f.txt"), expected);
      strictEqual(await Deno.realPath(join(rootDir, "dir", "phys", "f.txt")), expected);
      strictEqual(await root.resolveExistingFollow("dir/phys"), join(rootDir, "deep", "y"));
    });

    await t.step("a final link is returned as the link itself", async () => {
      strictEqual(await root.resolveExisting("dir/file-link"), join(rootDir, "dir", "file-link"));
      strictEqual(
        await root.resolveExisting("in-rel/file-link"),
        join(rootDir, "dir", "file-link"),
      );
      // Even when it points outside: the caller copies the link, it never follows it.
      strictEqual(await root.resolveExisting("out"), join(rootDir, "out"));
      strictEqual(
        await root.resolveExisting("dir/secret-link"),
        join(rootDir, "dir", "secret-link"),
      );
      strictEqual(await root.resolveForCreate("out"), join(rootDir, "out"));
      strictEqual(
        root.resolveForCreateSync("dir/secret-link"),
        join(rootDir, "dir", "secret-link"),
      );
    });

    await t.step("resolveExistingFollow() follows a final link only inside", async () => {
      const file = join(rootDir, "dir", "file.txt");
      strictEqual(await root.resolveExistingFollow("dir/file-link"), file);
      strictEqual(root.resolveExistingFollowSync("in-rel/file-link"), file);
      strictEqual(await root.resolveExistingFollow("chain"), join(rootDir, "dir"));
      await assertRejects(root.resolveExistingFollow("dir/secret-link"), PathEscapeError);
      await assertRejects(root.resolveExistingFollow("out"), PathEscapeError);
      await assertRejects(root.resolveExistingFollow("etc"), PathEscapeError);
    });

    await t.step("a dangling link is returned, never followed nor created through", async () => {
      strictEqual(await root.resolveExisting("dangling"), join(rootDir, "dangling"));
      strictEqual(await root.resolveForCreate("dangling"), join(rootDir, "dangling"));
      await assertRejects(root.resolveExistingFollow("dangling"), Deno.errors.NotFound);
      await assertRejects(root.resolveExisting("dangling/x"), Deno.errors.NotFound);
      await assertRejects(root.resolveForCreate("dangling/x"), Deno.errors.NotFound);
      await assertRejects(root.mkdirContained("dangling"), Deno.errors.NotFound);
      await assertRejects(root.mkdirContained("dangling/x"), Deno.errors.NotFound);
      assertThrows(() => root.mkdirContainedSync("dangling"), Deno.errors.NotFound);
      await assertRejects(Deno.lstat(join(rootDir, "nowhere")), Deno.errors.NotFound);
    });

    await t.step("a link loop stops with FilesystemLoop", async () => {
      await assertRejects(root.resolveExisting("loop-a/x"), Deno.errors.FilesystemLoop);
      await assertRejects(root.resolveExistingFollow("loop-a"), Deno.errors.FilesystemLoop);
      strictEqual(await root.resolveExisting("loop-a"), join(rootDir, "loop-a"));
    });

    await t.step("missing entries and files used as directories are reported", async () => {
      await assertRejects(root.resolveExisting("nope"), Deno.errors.NotFound);
      await assertRejects(root.resolveExisting("nope/x"), Deno.errors.NotFound);
      assertThrows(() => root.resolveExistingSync("dir/nope"), Deno.errors.NotFound);
      await assertRejects(root.resolveExisting("dir/file.txt/x"), Deno.errors.NotADirectory);
      await assertRejects(root.resolveForCreate("dir/file.txt/x"), Deno.errors.NotADirectory);
      await assertRejects(root.mkdirContained("dir/file.txt"), Deno.errors.NotADirectory);
      await assertRejects(root.mkdirContained("dir/file-link"), Deno.errors.NotADirectory);
    });

    await t.step("resolveForCreate() allows missing parents", async () => {
      strictEqual(await root.resolveForCreate("new/a/b.txt"), join(rootDir, "new", "a", "b.txt"));
      strictEqual(await root.resolveForCreate("dir/new.txt"), join(rootDir, "dir", "new.txt"));
      strictEqual(await root.resolveForCreate("dir"), join(rootDir, "dir"));
      await assertRejects(Deno.lstat(join(rootDir, "new")), Deno.errors.NotFound);
    });

    await t.step("mkdirContained() creates real directories one by one", async () => {
      const made = await root.mkdirContained("made/a/b");
      strictEqual(made, join(rootDir, "made", "a", "b"));
      for (const path of [join(rootDir, "made"), join(rootDir, "made", "a"), made]) {
        const info = await Deno.lstat(path);
        assert(info.isDirectory && !info.isSymlink);
      }
      strictEqual(await root.mkdirContained("made/a/b"), made); // idempotent
      strictEqual(root.mkdirContainedSync("made/s/t"), join(rootDir, "made", "s", "t"));
      strictEqual(await root.mkdirContained(""), rootDir);
    });

    await t.step("mkdirContained() goes through inside links to real directories", async () => {
      strictEqual(await root.mkdirContained("in-rel/m1/m2"), join(rootDir, "dir", "m1", "m2"));
      strictEqual(await root.mkdirContained("chain"), join(rootDir, "dir"));
      assert((await Deno.lstat(join(rootDir, "dir", "m1", "m2"))).isDirectory);
    });

    await t.step("unicode names are created and resolved", async () => {
      const rel = "héllo/日本語/e\u0301";
      const dir = await root.mkdirContained(rel);
      strictEqual(dir, join(rootDir, "héllo", "日本語", "e\u0301"));
      const file = await root.resolveForCreate(`${rel}/🎉.txt`);
      await Deno.writeTextFile(file, "party");
      strictEqual(await root.resolveExisting(`${rel}/🎉.txt`), file);
      strictEqual(await Deno.readTextFile(file), "party");
    });

    await t.step("long names up to the limit are resolved", async () => {
      const name = "é".repeat(MAX_COMPONENT_BYTES >> 1) + "x"; // 255 bytes
      const dir = await root.mkdirContained(`long/${name}`);
      await Deno.writeTextFile(join(dir, name), "long");
      strictEqual(await root.resolveExisting(`long/${name}/${name}`), join(dir, name));
      await assertRejects(root.resolveExisting(`long/${name}x`), PathInvalidError);
    });

    await t.step("nothing outside the root was written by any step", async () => {
      assertEquals(await snapshot(outside), outsideBefore);
    });
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
