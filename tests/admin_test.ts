import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { AdminCallError, AdminClient } from "../core/admin_client.ts";
import type { FoundEntry, StreamEnd, UsageEntry } from "../core/admin/types.ts";
import { parseHostAddress } from "../core/endpoint.ts";
import { ContainedTree } from "../core/contained_tree.ts";
import {
  ADMIN_LIMITS,
  AdminBudget,
  AdminError,
  compileFindPattern,
  diskUsage,
  filesystemSpace,
  findEntries,
} from "../core/admin/mod.ts";
import { daemonAllowsStatfs, startDaemon } from "./_daemon.ts";
import { makeTree, withTempDir } from "./_helpers.ts";

/** Collects a stream and its end. */
async function drain<T>(
  stream: AsyncGenerator<T, StreamEnd>,
): Promise<{ items: T[]; end: StreamEnd }> {
  const items: T[] = [];
  for (;;) {
    const step = await stream.next();
    if (step.done) return { items, end: step.value };
    items.push(step.value);
  }
}

/** Asserts that `promise` fails with an {@linkcode AdminCallError} of `code`. */
async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp,
): Promise<void> {
  await rejects(promise, (error: unknown) => {
    assert(error instanceof AdminCallError, `not an AdminCallError: ${error}`);
    assertEquals(error.code, code, error.message);
    assert(!error.message.includes("\n"), "one line");
    assert(error.message.startsWith("Cannot "), error.message);
    if (message) assert(message.test(error.message), error.message);
    return true;
  });
}

