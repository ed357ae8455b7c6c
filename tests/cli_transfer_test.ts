import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import {
  assertNoStack,
  makeTree,
  readTree,
  runBlit,
  setMtime,
  type TreeEntry,
  withTempDir,
} from "./_helpers.ts";

const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

async function sampleSource(src: string): Promise<void> {
  await makeTree(src, {
    "a.txt": "alpha",
    "sub/b.txt": "bravo",
    "sub/deep/c.bin": new Uint8Array([0, 1, 2, 255]),
    "empty": { dir: true },
    "link-to-a": { link: "a.txt" },
    "dangling": { link: "does/not/exist" },
    "abs-link": { link: "/etc/hostname" },
    "world.txt": "everyone writes",
  });
  await Deno.chmod(`${src}/world.txt`, 0o666);
  await Deno.chmod(`${src}/sub/b.txt`, 0o640);
  await Deno.chmod(`${src}/a.txt`, 0o755);
  await setMtime(`${src}/a.txt`, T0);
  await setMtime(`${src}/sub/b.txt`, T0 + 1000);
  await setMtime(`${src}/sub/deep/c.bin`, T0 + 2000);
  await setMtime(`${src}/sub/deep`, T0 + 3000);
  await setMtime(`${src}/empty`, T0 + 4000);
  await setMtime(`${src}/sub`, T0 + 5000);
}

function withoutDirTimes(tree: Record<string, TreeEntry>): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  for (const [k, v] of Object.entries(tree)) out[k] = v;
  return out;
}

Deno.test("blit copy: preserves bytes, mtimes, modes, links and empty dirs", async () => {
  await withTempDir(async (dir) => {
    const src = `${dir}/src`;
    await sampleSource(src);
    const r = await runBlit(["copy", `${src}/`, `${dir}/dst`]);
    equal(r.code, 0, r.stderr);
    const want = await readTree(src);
    const got = await readTree(`${dir}/dst`);
    deepStrictEqual(withoutDirTimes(got), withoutDirTimes(want));
    equal(got["sub/deep"]?.mtimeMs, T0 + 3000, "directory mtime restored after contents");
    equal(got["sub"]?.mtimeMs, T0 + 5000);
    equal(got["link-to-a"]?.kind, "symlink");
    equal(got["abs-link"]?.content, "/etc/hostname", "links are copied, never followed");
    equal(got["sub/b.txt"]?.mode, 0o640);
    equal(got["a.txt"]?.mode, 0o755);
    equal(got["world.txt"]?.mode, 0o666, "modes survive the umask");
    // Nothing temporary is left behind.
    ok(!Object.keys(got).some((k) => k.includes(".blit-tmp-")));
  });
});

Deno.test("blit copy: trailing-slash rules", async (t) => {
  await withTempDir(async (dir) => {
    await makeTree(`${dir}/src`, { "f.txt": "x", "d/g.txt": "y" });
    await Deno.mkdir(`${dir}/existing`);
    await t.step("SRC/ copies contents into DST", async () => {
      equal((await runBlit(["copy", `${dir}/src/`, `${dir}/c1`])).code, 0);
      deepStrictEqual(Object.keys(await readTree(`${dir}/c1`)), ["d", "d/g.txt", "f.txt"]);
    });
    await t.step("SRC into an existing directory creates DST/<name>", async () => {
      equal((await runBlit(["copy", `${dir}/src`, `${dir}/existing`])).code, 0);
      ok((await readTree(`${dir}/existing`))["src/f.txt"]);
    });
    await t.step("SRC into a missing DST/ with a slash creates DST/<name>", async () => {
      equal((await runBlit(["copy", `${dir}/src`, `${dir}/c2/`])).code, 0);
      ok((await readTree(`${dir}/c2`))["src/d/g.txt"]);
    });
    await t.step("SRC into a missing DST lands at DST/<name> (rsync's rule)", async () => {
      equal((await runBlit(["copy", `${dir}/src`, `${dir}/c3`])).code, 0);
      deepStrictEqual(Object.keys(await readTree(`${dir}/c3`)), [
        "src",
        "src/d",
        "src/d/g.txt",
        "src/f.txt",
      ]);
      // The same run again converges: nothing new appears.
      equal((await runBlit(["copy", `${dir}/src`, `${dir}/c3`])).code, 0);
      equal(Object.keys(await readTree(`${dir}/c3`)).length, 4);
    });
    await t.step("a directory onto an existing file is refused, the file untouched", async () => {
      await Deno.writeTextFile(`${dir}/plain.txt`, "keep");
      const r = await runBlit(["copy", `${dir}/src`, `${dir}/plain.txt`]);
      equal(r.code, 1);
      assertNoStack(r.stderr);
      match(r.stderr, /is not a directory/);
      equal(await Deno.readTextFile(`${dir}/plain.txt`), "keep");
    });
    await t.step("file to file", async () => {
      equal((await runBlit(["copy", `${dir}/src/f.txt`, `${dir}/renamed.txt`])).code, 0);
      equal(await Deno.readTextFile(`${dir}/renamed.txt`), "x");
    });
    await t.step("file into an existing directory", async () => {
      equal((await runBlit(["copy", `${dir}/src/f.txt`, `${dir}/existing`])).code, 0);
      equal(await Deno.readTextFile(`${dir}/existing/f.txt`), "x");
    });
    await t.step("relative paths resolve against the working directory", async () => {
      equal((await runBlit(["copy", "src/", "rel"], { cwd: dir })).code, 0);
      equal(await Deno.readTextFile(`${dir}/rel/f.txt`), "x");
    });
  });
});

Deno.test("blit mirror: deletes extras only with consent, keeps excluded entries", async (t) => {
  await withTempDir(async (dir) => {
    await makeTree(`${dir}/src`, { "keep.txt": "k", "d/inner.txt": "i" });
    await makeTree(`${dir}/dst`, {
      "extra.txt": "e",
      "d/stale.txt": "s",
      "gone/x.txt": "x",
      "keep.log": "protected by exclude",
    });
    await t.step("non-interactive without --yes refuses to delete", async () => {
      const r = await runBlit(["mirror", `${dir}/src/`, `${dir}/dst`, "--exclude", "*.log"]);
      equal(r.code, 2, r.stderr);
      match(r.stderr, /--yes/);
      ok((await readTree(`${dir}/dst`))["extra.txt"], "nothing deleted");
      ok((await readTree(`${dir}/dst`))["keep.txt"], "copy still happened");
    });
    await t.step("--yes deletes, excluded entries survive", async () => {
      const r = await runBlit(["mirror", `${dir}/src/`, `${dir}/dst`, "--exclude", "*.log", "-y"]);
      equal(r.code, 0, r.stderr);
      deepStrictEqual(Object.keys(await readTree(`${dir}/dst`)), [
        "d",
        "d/inner.txt",
        "keep.log",
        "keep.txt",
      ]);
    });
    await t.step("--json reports the deletions and a no-op rerun is up to date", async () => {
      await Deno.writeTextFile(`${dir}/dst/new-extra`, "z");
      const r = await runBlit([
        "mirror",
        `${dir}/src/`,
        `${dir}/dst`,
        "--yes",
        "--json",
        "--exclude",
        "*.log",
      ]);
      equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout);
      equal(s.entries_deleted, 1);
      equal(s.files_transferred, 0);
      equal(s.outcome, "transferred");
      const again = JSON.parse(
        (await runBlit([
          "mirror",
          `${dir}/src/`,
          `${dir}/dst`,
          "--yes",
          "--json",
          "--exclude",
          "*.log",
        ])).stdout,
      );
      equal(again.outcome, "up_to_date");
    });
  });
});

Deno.test("blit mirror: an incomplete source scan deletes nothing and exits 2", async () => {
  await withTempDir(async (dir) => {
    await makeTree(`${dir}/src`, { "a.txt": "a", "secret/s.txt": "s" });
    await makeTree(`${dir}/dst`, { "extra.txt": "e" });
    const r = await runBlit(["mirror", `${dir}/src/`, `${dir}/dst`, "--yes", "--json"], {
      denoFlags: [`--deny-read=${dir}/src/secret`],
    });
    equal(r.code, 2, r.stderr);
    const s = JSON.parse(r.stdout);
    match(s.deletions_skipped_reason, /scan did not complete/);
    equal(s.entries_deleted, 0);
    equal(await Deno.readTextFile(`${dir}/dst/extra.txt`), "e", "nothing deleted");
    equal(await Deno.readTextFile(`${dir}/dst/a.txt`), "a", "the copy proceeded");
  });
});

Deno.test("blit copy: per-file failures are contained and exit 2", async () => {
  await withTempDir(async (dir) => {
    await makeTree(`${dir}/src`, { "ok.txt": "ok", "bad.txt": "bad", "locked/x.txt": "x" });
    await Deno.mkdir(`${dir}/dst/locked`, { recursive: true });
    const r = await runBlit(["copy", `${dir}/src/`, `${dir}/dst`, "--json"], {
      denoFlags: [`--deny-read=${dir}/src/bad.txt`, `--deny-write=${dir}/dst/locked`],
    });
    equal(r.code, 2, r.stderr);
    assertNoStack(r.stderr);
    const s = JSON.parse(r.stdout);
    const failed = s.failures.map((f: { path: string }) => f.path);
    ok(failed.includes("bad.txt") && failed.includes("locked/x.txt"), JSON.stringify(s.failures));
    equal(s.files_failed, s.failures.length);
    equal(s.files_transferred, 1);
    equal(await Deno.readTextFile(`${dir}/dst/ok.txt`), "ok");
  });
});