Deno.test("admin RPCs against a real daemon", async (t) => {
  await withTempDir(async (dir) => {
    const m = `${dir}/m`;
    await makeTree(dir, {
      "m/a.txt": "hi",
      "m/sub/B.TXT": "hello",
      "m/sub/.dot": ".",
      "m/sub/deep/c.txt": "x",
      "m/sub/deep/.hidden": "hh",
      "m/.blit-tmp-leftover": "partial",
      "m/lsub": { link: "sub" },
      "m/esc": { link: `${dir}/outside` },
      "m/dangling": { link: "nowhere" },
      "m/nested/n.txt": "n",
      "m/trash/x/y.txt": "y",
      "m/trash/z.txt": "z",
      "outside/secret.txt": "secret",
      "ro/r.txt": "r",
      "big/.keep": "",
    });
    const bigCount = ADMIN_LIMITS.listEntries + 5;
    for (let i = 0; i < bigCount; i++) {
      Deno.writeTextFileSync(`${dir}/big/f${String(i).padStart(5, "0")}`, "");
    }
    const daemon = await startDaemon(dir, [
      { name: "m", path: m },
      { name: "inner", path: `${m}/nested`, readOnly: true },
      { name: "ro", path: `${dir}/ro`, readOnly: true },
      { name: "big", path: `${dir}/big` },
    ]);
    const client = await AdminClient.connect(parseHostAddress(daemon.address));
    try {
      await t.step("ListModules lists every module, sorted, with read_only", async () => {
        const modules = await client.listModules();
        assertEquals(modules.map((x) => [x.name, x.read_only]), [
          ["big", false],
          ["inner", true],
          ["m", false],
          ["ro", true],
        ]);
      });

      await t.step("ListDir lists one directory sorted, hiding blit temporaries", async () => {
        const listing = await client.listDir("m", "");
        assertEquals(listing.truncated, false);
        assertEquals(listing.entries.map((e) => [e.name, e.type]), [
          ["a.txt", "file"],
          ["dangling", "symlink"],
          ["esc", "symlink"],
          ["lsub", "symlink"],
          ["nested", "dir"],
          ["sub", "dir"],
          ["trash", "dir"],
        ]);
        const a = listing.entries[0];
        assertEquals(a?.size, 2);
        assert(Math.abs(Date.parse(a?.mtime ?? "") - Date.now()) < 600_000);
        assertEquals(listing.entries[2]?.link_target, `${dir}/outside`);
        assertEquals(listing.entries[5]?.size, 0);
      });

      await t.step("ListDir follows a link that stays inside and shows a file alone", async () => {
        const viaLink = await client.listDir("m", "lsub");
        assertEquals(viaLink.entries.map((e) => e.name), [".dot", "B.TXT", "deep"]);
        const file = await client.listDir("m", "sub/B.TXT");
        assertEquals(file.entries.map((e) => [e.name, e.type, e.size]), [["B.TXT", "file", 5]]);
        const escLink = await client.listDir("m", "esc");
        assertEquals(escLink.entries.map((e) => [e.name, e.type]), [["esc", "symlink"]]);
        const dangling = await client.listDir("m", "dangling");
        assertEquals(dangling.entries.map((e) => e.link_target), ["nowhere"]);
      });

      await t.step("ListDir refuses bad paths, escapes and unknown modules", async () => {
        await rejectsWith(client.listDir("m", "../outside"), "INVALID_ARGUMENT", /".."/);
        await rejectsWith(client.listDir("m", "/etc"), "INVALID_ARGUMENT", /absolute/);
        await rejectsWith(
          client.listDir("m", "esc/secret.txt"),
          "INVALID_ARGUMENT",
          /leaves the module/,
        );
        // An unknown module and a forbidden one read the same (nothing tells them apart).
        await rejectsWith(
          client.listDir("nope", ""),
          "PERMISSION_DENIED",
          /^Cannot list: permission denied$/,
        );
        await rejectsWith(client.listDir("m", "missing"), "NOT_FOUND", /does not exist/);
        await rejectsWith(client.listDir("", ""), "PERMISSION_DENIED", /permission denied/);
      });

      await t.step("error messages never name the daemon's local paths", async () => {
        for (const path of ["esc/x", "missing/x", "a.txt/x"]) {
          await rejects(client.listDir("m", path), (error: Error) => !error.message.includes(dir));
        }
      });

      await t.step("ListDir is capped and says so", async () => {
        const listing = await client.listDir("big", "");
        assertEquals(listing.entries.length, ADMIN_LIMITS.listEntries);
        assertEquals(listing.truncated, true);
      });

      await t.step("Find matches names, kinds and case, never through links", async () => {
        const all = await drain(client.find({ module: "m", path: "" }));
        assertEquals(all.items.map((e) => e.path), [
          "a.txt",
          "dangling",
          "esc",
          "lsub",
          "nested",
          "nested/n.txt",
          "sub",
          "sub/.dot",
          "sub/B.TXT",
          "sub/deep",
          "sub/deep/.hidden",
          "sub/deep/c.txt",
          "trash",
          "trash/x",
          "trash/x/y.txt",
          "trash/z.txt",
        ]);
        assertEquals(all.end, { truncated: false, errors: 0 });
        const txt = await drain(client.find({ module: "m", path: "", pattern: "*.txt" }));
        assertEquals(txt.items.map((e) => e.path), [
          "a.txt",
          "nested/n.txt",
          "sub/deep/c.txt",
          "trash/x/y.txt",
          "trash/z.txt",
        ]);
        const nocase = await drain(
          client.find({ module: "m", path: "sub", pattern: "*.txt", caseInsensitive: true }),
        );
        assertEquals(nocase.items.map((e) => e.path), ["sub/B.TXT", "sub/deep/c.txt"]);
        const dirs = await drain(client.find({ module: "m", path: "", kind: "dirs" }));
        assertEquals(dirs.items.map((e) => e.path), [
          "nested",
          "sub",
          "sub/deep",
          "trash",
          "trash/x",
        ]);
        const files = await drain(client.find({ module: "m", path: "sub", kind: "files" }));
        assert(files.items.every((e: FoundEntry) => e.type !== "dir"));
        const limited = await drain(client.find({ module: "m", path: "", limit: 2 }));
        assertEquals(limited.items.length, 2);
        assertEquals(limited.end.truncated, true);
      });

      await t.step("Find is capped at the daemon's limit", async () => {
        const found = await drain(client.find({ module: "big", path: "", limit: 1_000_000 }));
        assertEquals(found.items.length, ADMIN_LIMITS.findResults);
        assertEquals(found.end.truncated, true);
      });

      await t.step("Find refuses escapes, bad patterns and non-directories", async () => {
        await rejectsWith(drain(client.find({ module: "m", path: "esc" })), "INVALID_ARGUMENT");
        await rejectsWith(
          drain(client.find({ module: "m", path: "a.txt" })),
          "INVALID_ARGUMENT",
          /not a directory/,
        );
        await rejectsWith(
          drain(client.find({ module: "m", path: "", pattern: "x".repeat(5000) })),
          "INVALID_ARGUMENT",
          /pattern/,
        );
        await rejectsWith(drain(client.find({ module: "zz", path: "" })), "PERMISSION_DENIED");
      });

      await t.step("DiskUsage streams directories deepest first, the path last", async () => {
        const usage = await drain(client.diskUsage("m", "", 1));
        const rows = usage.items.map((
          e: UsageEntry,
        ) => [e.path, e.depth, e.bytes, e.files, e.dirs]);
        const links = "sub".length + `${dir}/outside`.length + "nowhere".length;
        assertEquals(rows, [
          ["nested", 1, 1, 1, 0],
          ["sub", 1, 9, 4, 1],
          ["trash", 1, 2, 2, 1],
          // a.txt, the blit temporary (it takes space), three links, and the three subtrees
          ["", 0, 2 + 7 + links + 1 + 9 + 2, 12, 5],
        ]);
        const deep = await drain(client.diskUsage("m", "sub", 5));
        assertEquals(deep.items.map((e) => [e.path, e.depth]), [["sub/deep", 1], ["sub", 0]]);
        await rejectsWith(drain(client.diskUsage("m", "esc")), "INVALID_ARGUMENT");
      });

      await t.step("DiskFree reports the module's filesystem", async () => {
        if (!daemonAllowsStatfs()) {
          await rejectsWith(client.diskFree("m"), "FAILED_PRECONDITION", /--allow-sys=statfs/);
          console.log("  (the daemon sandbox lacks --allow-sys=statfs: DiskFree refuses cleanly)");
          return;
        }
        const space = await client.diskFree("m");
        assert(space.total_bytes > 0);
        assert(space.used_bytes <= space.total_bytes);
        assert(space.free_bytes <= space.total_bytes);
      });

      await t.step("Remove refuses read-only modules, the root, escapes and exports", async () => {
        await rejectsWith(client.remove("ro", "r.txt"), "PERMISSION_DENIED", /read-only/);
        await rejectsWith(client.remove("inner", "n.txt"), "PERMISSION_DENIED", /read-only/);
        await rejectsWith(client.remove("m", ""), "INVALID_ARGUMENT", /root/);
        await rejectsWith(client.remove("m", "esc/secret.txt"), "INVALID_ARGUMENT");
        await rejectsWith(client.remove("m", "../ro/r.txt"), "INVALID_ARGUMENT");
        await rejectsWith(client.remove("m", "nested"), "PERMISSION_DENIED", /exported/);
        await rejectsWith(client.remove("m", "missing"), "NOT_FOUND");
        await rejectsWith(client.remove("nope", "x"), "PERMISSION_DENIED");
        assertEquals(await Deno.readTextFile(`${dir}/ro/r.txt`), "r");
        assertEquals(await Deno.readTextFile(`${dir}/outside/secret.txt`), "secret");
      });

      await t.step("Remove counts with dry_run, then removes a tree and a link", async () => {
        assertEquals(await client.remove("m", "trash", true), 4);
        assert((await Deno.stat(`${m}/trash/x/y.txt`)).isFile);
        assertEquals(await client.remove("m", "trash"), 4);
        await rejects(Deno.lstat(`${m}/trash`), Deno.errors.NotFound);
        assertEquals(await client.remove("m", "esc"), 1);
        await rejects(Deno.lstat(`${m}/esc`), Deno.errors.NotFound);
        assertEquals(await Deno.readTextFile(`${dir}/outside/secret.txt`), "secret");
        assertEquals(await client.remove("m", "lsub/deep/.hidden"), 1);
        assert((await Deno.stat(`${m}/sub/deep/c.txt`)).isFile);
      });

      await t.step("CompletePath completes modules and paths, dirs with '/'", async () => {
        assertEquals(await client.completePath(""), ["big/", "inner/", "m/", "ro/"]);
        assertEquals(await client.completePath("i"), ["inner/"]);
        assertEquals(await client.completePath("m/s"), ["m/sub/"]);
        assertEquals(await client.completePath("m/l"), ["m/lsub/"]);
        assertEquals(await client.completePath("m/sub/"), ["m/sub/B.TXT", "m/sub/deep/"]);
        assertEquals(await client.completePath("m/sub/", true), ["m/sub/deep/"]);
        assertEquals(await client.completePath("m/sub/."), ["m/sub/.dot"]);
        assertEquals(await client.completePath("m/sub/deep/"), ["m/sub/deep/c.txt"]);
        assertEquals((await client.completePath("big/f", false, 3)).length, 3);
        await rejectsWith(client.completePath("nope/x"), "PERMISSION_DENIED");
        await rejectsWith(client.completePath("m/../x"), "INVALID_ARGUMENT");
      });

      await t.step("every call has a deadline", async () => {
        const hasty = await AdminClient.connect(parseHostAddress(daemon.address), {
          callTimeoutMs: 0,
          streamTimeoutMs: 0,
        });
        try {
          await rejectsWith(hasty.listModules(), "DEADLINE_EXCEEDED");
          await rejectsWith(drain(hasty.find({ module: "big", path: "" })), "DEADLINE_EXCEEDED");
        } finally {
          hasty.close();
        }
      });

      await t.step("an unreachable daemon is one clear line", async () => {
        const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const port = (listener.addr as Deno.NetAddr).port;
        listener.close();
        // The TLS probe of a first contact fails first; with a pinned host, the first call.
        await rejectsWith(
          AdminClient.connect({ host: "127.0.0.1", port }, {
            security: { knownHostsPath: `/nonexistent-${port}` },
          }),
          "UNAVAILABLE",
          /: connection refused; is the daemon running\?$/,
        );
        const gone = await AdminClient.connect({ host: "127.0.0.1", port }, {
          security: { tls: false },
          notify: () => {},
        });
        try {
          await rejectsWith(
            gone.listModules(),
            "UNAVAILABLE",
            /: connection refused; is the daemon running\?$/,
          );
        } finally {
          gone.close();
        }
      });

      await t.step("the daemon survived every call", () => {
        assert(daemon.running(), daemon.log());
      });
    } finally {
      client.close();
      await daemon.stop();
    }
  });
});