Deno.test("blit move: removes sources only after a verified copy", async () => {
  await withTempDir(async (dir) => {
    await makeTree(`${dir}/src`, {
      "a.txt": "a",
      "d/b.txt": "b",
      "d/e/c.txt": "c",
      "l": { link: "a.txt" },
    });
    await makeTree(`${dir}/src2`, { "ok.txt": "ok", "locked/x.txt": "x" });
    await Deno.mkdir(`${dir}/dst2/locked`, { recursive: true });
    const r = await runBlit(["move", `${dir}/src`, `${dir}/dst`, "--json"]);
    equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    equal(s.sources_removed, 4);
    deepStrictEqual(Object.keys(await readTree(`${dir}/dst/src`)), [
      "a.txt",
      "d",
      "d/b.txt",
      "d/e",
      "d/e/c.txt",
      "l",
    ]);
    let exists = true;
    await Deno.lstat(`${dir}/src`).catch(() => (exists = false));
    equal(exists, false, "the emptied source tree is gone");

    const r2 = await runBlit(["move", `${dir}/src2/`, `${dir}/dst2`], {
      denoFlags: [`--deny-write=${dir}/dst2/locked`],
    });
    equal(r2.code, 2);
    equal(await Deno.readTextFile(`${dir}/src2/locked/x.txt`), "x", "failed copy keeps its source");
    ok(!(await readTree(`${dir}/src2`))["ok.txt"], "copied source removed");
    ok((await readTree(`${dir}/src2`))["locked"], "non-empty source dir kept");
  });
});