Deno.test("admin operations", async (t) => {
  await withTempDir(async (dir) => {
    await makeTree(dir, { "a/b/c.txt": "abc", "a/d.txt": "d" });
    const root = ContainedTree.open(dir);

    await t.step("an expired budget stops a walk with DEADLINE_EXCEEDED", async () => {
      const budget = new AdminBudget("search", -1);
      await rejects(findEntries(root, "", { budget }).next(), (error: unknown) => {
        assert(error instanceof AdminError);
        assertEquals(error.code, "deadline");
        return true;
      });
    });

    await t.step("a cancelled budget stops a walk with CANCELLED", async () => {
      const budget = new AdminBudget("total", 60_000, () => true);
      await rejects(diskUsage(root, "", { budget }).next(), (error: unknown) => {
        assert(error instanceof AdminError);
        assertEquals(error.code, "cancelled");
        return true;
      });
    });

    await t.step("DiskUsage reports at most `limit` directories, then the root", async () => {
      const budget = new AdminBudget("total", 60_000);
      const entries = diskUsage(root, "", { budget, maxDepth: 5, limit: 1 });
      const paths: string[] = [];
      for (;;) {
        const step = await entries.next();
        if (step.done) {
          assertEquals(step.value.truncated, true);
          break;
        }
        paths.push(step.value.path);
      }
      assertEquals(paths, ["a/b", ""]);
    });

    await t.step("compileFindPattern() speaks the name-glob subset of picomatch", () => {
      const cases: [string, boolean, string, boolean][] = [
        ["*.txt", false, "a.txt", true],
        ["*.txt", false, ".hidden.txt", true],
        ["*.txt", false, "a.TXT", false],
        ["*.txt", true, "a.TXT", true],
        ["?.md", false, "a.md", true],
        ["?.md", false, "ab.md", false],
        ["?", false, "\u{1F600}", true],
        ["[ab]*", false, "beta", true],
        ["[!ab]*", false, "beta", false],
        ["[a-c]x", false, "bx", true],
        ["[A-C]x", true, "bX", true],
        ["*.{jpg,png}", false, "p.png", true],
        ["*.{jpg,png}", false, "p.gif", false],
        ["{a,b{c,d}}", false, "bd", true],
        ["{x}", false, "{x}", true],
        ["\\*", false, "*", true],
        ["\\*", false, "a", false],
        ["a*b*c", false, "aXbYc", true],
        ["a*b*c", false, "aXbY", false],
        ["**", false, "anything", true],
      ];
      for (const [pattern, nocase, name, expected] of cases) {
        assertEquals(compileFindPattern(pattern, nocase)(name), expected, `${pattern} ${name}`);
      }
      assert(compileFindPattern("", false)("x"));
    });

    await t.step("compileFindPattern() is linear on patterns that make regexes backtrack", () => {
      const matches = compileFindPattern(`${"*a".repeat(40)}*b`, false);
      const started = performance.now();
      for (let i = 0; i < 100; i++) assertEquals(matches("a".repeat(255)), false);
      assert(performance.now() - started < 1000, "100 names took over a second");
    });

    await t.step("compileFindPattern() refuses malformed patterns", () => {
      for (const pattern of ["[abc", "x".repeat(2000), "{a,b}".repeat(10)]) {
        try {
          compileFindPattern(pattern, false);
          assert(false, `accepted ${pattern}`);
        } catch (error) {
          assert(error instanceof AdminError);
          assertEquals(error.code, "invalid");
        }
      }
    });

    await t.step("filesystemSpace measures a directory", async () => {
      const space = await filesystemSpace(dir);
      assert(space.total_bytes > 0 && space.free_bytes <= space.total_bytes);
      assert(space.used_bytes <= space.total_bytes);
    });
  });
});