Deno.test("blit compare modes", async (t) => {
  await withTempDir(async (dir) => {
    const src = `${dir}/src`;
    const dst = `${dir}/dst`;
    await makeTree(src, { "f.txt": "AAAA" });
    await setMtime(`${src}/f.txt`, T0);
    equal((await runBlit(["copy", `${src}/`, dst])).code, 0);
    // Same size and mtime, different content: only --checksum notices.
    await Deno.writeTextFile(`${dst}/f.txt`, "BBBB");
    await setMtime(`${dst}/f.txt`, T0);
    const copyJson = async (...flags: string[]) => {
      const r = await runBlit(["copy", `${src}/`, dst, "--json", ...flags]);
      equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    await t.step("default size+mtime skips an equal-looking file", async () => {
      equal((await copyJson()).files_transferred, 0);
      equal(await Deno.readTextFile(`${dst}/f.txt`), "BBBB");
    });
    await t.step("--size-only skips when only the mtime differs", async () => {
      await setMtime(`${dst}/f.txt`, T0 + 60_000);
      equal((await copyJson("--size-only")).files_transferred, 0);
      await setMtime(`${dst}/f.txt`, T0);
    });
    await t.step("--checksum transfers when digests differ", async () => {
      equal((await copyJson("--checksum")).files_transferred, 1);
      equal(await Deno.readTextFile(`${dst}/f.txt`), "AAAA");
      equal((await copyJson("-c")).files_transferred, 0, "equal digests are skipped");
    });
    await t.step("--ignore-times always transfers", async () => {
      equal((await copyJson("--ignore-times")).files_transferred, 1);
    });
    await t.step("default transfers when the mtime differs", async () => {
      await setMtime(`${dst}/f.txt`, T0 + 5000);
      equal((await copyJson()).files_transferred, 1);
    });
    await t.step("--ignore-existing never overwrites", async () => {
      await Deno.writeTextFile(`${dst}/f.txt`, "different size");
      equal((await copyJson("--ignore-existing")).files_transferred, 0);
      equal(await Deno.readTextFile(`${dst}/f.txt`), "different size");
    });
  });
});

Deno.test("blit --dry-run changes nothing and says what it would do", async () => {
  await withTempDir(async (dir) => {
    await makeTree(`${dir}/src`, { "new.txt": "n", "d/x": "x" });
    await makeTree(`${dir}/dst`, { "old.txt": "o" });
    const before = await readTree(`${dir}/dst`);
    const r = await runBlit(["mirror", `${dir}/src/`, `${dir}/dst`, "-n"]);
    equal(r.code, 0, r.stderr);
    match(r.stdout, /would copy new\.txt/);
    match(r.stdout, /would delete old\.txt/);
    deepStrictEqual(await readTree(`${dir}/dst`), before);
    const m = await runBlit(["move", `${dir}/src/`, `${dir}/dst`, "--dry-run", "--json"]);
    equal(m.code, 0, m.stderr);
    ok(await Deno.readTextFile(`${dir}/src/new.txt`), "dry-run move keeps sources");
  });
});

Deno.test("blit filters: exclude by name at any depth, excluded dirs, include first", async () => {
  await withTempDir(async (dir) => {
    await makeTree(`${dir}/src`, {
      "a.log": "1",
      "x/b.log": "2",
      "x/keep.txt": "3",
      "cache/big.bin": "4",
      "logs/important.log": "5",
    });
    const r = await runBlit([
      "copy",
      `${dir}/src/`,
      `${dir}/dst`,
      "--exclude",
      "cache/",
      "--include",
      "important.log",
      "--exclude",
      "*.log",
    ]);
    equal(r.code, 0, r.stderr);
    deepStrictEqual(Object.keys(await readTree(`${dir}/dst`)), [
      "logs",
      "logs/important.log",
      "x",
      "x/keep.txt",
    ]);
  });
});

Deno.test("blit: interrupted writes never leave a truncated file, and temps are cleaned", async () => {
  await withTempDir(async (dir) => {
    const big = new Uint8Array(64 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    await Deno.mkdir(`${dir}/src`);
    for (let i = 0; i < 8; i++) await Deno.writeFile(`${dir}/src/big${i}`, big);
    // A stale temporary from an "earlier interrupted run" (unlocked, and quiet for a minute).
    await makeTree(`${dir}/dst`, { ".blit-tmp-999-1-big0": "partial" });
    await setMtime(`${dir}/dst/.blit-tmp-999-1-big0`, Date.now() - 60_000);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../cli/main.ts", import.meta.url).pathname,
        "copy",
        `${dir}/src/`,
        `${dir}/dst`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await new Promise((r) => setTimeout(r, 400));
    try {
      child.kill("SIGKILL");
    } catch { /* already done */ }
    await child.status;
    for await (const e of Deno.readDir(`${dir}/dst`)) {
      // Temporaries, and partial files (kept for the next run to resume).
      if (e.name.startsWith(".blit-")) continue;
      equal((await Deno.stat(`${dir}/dst/${e.name}`)).size, big.length, `${e.name} is complete`);
    }
    const r = await runBlit(["copy", `${dir}/src/`, `${dir}/dst`]);
    equal(r.code, 0, r.stderr);
    const names = [];
    for await (const e of Deno.readDir(`${dir}/dst`)) names.push(e.name);
    deepStrictEqual(names.sort(), ["big0", "big1", "big2", "big3", "big4", "big5", "big6", "big7"]);
  });
});

Deno.test("blit: bad input gets one clear line and exit 1", async (t) => {
  await withTempDir(async (dir) => {
    await makeTree(`${dir}/src`, { "f": "x" });
    const cases: [string, string[], RegExp][] = [
      [
        "unknown flag",
        ["copy", "--frobnicate", `${dir}/src`, `${dir}/d`],
        /unknown option "--frobnicate"/,
      ],
      ["missing SRC", ["copy", `${dir}/nope`, `${dir}/d`], /Cannot find source/],
      ["missing DST", ["copy", `${dir}/src`], /expected SRC and DST/],
      ["SRC == DST", ["mirror", `${dir}/src/`, `${dir}/src`], /onto itself/],
      ["DST inside SRC", ["copy", `${dir}/src/`, `${dir}/src/inner`], /inside the source/],
      ["unknown command", ["frob"], /unknown command/],
      [
        "conflicting modes",
        ["copy", "-c", "--size-only", `${dir}/src`, `${dir}/d`],
        /pick one compare mode/,
      ],
      ["contents of a file", ["copy", `${dir}/src/f/`, `${dir}/d`], /not a directory/],
    ];
    for (const [name, args, pattern] of cases) {
      await t.step(name, async () => {
        const r = await runBlit(args);
        equal(r.code, 1, r.stderr);
        match(r.stderr, pattern);
        equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assertNoStack(r.stderr);
      });
    }
  });
});

Deno.test("blit --progress draws a progress line on stderr", async () => {
  await withTempDir(async (dir) => {
    const data = new Uint8Array(32 * 1024 * 1024);
    await Deno.mkdir(`${dir}/src`);
    for (let i = 0; i < 6; i++) await Deno.writeFile(`${dir}/src/f${i}`, data);
    const r = await runBlit(["copy", `${dir}/src/`, `${dir}/dst`, "--progress", "--workers", "1"]);
    equal(r.code, 0, r.stderr);
    match(r.stderr, /files .*ETA/);
  });
});
